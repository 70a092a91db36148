"""Turns the config into probe jobs and runs each on its interval with jitter.

The scheduler knows nothing of HTTP or ICMP: a job is a probe kind, its params
and a schedule; results go to a sink (the spool in `run`, a list in `check`).
A bandwidth test holds the gate alone, so no timed probe shares the link with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import msgspec

from agent.config import AgentConfig, TargetConfig
from agent.worker import ProbeRunner
from runtime.logs import fields
from wire.probes import PROBES

log = logging.getLogger("dui.agent.scheduler")

GRACE = 5.0  # beyond a probe's own timeout before the scheduler gives up on it
EXCLUSIVE = "bandwidth"  # fills the link: runs alone, never beside a timed probe


@dataclass(frozen=True)
class Job:
    kind: str
    target: str
    role: str
    params: dict[str, Any]
    interval: float
    timeout: float
    window: str | None = None  # "HH:MM-HH:MM" local time, for `run` only
    at_start: bool = False  # first run right away (inventory)
    extra: Callable[[], dict[str, Any]] | None = field(default=None, compare=False)
    queue: float = 0.0  # the longest this run may wait for the probe process's timed turn
    # Runs once per wall-clock minute (usage: the collector counts each result as one
    # workstation-minute, so two in one minute would count the workstation twice).
    per_minute: bool = False

    @property
    def own(self) -> float:
        """How long one run may take by itself: latency runs several samples."""
        if self.kind == "latency":
            p = self.params
            return p["samples"] * (p["timeout"] + p["spacing"])
        return self.timeout

    @property
    def deadline(self) -> float:
        """When the agent gives up on a run: its own time, its queue bound, a grace."""
        return self.own + self.queue + GRACE


def with_queue_bounds(jobs: list[Job]) -> list[Job]:
    """Each job that takes the probe process's timed turn (every kind but bandwidth:
    the timed ones, and the workstation ones, busy in Python) with the longest it
    may wait for it.

    The turn is first come, first served, and a probe's sections add up to at most
    its own time (the wait is not counted against it), so while a run of J lasts,
    another job K holds the turn at most `K.own` per run of K: once, plus once per
    interval of K that fits in J's own time.
    """
    turn = [j for j in jobs if j.kind != EXCLUSIVE]
    out = []
    for job in jobs:
        if job.kind != EXCLUSIVE:
            runs = [(k, 1 + math.ceil(job.own / max(k.interval, 1.0))) for k in turn]
            job = dataclasses.replace(job, queue=sum(k.own * n for k, n in runs if k is not job))
        out.append(job)
    return out


class Gate:
    """Many timed probes at once, or one bandwidth test alone."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextlib.asynccontextmanager
    async def hold(self, exclusive: bool) -> AsyncIterator[None]:
        async with self._cond:
            if exclusive:
                self._waiting_exclusive += 1
                try:
                    await self._cond.wait_for(lambda: not self._exclusive and not self._shared)
                finally:
                    self._waiting_exclusive -= 1
                self._exclusive = True
            else:
                await self._cond.wait_for(
                    lambda: not self._exclusive and not self._waiting_exclusive
                )
                self._shared += 1
        try:
            yield
        finally:
            async with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()


def _plain(value: Any) -> Any:
    """Duration and Size are float and int subclasses: send plain numbers."""
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(type(value))


# What a target probe's job needs besides its config fields.
_EXTRA_PARAMS: dict[str, Callable[[AgentConfig, TargetConfig], dict[str, Any]]] = {
    "http": lambda config, target: {"proxy": config.proxy, "key": target.name},
    "dns": lambda config, target: {"host": _dns_host(target)},
    "scenario": lambda config, target: {"proxy": config.proxy},
    "bandwidth": lambda config, target: {
        "proxy": config.proxy,
        "site": config.site,
        "agent": config.agent,
    },
}


@dataclass(frozen=True)
class _Workstation:
    """How a workstation-wide probe runs."""

    timeout: float
    at_start: bool = False
    params: Callable[[AgentConfig], dict[str, Any]] = lambda config: {}
    per_minute: bool = False


_WORKSTATION = {
    "inventory": _Workstation(60.0, at_start=True),
    "context": _Workstation(20.0, at_start=True),
    "usage": _Workstation(
        20.0, params=lambda config: {"hosts": dui_hosts(config)}, per_minute=True
    ),
}


def _dns_host(target: TargetConfig) -> str | None:
    host = target.dns.host if target.dns else None
    return host if host is not None else target.default_host()


def _params(config: AgentConfig, kind: str, target: TargetConfig, probe: Any) -> dict[str, Any]:
    params = msgspec.to_builtins(probe, enc_hook=_plain)
    extra = _EXTRA_PARAMS.get(kind)
    return {**params, **extra(config, target)} if extra else params


