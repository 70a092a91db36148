"""Where probes run: a small probe process (default) or threads of the agent process.

Timing happens inside `measure`, in the thread that does the blocking socket call;
the separate process also keeps the event loop's load (publishing, spool writes)
from delaying the wake-up of a timed thread through the GIL (DESIGN.md §4).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from agent import probes
from wire.logs import fields

log = logging.getLogger("dui.agent.worker")

MAX_CONCURRENT_PROBES = 16


class ProbeRunner(Protocol):
    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]: ...


def _safe_measure(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return probes.measure(kind, params)
    except Exception as exc:  # a probe bug must cost one result, not the agent
        return {"ts": time.time(), "success": False, "error": "internal", "detail": repr(exc)}


def _timeout_result() -> dict[str, Any]:
    return {"ts": time.time(), "success": False, "error": "timeout"}


class ThreadRunner:
    """Probes in threads of this process: fine for `check` and idle loops."""

    async def __aenter__(self) -> ThreadRunner:
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT_PROBES, thread_name_prefix="probe")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, _safe_measure, kind, params)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return _timeout_result()


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """Body of the probe process: run requests in a thread pool, answer by id."""
    send_lock = threading.Lock()
    pool = ThreadPoolExecutor(MAX_CONCURRENT_PROBES, thread_name_prefix="probe")

    def work(request_id: int, kind: str, params: dict[str, Any]) -> None:
        answer = _safe_measure(kind, params)
        with send_lock, contextlib.suppress(OSError):
            conn.send((request_id, answer))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        pool.submit(work, *message)
    pool.shutdown(wait=False, cancel_futures=True)


class ProcessRunner:
    """One probe process with a thread pool, fed over a pipe; restarted if it dies."""

    def __init__(self) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._lock = threading.Lock()

    async def __aenter__(self) -> ProcessRunner:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._stop)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(child,), name="dui-agent-probes", daemon=True)
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent
        threading.Thread(
            target=self._read, args=(parent,), name="probe-reader", daemon=True
        ).start()
        log.info("probe process started", extra=fields(pid=proc.pid))

    def _stop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(None)
        if self._proc is not None:
            self._proc.join(5)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        if conn is not None:
            conn.close()
        self._proc = None

    def _read(self, conn: multiprocessing.connection.Connection) -> None:
        while True:
            try:
                request_id, answer = conn.recv()
            except (EOFError, OSError):
                break
            self._loop.call_soon_threadsafe(self._resolve, request_id, answer)
        self._loop.call_soon_threadsafe(self._lost, conn)

    def _resolve(self, request_id: int, answer: dict[str, Any]) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(answer)

    def _lost(self, conn: multiprocessing.connection.Connection) -> None:
        if conn is not self._conn:
            return
        log.warning("probe process exited", extra=fields(pid=self.pid))
        for future in self._pending.values():
            if not future.done():
                future.set_result({"success": False, "error": "internal"})
        self._pending.clear()
        self._conn = None

    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        if self._conn is None:
            await asyncio.to_thread(self._stop)
            await asyncio.to_thread(self._start)
        assert self._conn is not None
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[request_id] = future
        try:
            self._conn.send((request_id, kind, params))
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return _timeout_result()
        except OSError:
            return {"success": False, "error": "internal"}
        finally:
            self._pending.pop(request_id, None)


def make_runner(kind: str) -> ThreadRunner | ProcessRunner:
    return ProcessRunner() if kind == "process" else ThreadRunner()
