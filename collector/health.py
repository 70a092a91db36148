"""What /healthz says about the collector's background tasks: a round that failed is
logged, counted in dui_collector_task_failures_total and shown until one succeeds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from collector.state import State
from runtime.logs import fields

log = logging.getLogger("dui.collector")


class Health:
    def __init__(self, state: State) -> None:
        self.state = state
        self.failing: dict[str, str] = {}  # task → its last error

    def failed(self, task: str, error: str) -> None:
        self.state.task_failures[task] = self.state.task_failures.get(task, 0) + 1
        self.failing[task] = error

    def ok(self, task: str) -> None:
        self.failing.pop(task, None)

    def problems(self) -> list[str]:
        return [f"background task {t} failing: {e}" for t, e in sorted(self.failing.items())]


async def every(
    health: Health,
    task: str,
    interval: float,
    round_: Callable[[], Awaitable[None]],
    first_delay: float = 0.0,
) -> None:
    """Run `round_` every `interval` seconds for as long as the service runs. A round that
    raises is logged (once per distinct error, then every 10 min at most), counted and
    shown in /healthz; the next round runs as usual, which is the restart."""
    await asyncio.sleep(first_delay)
    last_logged: dict[str, float] = {}
    while True:
        try:
            await round_()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            health.failed(task, error)
            if time.monotonic() - last_logged.get(error, -1e9) > 600:
                last_logged[error] = time.monotonic()
                log.exception("background task round failed", extra=fields(task=task))
        else:
            health.ok(task)
        await asyncio.sleep(interval)