def dui_hosts(config: AgentConfig) -> list[str]:
    """Hosts of the `dui` targets, for the usage probe."""
    hosts: list[str] = []
    for target in config.targets:
        if target.role != "dui":
            continue
        urls = [target.http.url] if target.http else []
        urls += [s.get or s.post or "" for s in target.scenario.steps] if target.scenario else []
        hosts += [urlsplit(u).hostname or "" for u in urls]
        if target.latency and target.latency.host != "auto":
            hosts.append(target.latency.host)
    return sorted({h for h in hosts if h})


def build_jobs(config: AgentConfig, extra: Callable[[], dict[str, Any]] | None = None) -> list[Job]:
    """Every job of the config; `extra` adds the clock offset to the results of the
    kinds that carry it on the wire (context)."""
    jobs = [
        Job(
            kind,
            target.name,
            target.role,
            _params(config, kind, target, probe),
            float(probe.interval),
            float(probe.timeout),
            window=getattr(probe, "window", None),
        )
        for target in config.targets
        for kind, probe in target.probes()
    ]
    for kind, settings in config.workstation_probes():
        run = _WORKSTATION[kind]
        jobs.append(
            Job(
                kind,
                PROBES[kind].target or "workstation",
                "workstation",
                run.params(config),
                float(settings.interval),
                run.timeout,
                at_start=run.at_start,
                per_minute=run.per_minute,
                extra=extra if "clock_offset_seconds" in PROBES[kind].fields else None,
            )
        )
    return with_queue_bounds(jobs)


def in_window(window: str | None, now: dt.datetime) -> bool:
    """Whether local time `now` falls in "HH:MM-HH:MM" (may span midnight)."""
    if window is None:
        return True
    start_text, end_text = window.split("-")
    start = dt.time.fromisoformat(start_text)
    end = dt.time.max if end_text == "24:00" else dt.time.fromisoformat(end_text)
    current = now.time()
    if start <= end:
        return start <= current < end
    return current >= start or current < end


async def run_once(
    job: Job, runner: ProbeRunner, gate: Gate | None = None
) -> dict[str, Any] | None:
    """One run of a job as a wire result without seq; None when the run was skipped."""
    started = time.time()
    if gate is not None and (job.kind == EXCLUSIVE or PROBES[job.kind].timed):
        async with gate.hold(exclusive=job.kind == EXCLUSIVE):
            answer = await runner.run(job.kind, job.params, job.deadline)
    else:
        answer = await runner.run(job.kind, job.params, job.deadline)
    if answer.get("skipped"):
        log.info(
            "run skipped", extra=fields(target=job.target, probe=job.kind, reason=answer["skipped"])
        )
        return None
    detail = answer.pop("detail", None)
    if detail:
        log.error(
            "probe failed internally",
            extra=fields(target=job.target, probe=job.kind, detail=detail),
        )
    answer.setdefault("ts", started)
    answer.setdefault("duration_seconds", time.time() - started)
    answer.setdefault("error", None)
    if job.extra is not None:
        answer.update(job.extra())
    return {"probe": job.kind, "target": job.target, "role": job.role, **answer}


Sink = Callable[[dict[str, Any]], Awaitable[None]]


# A per-minute job starts this many seconds into each wall-clock minute (chosen once per
# agent, to spread the agents): late enough that a clock step of a few seconds does not
# cross the minute, early enough that its run (20 s timeout) ends inside it.
MINUTE_OFFSET = (5.0, 30.0)


def next_minute_run(now: float, offset: float) -> float:
    """The Unix time of the next run of a per-minute job: `offset` seconds into the
    first wall-clock minute that starts after `now`'s minute, so one run per minute."""
    return (now // 60 + 1) * 60 + offset


async def run_per_minute(job: Job, runner: ProbeRunner, sink: Sink, gate: Gate) -> None:
    """One run per wall-clock minute, at a fixed second of it; a run that overruns its
    minute makes the next one skip to the following minute, never a second run in it."""
    offset = random.uniform(*MINUTE_OFFSET)
    while True:
        await asyncio.sleep(max(0.0, next_minute_run(time.time(), offset) - time.time()))
        result = await run_once(job, runner, gate)
        if result is not None:
            await sink(result)


async def run_forever(job: Job, runner: ProbeRunner, sink: Sink, gate: Gate) -> None:
    """Run on a fixed grid (interval) with a random phase and a little jitter,
    so that agents spread their load and a slow run does not shift later ones."""
    if job.per_minute:
        return await run_per_minute(job, runner, sink, gate)
    phase = 0.0 if job.at_start else random.uniform(0, min(job.interval, 15.0))
    jitter = min(job.interval * 0.05, 2.0)
    origin = time.monotonic() + phase
    k = 0
    while True:
        due = origin + k * job.interval + (random.uniform(0, jitter) if k or phase else 0.0)
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if in_window(job.window, dt.datetime.now()):
            result = await run_once(job, runner, gate)
            if result is not None:
                await sink(result)
        # Skip slots a run overran, rather than firing a burst to catch up.
        k = max(k + 1, int((time.monotonic() - origin) // job.interval) + 1)
