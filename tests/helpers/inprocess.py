"""The collector service run inside the test's event loop, with an injected clock: for
tests that replay a known day (the SLA evaluation runs every `sla_every` seconds)."""

from __future__ import annotations

import asyncio
import contextlib
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
