"""A loopback implementation of the collector's /speedtest API (docs/configuration.md), for the
bandwidth probe's tests until the collector serves it. Optional pacing (the upload is
paced by reading, so TCP flow control slows the sender).

GET  /speedtest/download?bytes=N&site=S&agent=A  → N incompressible bytes
POST /speedtest/upload?site=S&agent=A           → reads and discards, {"bytes": N}
Bearer token; while another agent of the same site is testing: 429 + Retry-After.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.helpers.servers import serving

BLOCK = os.urandom(1 << 20)


class SpeedtestServer(ThreadingHTTPServer):
    daemon_threads = True
    token = "speedtest-token"
    rate: float | None = None  # bytes per second, shared by all streams and both directions
    max_bytes = 100_000_000
    hold = 2.0  # a site's test slot stays with its agent this long after its last request

    def handle_error(self, request, client_address) -> None:
        """A client that stops at its time cap closes mid-transfer: not an error."""

    def setup_state(self) -> None:
        self.lock = threading.Lock()
        self.slots: dict[str, tuple[str, float]] = {}
        self.budget_at = time.monotonic()
        self.requests: list[tuple[str, str, str]] = []
        # (path, monotonic start, monotonic end, bytes): the rate seen from this side
        self.transfers: list[tuple[str, float, float, int]] = []

    def claim(self, site: str, agent: str) -> bool:
        with self.lock:
            holder = self.slots.get(site)
            now = time.monotonic()
            if holder and holder[0] != agent and now - holder[1] < self.hold:
                return False
            self.slots[site] = (agent, now)
            return True

    def pace(self, nbytes: int) -> None:
        if not self.rate:
            return
        with self.lock:
            self.budget_at = max(self.budget_at, time.monotonic()) + nbytes / self.rate
            due = self.budget_at
        time.sleep(max(0.0, due - time.monotonic()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SpeedtestServer

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _admit(self) -> dict[str, str] | None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._reply(401, b'{"error": "token"}')
            return None
        if not self.server.claim(query.get("site", ""), query.get("agent", "")):
            self._reply(429, b'{"error": "busy"}', {"Retry-After": "60"})
            return None
        self.server.requests.append((parts.path, query.get("site", ""), query.get("agent", "")))
        return query

    def do_GET(self) -> None:
        query = self._admit()
        if query is None:
            return
        nbytes = min(int(query.get("bytes", "0")), self.server.max_bytes)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(nbytes))
        self.end_headers()
        left = nbytes
        started = time.monotonic()
        while left > 0:
            piece = BLOCK[: min(left, 65536)]
            self.server.pace(len(piece))
            self.wfile.write(piece)
            left -= len(piece)
        self.server.transfers.append(("download", started, time.monotonic(), nbytes))

    def do_POST(self) -> None:
        if self._admit() is None:
            return
        left = int(self.headers.get("Content-Length", "0"))
        received = 0
        started = time.monotonic()
        while left > 0:
            data = self.rfile.read(min(left, 65536))
            if not data:
                break
            self.server.pace(len(data))
            received += len(data)
            left -= len(data)
        self.server.transfers.append(("upload", started, time.monotonic(), received))
        self._reply(200, json.dumps({"bytes": received}).encode())

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def speedtest_server(host: str = "127.0.0.1", port: int = 0, **attrs) -> Iterator[SpeedtestServer]:
    server = SpeedtestServer((host, port), Handler)
    server.setup_state()
    for name, value in attrs.items():
        setattr(server, name, value)
    if server.rate:
        # A paced upload must be paced on the wire: with loopback's large receive buffers
        # the kernel would acknowledge megabytes the handler has not read yet.
        server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    with serving(server):
        yield server


def serve_forever() -> None:
    """`python -m tests.helpers.speedtest HOST PORT` for runs across delaywire."""
    import sys

    with speedtest_server(sys.argv[1], int(sys.argv[2])):
        print("ready", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    serve_forever()
