"""http probe: a DUI page timed in phases like blackbox_exporter.

resolve (getaddrinfo), connect (TCP handshake), tls (handshake), processing
(request sent → first byte of the response), transfer (first byte → end of the
capped body). Each phase is timed around the blocking socket call itself.
"""

from __future__ import annotations

import http.client
import io
import re
import select
import socket
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from agent.probes._common import NS, Deadline, result

USER_AGENT = "dui-agent"

# Keep-alive connections for `connection: reuse`, by target; the worker owns them.
_pool: dict[str, socket.socket] = {}
_pool_lock = threading.Lock()


class ProbeError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _PrefixedRaw(io.RawIOBase):
    """The socket's stream with the first byte (already read to time it) put back."""

    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._prefix = prefix
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = len(self._prefix)
            buffer[:n] = self._prefix
            self._prefix = b""
            return n
        return self._sock.recv_into(buffer)


class _PrefixedSocket:
    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._raw = _PrefixedRaw(prefix, sock)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._raw)

    def close(self) -> None:
        """The probe closes the real socket itself."""


def _tls_context(params: dict[str, Any]) -> ssl.SSLContext:
    if params.get("insecure_skip_verify"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=params.get("ca_file"))


def _issuer(cert: dict[str, Any]) -> str | None:
    fields = {k: v for rdn in cert.get("issuer", ()) for (k, v) in rdn}
    return fields.get("commonName") or fields.get("organizationName")


def _alive(sock: socket.socket) -> bool:
    """A kept connection is usable when the server has sent nothing (no close, no data)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _connect(host: str, port: int, https: bool, params: dict, deadline: Deadline, phases: dict):
    t0 = time.perf_counter_ns()
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise ProbeError("dns") from None
    phases["resolve"] = (time.perf_counter_ns() - t0) * NS
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.settimeout(deadline.remaining())
        t0 = time.perf_counter_ns()
        try:
            sock.connect(addr)
        except TimeoutError:
            raise
        except OSError:
            raise ProbeError("connect") from None
        phases["connect"] = (time.perf_counter_ns() - t0) * NS
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not https:
            return sock, None
        ctx = _tls_context(params)
        tls = ctx.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
        tls.settimeout(deadline.remaining())
        t0 = time.perf_counter_ns()
        try:
            tls.do_handshake()
        except TimeoutError:
            raise
        except (ssl.SSLError, ssl.CertificateError, ConnectionError):
            raise ProbeError("tls") from None
        phases["tls"] = (time.perf_counter_ns() - t0) * NS
        return tls, tls.getpeercert()
    except BaseException:
        sock.close()
        raise


def _exchange(sock, conn: http.client.HTTPConnection, params, deadline, phases):
    """Send the request and read the response; returns (response, body)."""
    conn.sock = sock
    conn.putrequest(params.get("method", "GET"), conn._dui_path, skip_accept_encoding=True)
    conn.putheader("User-Agent", USER_AGENT)
    conn.putheader("Accept", "*/*")
    if params.get("connection", "new") == "new":
        conn.putheader("Connection", "close")
    for name, value in params.get("headers", {}).items():
        conn.putheader(name, value)
    sock.settimeout(deadline.remaining())
    t0 = time.perf_counter_ns()
    conn.endheaders()
    # recv(1) returns at the first byte of application data (TLS records that carry
    # none, such as session tickets, are consumed inside it).
    first = sock.recv(1)
    t1 = time.perf_counter_ns()
    if not first:
        raise ConnectionResetError("connection closed before the response")
    phases["processing"] = (t1 - t0) * NS
    conn.sock = _PrefixedSocket(first, sock)
    sock.settimeout(deadline.remaining())
    try:
        response = conn.getresponse()
    except http.client.HTTPException:
        raise ProbeError("status") from None
    body = response.read(params.get("max_body", 2_000_000))
    phases["transfer"] = (time.perf_counter_ns() - t1) * NS
    return response, body


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    deadline = Deadline(params["timeout"])
    url = urlsplit(params["url"])
    https = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if https else 80)
    key = f"{params.get('key', '')}|{url.scheme}://{host}:{port}"
    reuse = params.get("connection", "new") == "reuse"
    phases: dict[str, float] = {}
    fields: dict[str, Any] = {"reused_connection": False, "phases": phases}
    sock = None
    try:
        with _pool_lock:
            kept = _pool.pop(key, None) if reuse else None
        if kept is not None and not _alive(kept):
            kept.close()
            kept = None
        if kept is not None:
            sock, cert = kept, None
            fields["reused_connection"] = True
            phases.update(resolve=0.0, connect=0.0, tls=0.0)
        else:
            sock, cert = _connect(host, port, https, params, deadline, phases)
        if cert:
            fields["tls_expiry_ts"] = ssl.cert_time_to_seconds(cert["notAfter"])
            fields["tls_issuer"] = _issuer(cert)
        conn = http.client.HTTPConnection(host, port)
        conn._dui_path = (url.path or "/") + (f"?{url.query}" if url.query else "")  # type: ignore[attr-defined]
        response, body = _exchange(sock, conn, params, deadline, phases)
        fields["status_code"] = response.status
        expected = params.get("expect_status") or range(200, 300)
        if response.status not in expected:
            return result(ts, start, False, "status", **fields)
        pattern = params.get("expect_regex")
        if pattern and not re.search(pattern, body.decode("utf-8", "replace")):
            return result(ts, start, False, "body", **fields)
        if reuse and not response.will_close and response.isclosed():
            with _pool_lock:
                _pool[key] = sock
            sock = None
        return result(ts, start, True, None, **fields)
    except ProbeError as exc:
        return result(ts, start, False, exc.reason, **fields)
    except TimeoutError:
        return result(ts, start, False, "timeout", **fields)
    except OSError:
        return result(ts, start, False, "connect", **fields)
    finally:
        if sock is not None:
            sock.close()
