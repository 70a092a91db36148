"""Helpers shared by the probe modules: deadlines, result dicts, the timed turn and
the kernel's RTT.

Threads of one Python process wake up behind each other's GIL hold, so two probes
timing at once skew each other by milliseconds. Every timed socket operation runs
inside `timed_turn`: one timed section at a time in the process, the others queue
before their clock starts. The time spent queued counts neither against the
probe's timeout nor in its `ts` or `duration_seconds`.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

NS = 1e-9
# Python's default switch interval (5 ms) is how long a thread whose socket call
# returned may wait for the GIL; the probe process lowers it to this.
SWITCH_INTERVAL = 0.0001

_TCPI_RTT = 68  # offset of tcpi_rtt (µs) in Linux struct tcp_info
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform == "linux" else None


class _Turn:
    """A first-come, first-served lock: a probe waits at most one section of each other."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0
        self._serving = 0

    def acquire(self) -> None:
        with self._cond:
            ticket = self._next
            self._next += 1
            self._cond.wait_for(lambda: self._serving == ticket)

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


_turn = _Turn()
_queued = threading.local()  # per probe thread: .first and .total wait, in ns


def begin_probe() -> None:
    """Forget the queue waits of this thread's previous probe (probes.measure calls it)."""
    _queued.first = None
    _queued.total = 0


def queued_ns() -> int:
    """How long this thread's probe has waited for the turn so far."""
    return getattr(_queued, "total", 0)


class Deadline:
    """A probe's time budget on the monotonic clock; paused while queued for a turn."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter_ns() + int(seconds * 1e9)

    def remaining(self) -> float:
        left = (self.end - time.perf_counter_ns()) * NS
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        return left


@contextlib.contextmanager
def timed_turn(deadline: Deadline | None = None) -> Iterator[None]:
    """Hold the process's one timed turn; the wait extends `deadline`."""
    t0 = time.perf_counter_ns()
    _turn.acquire()
    waited = time.perf_counter_ns() - t0
    if deadline is not None:
        deadline.end += waited
    if getattr(_queued, "first", None) is None:
        _queued.first = waited
    _queued.total = getattr(_queued, "total", 0) + waited
    try:
        yield
    finally:
        _turn.release()


def kernel_rtt(sock: socket.socket) -> float | None:
    """The kernel's smoothed RTT of a connected TCP socket (Linux TCP_INFO tcpi_rtt,
    µs resolution; right after the handshake, the handshake's own round trip), or
    None where the OS does not give it."""
    if _TCP_INFO is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 104)
    except OSError:
        return None
    if len(info) < _TCPI_RTT + 4:
        return None
    (rtt_us,) = struct.unpack_from("I", info, _TCPI_RTT)
    return rtt_us * 1e-6 if rtt_us else None


def getaddrinfo_within(host: str, port: int | None, seconds: float) -> tuple[list, float]:
    """getaddrinfo bounded in time, and how long it took. It cannot be interrupted, so
    it runs in a daemon thread we stop waiting for: a hung resolver must not hold the
    timed turn (or the probe) past the probe's timeout. Raises TimeoutError, or the
    resolver's socket.gaierror / UnicodeError."""
    box: dict[str, Any] = {}

    def resolve() -> None:
        t0 = time.perf_counter_ns()
        try:
            box["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            box["error"] = exc
        box["seconds"] = (time.perf_counter_ns() - t0) * NS

    thread = threading.Thread(target=resolve, name="resolve", daemon=True)
    thread.start()
    thread.join(max(0.0, seconds))
    if thread.is_alive():
        raise TimeoutError(f"the resolver gave no answer for {host} within {seconds:.3g} s")
    if "error" in box:
        raise box["error"]
    return box["infos"], box["seconds"]


def unresolved(host: str, exc: BaseException, what: str = "") -> str:
    """Why `host` did not resolve: the resolver's own words, or why it could not be asked."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {what}{host}: {exc.strerror or exc}"
    return f"cannot resolve {what}{host}: not a valid host name (a label empty or over 63)"


def result(ts: float, start_ns: int, success: bool, error: str | None, **fields: Any) -> dict:
    """A result dict; `ts` and `duration_seconds` leave out the time spent queued."""
    first = getattr(_queued, "first", None) or 0
    total = queued_ns()
    return {
        "ts": ts + first * NS,
        "success": success,
        "duration_seconds": (time.perf_counter_ns() - start_ns - total) * NS,
        "error": error,
        **fields,
    }
