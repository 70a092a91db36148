"""The collector service run inside the test's event loop, with an injected clock: for
tests that replay a known day (the SLA evaluation runs every `sla_every` seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

from collector.config import load
from collector.run import run
from tests.helpers.poll import await_until
from tests.helpers.processes import CollectorProcess


def replay_clock(start: float, speed: float = 1.0) -> callable:
    """Unix time that reads `start` now and moves on with the real clock, `speed` times
    as fast (60: a minute of the collector's time per real second)."""
    began = time.monotonic()
    return lambda: start + speed * (time.monotonic() - began)


@contextlib.asynccontextmanager
async def collector_in_process(
    workdir: Path,
    config: dict,
    clock: callable,
    sla_every: float = 0.2,
    readiness_every: float = 1.0,
) -> AsyncIterator[CollectorProcess]:
    """Yields a CollectorProcess (for its url, config_path, get and metrics) whose service
    runs in this loop; healthy (connected to the broker) before the block starts."""
    collector = CollectorProcess(workdir, config)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run(
            load(collector.config_path),
            stop,
            clock=clock,
            sla_every=sla_every,
            readiness_every=readiness_every,
        )
    )

    async def healthy() -> bool:
        if task.done():
            task.result()  # raises what stopped the service
        return (await asyncio.to_thread(collector.get, "/healthz"))[0] == 200

    try:
        await await_until(healthy, 20, "the in-process collector healthy")
        yield collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def fails_then_recovers(
    collector: CollectorProcess, away: str, back: str, failing: str, what: str
) -> None:
    """A background round made to fail behind the service's back (`away`, SQL on its
    ledger): /healthz answers 503 naming it (`failing`); once `back` is run, 200 again."""
    db = sqlite3.connect(collector.ledger_path, timeout=10)
    try:
        db.execute(away)
        db.commit()

        async def says(status: int, text: str) -> bool:
            got = await asyncio.to_thread(collector.get, "/healthz")
            return got[0] == status and text in got[1]

        await await_until(lambda: says(503, failing), 20, f"healthz 503 on {what}")
        db.execute(back)
        db.commit()
    finally:
        db.close()
    await await_until(lambda: says(200, "ok"), 20, "healthz 200 again")
