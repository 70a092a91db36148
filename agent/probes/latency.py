"""latency probe: N round trips to a host by TCP connect or unprivileged ICMP echo.

TCP: the time of the three-way handshake; a RST is a reply too (the path works).
ICMP: Linux datagram ICMP sockets, allowed where net.ipv4.ping_group_range
includes the agent's group. Jitter is RFC 3550 style: the mean absolute
difference between consecutive round trips.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from typing import Any

from agent.platform import default_gateway
from agent.probes._common import (
    NS,
    getaddrinfo_within,
    kernel_rtt,
    result,
    timed_turn,
    unresolved,
)

Sample = tuple[float | None, str | None, float | None]  # rtt, error, kernel rtt


def _tcp_once(family: int, addr: tuple, timeout: float) -> Sample:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        t0 = time.perf_counter_ns()
        try:
            sock.connect(addr)
        except ConnectionRefusedError:
            # A RST came back: the round trip happened (the kernel keeps no RTT).
            return (time.perf_counter_ns() - t0) * NS, None, None
        except TimeoutError:
            return None, "timeout", None
        except OSError:
            return None, "connect", None
        rtt = (time.perf_counter_ns() - t0) * NS
        return rtt, None, kernel_rtt(sock)
    finally:
        sock.close()


def icmp_permitted(family: int = socket.AF_INET) -> bool:
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    try:
        socket.socket(family, socket.SOCK_DGRAM, proto).close()
        return True
    except (PermissionError, OSError):
        return False


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _icmp_once(sock: socket.socket, family: int, addr: tuple, seq: int, timeout: float) -> Sample:
    echo_type = 8 if family == socket.AF_INET else 128
    payload = os.urandom(16)
    header = struct.pack("!BBHHH", echo_type, 0, 0, 0, seq)
    packet = struct.pack("!BBHHH", echo_type, 0, _checksum(header + payload), 0, seq) + payload
    sock.settimeout(timeout)
    t0 = time.perf_counter_ns()
    sock.sendto(packet, addr)
    end = t0 + int(timeout * 1e9)
    while True:
        left = (end - time.perf_counter_ns()) * NS
        if left <= 0:
            return None, "timeout", None
        sock.settimeout(left)
        try:
            data = sock.recv(2048)
        except TimeoutError:
            return None, "timeout", None
        except OSError:
            return None, "connect", None
        t1 = time.perf_counter_ns()
        # Datagram ICMP sockets deliver the ICMP message without the IP header; the
        # kernel filters on our identifier. Match our sequence and payload.
        same_seq = len(data) >= 8 + len(payload) and struct.unpack("!H", data[6:8])[0] == seq
        if same_seq and data[8 : 8 + len(payload)] == payload:
            return (t1 - t0) * NS, None, None


def summarize(rtts: list[float], sent: int, kernel: list[float] | None = None) -> dict[str, Any]:
    """min/avg/max, jitter (mean |Δ| of consecutive RTTs) and loss of a run; the
    kernel's min/avg/max beside them when the OS gave it."""
    received = len(rtts)
    fields: dict[str, Any] = {
        "sent": sent,
        "received": received,
        "loss_ratio": (sent - received) / sent if sent else 1.0,
    }
    if rtts:
        fields["rtt_seconds"] = {"min": min(rtts), "avg": sum(rtts) / received, "max": max(rtts)}
        diffs = [abs(b - a) for a, b in itertools.pairwise(rtts)]
        fields["jitter_seconds"] = sum(diffs) / len(diffs) if diffs else 0.0
    if kernel:
        avg = sum(kernel) / len(kernel)
        fields["kernel_rtt_seconds"] = {"min": min(kernel), "avg": avg, "max": max(kernel)}
    return fields


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    host: str = params["host"]
    method: str = params.get("method", "tcp")
    samples: int = params.get("samples", 10)
    timeout: float = params.get("timeout", 2.0)
    spacing: float = params.get("spacing", 0.1)
    if host == "auto":
        gateway = default_gateway()
        if gateway is None:
            return result(
                ts,
                start,
                False,
                "gateway",
                method=method if method != "auto" else None,
                error_detail="no default gateway found in the routing table",
            )
        host = gateway
    try:
        infos, _ = getaddrinfo_within(host, params.get("port", 443), timeout)
    except TimeoutError as exc:
        return result(ts, start, False, "timeout", error_detail=str(exc))
    except (socket.gaierror, UnicodeError) as exc:
        return result(ts, start, False, "dns", error_detail=unresolved(host, exc))
    family, _, _, _, addr = infos[0]
    if method == "auto":
        method = "icmp" if icmp_permitted(family) else "tcp"
    icmp_sock = None
    if method == "icmp":
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        try:
            icmp_sock = socket.socket(family, socket.SOCK_DGRAM, proto)
        except OSError:
            why = "ICMP echo sockets not permitted: net.ipv4.ping_group_range excludes the agent"
            return result(ts, start, False, "icmp", method="icmp", error_detail=why)
    rtts: list[float] = []
    kernel: list[float] = []
    errors: list[str] = []
    try:
        for i in range(samples):
            if i:
                time.sleep(spacing)  # outside the turn: other probes time meanwhile
            with timed_turn():  # per sample, so the turn is never held across the spacing
                if icmp_sock is not None:
                    rtt, error, k = _icmp_once(icmp_sock, family, (addr[0], 0), i + 1, timeout)
                else:
                    rtt, error, k = _tcp_once(family, addr, timeout)
            if rtt is None:
                errors.append(error or "timeout")
            else:
                rtts.append(rtt)
            if k is not None:
                kernel.append(k)
    finally:
        if icmp_sock is not None:
            icmp_sock.close()
    fields = {"method": method, **summarize(rtts, samples, kernel)}
    if not rtts:
        return result(ts, start, False, max(set(errors), key=errors.count), **fields)
    return result(ts, start, True, None, **fields)
