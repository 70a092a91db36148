"""Waiting for a condition instead of sleeping a fixed time.

    wait_until(lambda: collector.get("/healthz")[0] == 200, 20, "collector healthy")
    state = await await_until(read_state, 60, "the last will", until=lambda s: s == "offline")

Both call `probe` until `until(value)` holds (by default: until the value is truthy) and
return that value. Both are bounded: after `timeout` seconds they raise AssertionError
naming what was awaited and the last value seen. `await_until` also takes a coroutine
function as the probe, and never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def _timed_out(timeout: float, what: str, last: Any) -> AssertionError:
    return AssertionError(f"timed out after {timeout}s waiting for {what} (last seen: {last!r})")


def wait_until(
    probe: Callable[[], Any],
    timeout: float,
    what: str = "condition",
    step: float = 0.05,
    until: Callable[[Any], Any] = bool,
) -> Any:
    """Call `probe` every `step` seconds until `until(value)`; return that value."""
    end = time.monotonic() + timeout
    while True:
        last = probe()
        if until(last):
            return last
        if time.monotonic() >= end:
            raise _timed_out(timeout, what, last)
        time.sleep(step)


async def await_until(
    probe: Callable[[], Any],
    timeout: float,
    what: str = "condition",
    step: float = 0.05,
    until: Callable[[Any], Any] = bool,
) -> Any:
    """wait_until for a test's event loop; `probe` may be a coroutine function."""
    end = time.monotonic() + timeout
    while True:
        last = probe()
        if inspect.isawaitable(last):
            last = await last
        if until(last):
            return last
        if time.monotonic() >= end:
            raise _timed_out(timeout, what, last)
        await asyncio.sleep(step)
