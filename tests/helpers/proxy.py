"""A small forward HTTP proxy on loopback: CONNECT tunnels and absolute-URI requests.

Only forwards to loopback; records what it saw; can refuse (403) or require a
password (407), to test `error: proxy`.
"""

from __future__ import annotations

import base64
import select
import socket
import socketserver
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from tests.helpers.servers import serving


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    refuse = False
    credentials: str | None = None  # "user:password"
    seen: list[str]


class _Handler(socketserver.StreamRequestHandler):
    server: _Proxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 65536:
            chunk = self.connection.recv(4096)
            if not chunk:
                return
            head += chunk
        header, _, rest = head.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        pairs = (ln.partition(":") for ln in lines[1:])
        fields = {k.strip().lower(): v.strip() for k, _, v in pairs}
        self.server.seen.append(f"{method} {target}")
        if self.server.refuse:
            self.connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        if self.server.credentials:
            expected = "Basic " + base64.b64encode(self.server.credentials.encode()).decode()
            if fields.get("proxy-authorization") != expected:
                self.connection.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                )
                return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            self.connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
        else:
            parts = urlsplit(target)
            upstream = socket.create_connection((parts.hostname, parts.port or 80), timeout=5)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            upstream.sendall(
                f"{method} {path} HTTP/1.1\r\n".encode()
                + b"\r\n".join(
                    ln.encode("latin-1") for ln in lines[1:] if not ln.lower().startswith("proxy-")
                )
                + b"\r\n\r\n"
                + rest
            )
        assert upstream.getpeername()[0].startswith("127."), "the test proxy stays on loopback"
        self._pipe(upstream)

    def _pipe(self, upstream: socket.socket) -> None:
        sockets = [self.connection, upstream]
        try:
            for _ in range(100000):  # bounded: ends when either side closes
                readable, _, _ = select.select(sockets, [], [], 10)
                if not readable:
                    return
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)
        finally:
            upstream.close()


@contextmanager
def http_proxy(refuse: bool = False, credentials: str | None = None) -> Iterator[_Proxy]:
    server = _Proxy(("127.0.0.1", 0), _Handler)
    server.refuse, server.credentials, server.seen = refuse, credentials, []
    with serving(server):
        yield server


def proxy_url(server: _Proxy, credentials: str | None = None) -> str:
    auth = f"{credentials}@" if credentials else ""
    return f"http://{auth}127.0.0.1:{server.server_address[1]}"
