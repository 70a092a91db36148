"""bandwidth probe: download and upload throughput against the collector's /speedtest.

Several parallel streams start together; each records (time, bytes) as data moves
through its socket. Throughput is counted in a steady window: from the end of a
warm-up (the first quarter, TCP slow start) to the moment the first stream ends,
when every stream was still busy. A window shorter than MIN_WINDOW_SECONDS or
MIN_WINDOW_BYTES means nothing (a fast link finishes before the threads' scheduling
noise averages out): the direction is tried again with more bytes, as many as the
first try suggests, until the window is long enough or the byte cap (`max_bytes`,
half for each direction, all tries included) is spent; then the run fails with a
detail saying what to raise, rather than report a rate. A time cap (`timeout`, half
for each direction) bounds each direction; a 429 from the collector (another agent
of the site is testing) skips the run.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import struct
import sys
import threading
import time
from typing import Any, NamedTuple
from urllib.parse import urlencode, urlsplit

from agent.probes._client import Connection, Endpoint, ProbeError, reason_of, resolve_proxy
from agent.probes._common import Deadline, result
from runtime.secrets import SecretError, read_secret

CHUNK = 16 * 1024
WARMUP_FRACTION = 0.25
# A steady window must span many scheduler ticks and GIL switch intervals (5 ms: one
# stalled switch at each end costs ≤ 10 %), and more bytes than a few congestion windows.
MIN_WINDOW_SECONDS = 0.1
MIN_WINDOW_BYTES = 256 * 1024
FIRST_TRY_BYTES = 2_000_000  # per direction: a slow link's answer without spending the cap
GROWTH_MARGIN = 2.0  # the next try aims at this multiple of the bytes the window needs
_BLOCK = bytes((i * 7919 + (i >> 8) * 31) % 251 for i in range(CHUNK))  # filler for uploads

_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None
# Where TCP_INFO is missing, a small send buffer keeps send progress close to the wire.
UPLOAD_SNDBUF = None if _TCP_INFO is not None else 64 * 1024

Marks = list[tuple[int, int]]  # (perf_counter_ns, bytes moved since the previous mark)


class Window(NamedTuple):  # not a dataclass, which imports inspect (≈ 1 MB)
    """The steady part of a parallel transfer: how long it lasted, what moved in it."""

    seconds: float
    bytes: int

    @property
    def rate(self) -> float:
        return self.bytes / self.seconds

    def long_enough(self) -> bool:
        return self.seconds >= MIN_WINDOW_SECONDS and self.bytes >= MIN_WINDOW_BYTES


def _short(window: Window | None) -> str:
    """A too-short window against both minimums, in words."""
    shown = f"{window.seconds * 1e3:.0f} ms, {window.bytes / 1024:.0f} KiB" if window else "none"
    return (
        f"steady window {shown} < the minimum {MIN_WINDOW_SECONDS * 1e3:g} ms "
        f"and {MIN_WINDOW_BYTES // 1024} KiB"
    )


def steady_window(
    start_ns: int, streams: list[Marks], warmup: float = WARMUP_FRACTION
) -> Window | None:
    """The window after the warm-up until the first stream ends; None without one."""
    ends = [marks[-1][0] for marks in streams if marks]
    if len(ends) != len(streams) or not ends:
        return None
    end = min(ends)
    warm = start_ns + warmup * (end - start_ns)
    if end <= warm:
        return None
    moved = sum(n for marks in streams for (t, n) in marks if warm < t <= end)
    return Window((end - warm) * 1e-9, moved)


def throughput(
    start_ns: int, streams: list[Marks], warmup: float = WARMUP_FRACTION
) -> float | None:
    """Bytes per second over the steady window of a parallel transfer."""
    window = steady_window(start_ns, streams, warmup)
    return window.rate if window is not None else None


def _bytes_acked(sock: Any, sent: int) -> int:
    """Bytes the peer acknowledged (Linux TCP_INFO tcpi_bytes_acked), else bytes sent."""
    if _TCP_INFO is None:
        return sent
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 136)
    except (OSError, ValueError):
        return sent
    if len(raw) < 128:
        return sent
    # tcpi_bytes_acked counts the SYN as one byte.
    return max(0, min(sent, struct.unpack_from("=Q", raw, 120)[0] - 1))


def _upload(sock: Any, nbytes: int, stop_ns: int, marks: Marks) -> bool:
    """Send the body, marking what the peer acknowledged at least every 10 ms (not what
    the send buffer took in); True when all of it was sent and acknowledged."""
    sent = acked = 0
    while time.perf_counter_ns() < stop_ns:
        if sent < nbytes:
            _, writable, _ = select.select([], [sock], [], 0.01)
            if writable:
                sent += sock.send(_BLOCK[: min(CHUNK, nbytes - sent)])
            replied = False
        else:
            replied = bool(select.select([sock], [], [], 0.01)[0])
        now_acked = _bytes_acked(sock, sent)
        marks.append((time.perf_counter_ns(), now_acked - acked))
        acked = now_acked
        if sent >= nbytes and (acked >= sent or replied):
            if acked < sent:
                marks.append((time.perf_counter_ns(), sent - acked))
            return True
    return False


class _Busy(Exception):
    def __init__(self, retry_after: str | None) -> None:
        self.retry_after = retry_after


def _token(params: dict[str, Any]) -> str | None:
    path = params.get("token_file")
    if not path:
        return None
    try:
        return read_secret(path)
    except SecretError:
        raise ProbeError("config") from None


def _stream(
    direction: str,
    url: str,
    nbytes: int,
    params: dict[str, Any],
    stop_ns: int,
    barrier: threading.Barrier,
    marks: Marks,
    errors: list[BaseException],
) -> None:
    conn: Connection | None = None
    try:
        endpoint = Endpoint.of(url)
        deadline = Deadline(max(0.001, (stop_ns - time.perf_counter_ns()) * 1e-9))
        conn = Connection.open(
            endpoint, resolve_proxy(params.get("proxy", "none"), url), params, deadline, {}
        )
        http_conn = http.client.HTTPConnection(endpoint.host, endpoint.port)
        http_conn.sock = conn.sock
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}"
        if conn.proxy is not None and not endpoint.https:
            target = url
        http_conn.putrequest(
            "GET" if direction == "download" else "POST", target, skip_accept_encoding=True
        )
        token = _token(params)
        if token:
            http_conn.putheader("Authorization", f"Bearer {token}")
        if direction == "upload":
            if UPLOAD_SNDBUF:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, UPLOAD_SNDBUF)
            http_conn.putheader("Content-Type", "application/octet-stream")
            http_conn.putheader("Content-Length", str(nbytes))
        barrier.wait(deadline.remaining())
        conn.sock.settimeout(max(0.001, (stop_ns - time.perf_counter_ns()) * 1e-9))
        http_conn.endheaders()
        if direction == "upload":
            if not _upload(conn.sock, nbytes, stop_ns, marks):
                return  # time cap: the window ends here; the server sees a short body
            response = http_conn.getresponse()
            if response.status == 429:
                raise _Busy(response.getheader("Retry-After"))
            if response.status != 200:
                raise ProbeError("status")
            if json.loads(response.read() or b"{}").get("bytes") != nbytes:
                raise ProbeError("body")
            return
        response = http_conn.getresponse()
        if response.status == 429:
            raise _Busy(response.getheader("Retry-After"))
        if response.status != 200:
            raise ProbeError("status")
        while time.perf_counter_ns() < stop_ns:
            data = response.read1(CHUNK)
            if not data:
                break
            marks.append((time.perf_counter_ns(), len(data)))
    except TimeoutError:
        if not marks:
            errors.append(TimeoutError())
    except threading.BrokenBarrierError:
        pass  # another stream failed before the start; its error is reported
    except BaseException as exc:
        errors.append(exc)
        barrier.abort()
    finally:
        if conn is not None:
            conn.close()


class ShortWindow(Exception):
    """No steady window long enough within the byte or time cap: the wire error and why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _transfer(
    direction: str, params: dict[str, Any], per_stream: int, stop_ns: int
) -> Window | None:
    """One try: `streams` parallel requests of `per_stream` bytes each."""
    streams = params.get("streams", 4)
    query = {"site": params.get("site", ""), "agent": params.get("agent", "")}
    if direction == "download":
        query["bytes"] = per_stream
    url = f"{params['url'].rstrip('/')}/{direction}?{urlencode(query)}"
    # The start is stamped by the barrier itself, before any stream is released: a stream
    # on a fast link can finish before this thread would read the clock after its wait.
    started: list[int] = []
    barrier = threading.Barrier(streams + 1, action=lambda: started.append(time.perf_counter_ns()))
    marks: list[Marks] = [[] for _ in range(streams)]
    errors: list[BaseException] = []
    threads = [
        threading.Thread(
            target=_stream,
            args=(direction, url, per_stream, params, stop_ns, barrier, marks[i], errors),
            daemon=True,
        )
        for i in range(streams)
    ]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait(max(0.001, (stop_ns - time.perf_counter_ns()) * 1e-9))
    start_ns = started[0] if started else time.perf_counter_ns()
    for thread in threads:
        thread.join(max(0.0, (stop_ns - time.perf_counter_ns()) * 1e-9) + 5)
    if errors:
        raise errors[0]
    return steady_window(start_ns, marks)


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:g} MB"


