"""latency probe: TCP connect (RST counts), ICMP in a namespace of our own, jitter."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from agent.platform.linux import parse_route_table
from agent.platform.windows import parse_route_print
from agent.probes import measure
from agent.probes.latency import summarize
from tests.helpers.netns import netns_unavailable
from tests.helpers.servers import silent_server


def test_tcp_to_listening_port() -> None:
    with silent_server() as port:
        r = measure("latency", {"host": "127.0.0.1", "port": port, "samples": 5, "spacing": 0.01})
    assert r["success"] is True and r["method"] == "tcp"
    assert (r["sent"], r["received"], r["loss_ratio"]) == (5, 5, 0.0)
    rtt = r["rtt_seconds"]
    assert 0 < rtt["min"] <= rtt["avg"] <= rtt["max"] < 0.1
    assert r["jitter_seconds"] >= 0


def test_tcp_rst_counts_as_a_reply() -> None:
    with socket.socket() as sock:  # find a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = measure("latency", {"host": "127.0.0.1", "port": port, "samples": 3, "spacing": 0.0})
    assert r["success"] is True and r["received"] == 3


def test_full_accept_queue_is_loss_and_timeout() -> None:
    # A listener with a full backlog drops SYNs: the kernel answers nothing.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        r = measure(
            "latency",
            {"host": "127.0.0.1", "port": port, "samples": 2, "spacing": 0.0, "timeout": 0.3},
        )
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert (r["success"], r["error"], r["loss_ratio"]) == (False, "timeout", 1.0)
    assert "rtt_seconds" not in r


def test_unresolvable_host_is_dns_error() -> None:
    r = measure("latency", {"host": "nonexistent..invalid", "samples": 1})
    assert (r["success"], r["error"]) == (False, "dns")


def test_jitter_is_mean_absolute_difference_of_consecutive_rtts() -> None:
    fields = summarize([0.010, 0.014, 0.011, 0.011], sent=5)
    assert fields["jitter_seconds"] == pytest.approx((0.004 + 0.003 + 0.0) / 3)
    assert fields["rtt_seconds"] == pytest.approx({"min": 0.010, "avg": 0.0115, "max": 0.014})
    assert fields["loss_ratio"] == pytest.approx(0.2)
    assert summarize([0.01], sent=1)["jitter_seconds"] == 0.0
    assert "rtt_seconds" not in summarize([], sent=3)


def test_icmp_refused_without_permission_and_auto_falls_back_to_tcp() -> None:
    from agent.probes.latency import icmp_permitted

    if icmp_permitted():
        pytest.skip("ICMP sockets are permitted here; covered by the namespace test")
    with silent_server() as port:
        icmp = measure(
            "latency", {"host": "127.0.0.1", "port": port, "samples": 1, "method": "icmp"}
        )
        auto = measure(
            "latency", {"host": "127.0.0.1", "port": port, "samples": 1, "method": "auto"}
        )
    assert (icmp["success"], icmp["error"]) == (False, "icmp")
    assert (auto["success"], auto["method"]) == (True, "tcp")


ICMP_SCRIPT = """
import json
from agent.probes import measure
print(json.dumps([measure("latency", {"host": "127.0.0.1", "samples": 4, "spacing": 0.01,
                                      "method": m}) for m in ("icmp", "auto")]))
"""


def test_icmp_where_permitted() -> None:
    """In a namespace of our own we may widen ping_group_range: real ICMP echo."""
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    ns = "duiicmp"
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        setup = "ip link set lo up && sysctl -qw net.ipv4.ping_group_range='0 2147483647'"
        subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", setup], check=True)
        out = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", ICMP_SCRIPT],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    icmp, auto = json.loads(out)
    for r in (icmp, auto):
        assert r["success"] is True and r["method"] == "icmp"
        assert r["received"] == 4 and r["rtt_seconds"]["max"] < 0.1


LINUX_ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0
eth0\t00000000\tFE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""


def test_linux_default_gateway_lowest_metric() -> None:
    assert parse_route_table(LINUX_ROUTE) == "192.168.1.254"
    assert parse_route_table(LINUX_ROUTE.splitlines()[0]) is None


WINDOWS_ROUTE = """===========================================================================
Liste d'Interfaces
 12...00 15 5d 01 02 03 ......Intel(R) Ethernet Connection
===========================================================================

IPv4 Table de routage
===========================================================================
Itinéraires actifs :
Destination réseau    Masque réseau  Adr. passerelle   Adr. interface Métrique
          0.0.0.0          0.0.0.0      192.168.10.1    192.168.10.42     35
          0.0.0.0          0.0.0.0      10.20.0.1        10.20.0.17       25
          0.0.0.0          0.0.0.0         On-link       172.16.0.2        5
===========================================================================
Itinéraires persistants :
  Aucun
"""


def test_windows_default_gateway_from_route_print() -> None:
    assert parse_route_print(WINDOWS_ROUTE) == "10.20.0.1"
    assert parse_route_print("Itinéraires actifs :\nAucun\n") is None
