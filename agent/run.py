"""`dui-agent run`: probes → spool → MQTT link, until SIGTERM/SIGINT.

Composition follows the async-with order, so shutdown is the reverse: probes stop,
the link says offline, the probe process ends, the spool closes intact.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from agent.config import AgentConfig, default_spool_path
from agent.link import Link
from agent.scheduler import Gate, build_jobs, run_forever
from agent.spool import Spool
from agent.worker import make_runner
from runtime.logs import fields
from runtime.service import install_stop
from wire.schema import result_problem

log = logging.getLogger("dui.agent")


async def run(config: AgentConfig) -> None:
    stop = asyncio.Event()
    install_stop(stop)
    spool_path = config.spool.path or str(default_spool_path())
    async with Spool(spool_path, config.spool.max_bytes, config.spool.max_age) as spool:
        link = Link(config, spool)
        jobs = build_jobs(config, extra=lambda: {"clock_offset_seconds": link.clock_offset})
        gate = Gate()

        warned: set[str] = set()

        async def sink(result: dict[str, Any]) -> None:
            problem = result_problem(result)
            if problem is not None and str(result.get("target")) not in warned:
                # spooled anyway: the collector counts it rejected and settles it
                warned.add(str(result.get("target")))
                log.warning(
                    "result outside the wire bounds (logged once per target)",
                    extra=fields(target=str(result.get("target"))[:64], reason=problem[:300]),
                )
            spool.append(result)
            link.notify()

        log.info(
            "agent started",
            extra=fields(
                agent=config.client_id,
                epoch=spool.epoch,
                spool=spool_path,
                jobs=len(jobs),
                spooled=spool.count(),
            ),
        )
        async with make_runner(config.probe_worker) as runner, asyncio.TaskGroup() as tasks:
            link_task = tasks.create_task(link.run())
            probe_tasks = [tasks.create_task(run_forever(job, runner, sink, gate)) for job in jobs]
            await stop.wait()
            log.info("stopping")
            for task in probe_tasks:
                task.cancel()
            await asyncio.gather(*probe_tasks, return_exceptions=True)
            link_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link_task
        log.info("agent stopped", extra=fields(spooled=spool.count()))