def _direction(direction: str, params: dict[str, Any], stop_ns: int) -> float:
    """Bytes per second of one direction, trying again with more bytes while the
    steady window is too short and the direction's half of max_bytes allows."""
    streams = params.get("streams", 4)
    max_bytes = params.get("max_bytes", 100_000_000)
    budget = max(CHUNK * streams, max_bytes // 2)
    want = min(budget, FIRST_TRY_BYTES)
    spent = 0
    window: Window | None = None
    while True:
        per_stream = max(CHUNK, want // streams)
        try:
            window = _transfer(direction, params, per_stream, stop_ns)
        except TimeoutError:
            raise ShortWindow(
                "timeout",
                f"{direction}: a stream moved no data within the time cap "
                f"{params['timeout'] / 2:g} s: the link is too slow, raise timeout",
            ) from None
        spent += per_stream * streams
        if window is not None and window.long_enough():
            return window.rate
        if time.perf_counter_ns() >= stop_ns:
            raise ShortWindow(
                "timeout",
                f"{direction}: {_short(window)} within the time cap "
                f"{params['timeout'] / 2:g} s: the link is too slow, raise timeout",
            )
        left = budget - spent
        if left < CHUNK * streams:
            raise ShortWindow(
                "config",
                f"{direction}: {_short(window)} at max_bytes {_mb(max_bytes)}: raise max_bytes",
            )
        # Bytes scale with the window's length at a steady rate; aim past the minimum.
        if window is None or window.seconds <= 0 or window.bytes <= 0:
            grow = 8.0
        else:
            grow = GROWTH_MARGIN * max(
                MIN_WINDOW_SECONDS / window.seconds, MIN_WINDOW_BYTES / window.bytes
            )
        want = max(2 * want, int(want * grow))
        if want > left / 2:  # a try between half and all of what is left: spend it all
            want = left


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    half = int(params["timeout"] * 1e9 / 2)
    fields: dict[str, Any] = {}
    try:
        fields["download_bytes_per_second"] = _direction(
            "download", params, time.perf_counter_ns() + half
        )
        fields["upload_bytes_per_second"] = _direction(
            "upload", params, time.perf_counter_ns() + half
        )
    except _Busy as busy:
        return {"ts": ts, "skipped": "busy", "retry_after": busy.retry_after}
    except ShortWindow as short:
        return result(ts, start, False, short.reason, error_detail=short.detail, **fields)
    except (ProbeError, OSError) as exc:
        return result(ts, start, False, reason_of(exc), **fields)
    return result(ts, start, True, None, **fields)
