"""Where probes run: a small probe process (default) or threads of the agent process.

Timing happens inside `measure`, in the thread that does the blocking socket call;
the separate process also keeps the event loop's load (publishing, spool writes)
from delaying the wake-up of a timed thread through the GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, Protocol

from agent.probe_process import MAX_CONCURRENT_PROBES, safe_measure
from agent.probes._common import SWITCH_INTERVAL
from runtime.logs import fields

log = logging.getLogger("dui.agent.worker")


class ProbeRunner(Protocol):
    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]: ...


def _timeout_result() -> dict[str, Any]:
    return {"ts": time.time(), "success": False, "error": "timeout"}


class ThreadRunner:
    """Probes in threads of this process: fine for `check` and idle loops."""

    async def __aenter__(self) -> ThreadRunner:
        self._pool = ThreadPoolExecutor(MAX_CONCURRENT_PROBES, thread_name_prefix="probe")
        # The event loop shares the GIL with the timed threads: bound their wake-up.
        self._switch = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        sys.setswitchinterval(self._switch)

    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, safe_measure, kind, params)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return _timeout_result()


def probe_process_command() -> list[str]:
    if getattr(sys, "frozen", False):  # single-file build: the executable serves both roles
        return [sys.executable, "_probe-process"]
    # -I: no PYTHON* variables, user site or working directory on the path; this tree
    # first. Not -S: the opt-in usage probe and Windows still need psutil.
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    boot = f"import sys; sys.path.insert(0, {root!r}); from agent.probe_process import main; main()"
    return [sys.executable, "-I", "-c", boot]


def probe_process_env() -> dict[str, str]:
    """The version for the context probe, and at most two malloc arenas instead of one
    per probe thread: their allocations are small and short-lived."""
    from agent import __version__

    return {**os.environ, "DUI_AGENT_VERSION": __version__, "MALLOC_ARENA_MAX": "2"}


class ProcessRunner:
    """One probe process fed JSON lines over a pipe; restarted if it dies."""

    def __init__(self) -> None:
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0
        self._proc: subprocess.Popen[str] | None = None

    async def __aenter__(self) -> ProcessRunner:
        self._loop = asyncio.get_running_loop()
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self._stop)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _start(self) -> None:
        proc = subprocess.Popen(
            probe_process_command(),
            env=probe_process_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        )
        self._proc = proc
        assert proc.stdout is not None
        threading.Thread(
            target=self._read, args=(proc, proc.stdout), name="probe-reader", daemon=True
        ).start()
        log.info("probe process started", extra=fields(pid=proc.pid))

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def _read(self, proc: subprocess.Popen[str], stream: IO[str]) -> None:
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                request_id, answer = json.loads(line)
                self._loop.call_soon_threadsafe(self._resolve, request_id, answer)
        self._loop.call_soon_threadsafe(self._lost, proc)

    def _resolve(self, request_id: int, answer: dict[str, Any]) -> None:
        future = self._pending.pop(request_id, None)
        if future is not None and not future.done():
            future.set_result(answer)

    def _lost(self, proc: subprocess.Popen[str]) -> None:
        if proc is not self._proc:
            return  # stopped on purpose
        log.warning("probe process exited", extra=fields(pid=proc.pid, code=proc.poll()))
        for future in self._pending.values():
            if not future.done():
                future.set_result({"ts": time.time(), "success": False, "error": "internal"})
        self._pending.clear()
        self._proc = None
        with contextlib.suppress(OSError):
            proc.kill()

    def _send(self, request: list[Any]) -> bool:
        """Write a request, restarting a dead probe process once."""
        for _ in range(2):
            if self._proc is None:
                self._start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                return True
            except (OSError, ValueError):
                self._lost(proc)
        return False

    async def run(self, kind: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[request_id] = future
        try:
            if not self._send([request_id, kind, params]):
                return {"ts": time.time(), "success": False, "error": "internal"}
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return _timeout_result()
        finally:
            self._pending.pop(request_id, None)


def make_runner(kind: str) -> ThreadRunner | ProcessRunner:
    return ProcessRunner() if kind == "process" else ThreadRunner()
