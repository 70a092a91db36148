"""Turns the config into probe jobs and runs each on its interval with jitter.

The scheduler knows nothing of HTTP or ICMP: a job is a probe kind, its params
and a schedule; results go to a sink (the spool in `run`, a list in `check`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from agent.config import AgentConfig, TargetConfig
from agent.worker import ProbeRunner
from wire.logs import fields

log = logging.getLogger("dui.agent.scheduler")

# Probe kinds this agent version can run; others are accepted in the config and
# reported once as not available yet.
RUNNABLE = ("http", "latency", "dns")
GRACE = 5.0  # beyond a probe's own timeout before the scheduler gives up on it


@dataclass(frozen=True)
class Job:
    kind: str
    target: str
    role: str
    params: dict[str, Any]
    interval: float
    timeout: float

    @property
    def deadline(self) -> float:
        """How long one run may take: latency runs several samples."""
        if self.kind == "latency":
            p = self.params
            return p["samples"] * (p["timeout"] + p["spacing"]) + GRACE
        return self.timeout + GRACE


def _plain(value: Any) -> Any:
    """Duration and Size are float and int subclasses: send plain numbers."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(type(value))


def _params(kind: str, target: TargetConfig, probe: Any) -> dict[str, Any]:
    params = msgspec.to_builtins(probe, enc_hook=_plain)
    if kind == "dns" and params.get("host") is None:
        params["host"] = target.default_host()
    if kind == "http":
        params["key"] = target.name
    return params


def build_jobs(config: AgentConfig) -> tuple[list[Job], list[str]]:
    """Jobs to run, and the probe kinds configured but not runnable in this version."""
    jobs: list[Job] = []
    skipped: list[str] = []
    for target in config.targets:
        for kind, probe in target.probes():
            if kind not in RUNNABLE:
                skipped.append(f"{target.name}.{kind}")
                continue
            jobs.append(
                Job(
                    kind,
                    target.name,
                    target.role,
                    _params(kind, target, probe),
                    float(probe.interval),
                    float(probe.timeout),
                )
            )
    return jobs, skipped


async def run_once(job: Job, runner: ProbeRunner) -> dict[str, Any]:
    """One run of a job as a wire result without seq."""
    started = time.time()
    answer = await runner.run(job.kind, job.params, job.deadline)
    detail = answer.pop("detail", None)
    if detail:
        log.error(
            "probe failed internally",
            extra=fields(target=job.target, probe=job.kind, detail=detail),
        )
    answer.setdefault("ts", started)
    answer.setdefault("duration_seconds", time.time() - started)
    answer.setdefault("error", None)
    return {"probe": job.kind, "target": job.target, "role": job.role, **answer}


Sink = Callable[[dict[str, Any]], Awaitable[None]]


async def run_forever(job: Job, runner: ProbeRunner, sink: Sink) -> None:
    """Run on a fixed grid (interval) with a random phase and a little jitter,
    so that agents spread their load and a slow run does not shift later ones."""
    phase = random.uniform(0, min(job.interval, 15.0))
    jitter = min(job.interval * 0.05, 2.0)
    origin = time.monotonic() + phase
    k = 0
    while True:
        due = origin + k * job.interval + random.uniform(0, jitter)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        result = await run_once(job, runner)
        await sink(result)
        # Skip slots a run overran, rather than firing a burst to catch up.
        k = max(k + 1, int((time.monotonic() - origin) // job.interval) + 1)
