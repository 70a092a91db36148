"""What /healthz says about the collector's background tasks: a round that failed is
logged, counted in dui_collector_task_failures_total and shown until one succeeds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from collector.state import State
from runtime.logs import Throttle, fields

log = logging.getLogger("dui.collector")


LOG_AGAIN_AFTER = 600.0  # the same error of the same task is logged again after this
BROKER_GRACE = 60.0  # a broker away this long, once connected, makes /healthz 503


class Health:
    def __init__(self, state: State) -> None:
        self.state = state
        self.failing: dict[str, str] = {}  # task → its last error
        self.standing: dict[str, str] = {}  # found at start, shown until a restart (chain)
        self._throttle = Throttle(LOG_AGAIN_AFTER)

    def failed(self, task: str, error: str) -> bool:
        """Count and show the failure; True when it should be logged (the first time,
        then every LOG_AGAIN_AFTER seconds while it repeats)."""
        self.state.task_failures[task] = self.state.task_failures.get(task, 0) + 1
        self.failing[task] = error
        return self._throttle.due((task, error)) is not None

    def ok(self, task: str) -> None:
        self.failing.pop(task, None)

    def broker_problem(self) -> str | None:
        """Not yet connected: at once (the service is not ready). Connected before: only
        after BROKER_GRACE, so that a broker restart or a short reconnect does not flap."""
        if self.state.mqtt_connected:
            return None
        lost_at = self.state.mqtt_lost_at
        if lost_at is None:
            return "not connected to the MQTT broker yet"
        away = time.monotonic() - lost_at
        return f"not connected to the MQTT broker for {away:.0f} s" if away > BROKER_GRACE else None

    def problems(self) -> list[str]:
        return [*self.standing.values()] + [
            f"background task {t} failing: {e}" for t, e in sorted(self.failing.items())
        ]


def pause(interval: float, spread: float, took: float) -> float:
    """Seconds to wait after a round that took `took`: `interval`, or `spread` × `took`
    when longer."""
    return max(interval, spread * took)


async def every(
    health: Health,
    task: str,
    interval: float,
    round_: Callable[[], Awaitable[None]],
    first_delay: float = 0.0,
    spread: float = 0.0,
) -> None:
    """Run `round_` every `interval` seconds for as long as the service runs. A round that
    raises is counted, shown in /healthz and logged (rate-limited); the next round runs
    as usual, which is the restart. `spread`: wait at least that many times the last
    round's duration, so that a round that grows with the ledger keeps its share of the
    CPU (9: at most a tenth) instead of running back to back."""
    await asyncio.sleep(first_delay)
    while True:
        began = time.monotonic()
        try:
            await round_()
        except Exception as exc:
            if health.failed(task, f"{type(exc).__name__}: {exc}"[:300]):
                log.exception("background task round failed", extra=fields(task=task))
        else:
            health.ok(task)
        await asyncio.sleep(pause(interval, spread, time.monotonic() - began))
