"""`dui-collector run`: broker link → ingest (group commit) → ledger, state → /metrics,
and the background rounds (SLA evaluation, site readiness, pruning, forgetting silent
agents).

Composed once: resources in one AsyncExitStack (each role its own ledger connection),
tasks in one TaskGroup. A failing round is shown in /healthz and retried; the bus or the
writer dying is a bug that stops the service (exit 1) rather than leaving it half alive.
Shutdown: stop taking messages, stop the rounds, then HTTP, the broker, the ledgers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AsyncExitStack, closing

from collector.broker import embedded_broker
from collector.bus import Bus
from collector.config import CollectorConfig
from collector.health import Health, every
from collector.http import http_server
from collector.ingest import Ingest
from collector.ledger import Ledger, LedgerError, open_ledger
from collector.live import LiveSla
from collector.readiness.evaluate import evaluate
from collector.sla.period import config_records
from collector.state import USAGE_SETTLE, USAGE_WINDOW, State
from runtime.logs import fields
from runtime.service import install_stop
from runtime.version import VERSION

log = logging.getLogger("dui.collector")
GROUP_MAX = 1000  # messages per transaction at most
QUEUE_MAX = 10 * GROUP_MAX
SLA_EVERY = 60.0
# readiness reads the last 7 days of raw results and the last inventories: minutes matter,
# not seconds; it takes ≈ 4 µs per stored result of the window (11 s for 2.5 million,
# bench/readiness_bench.py), so a large
# deployment spaces its rounds to keep it under a tenth of a core
READINESS_EVERY = 300.0
READINESS_SPREAD = 9.0
FORGET_EVERY = 60.0
PRUNE_EVERY = 3600.0
RESTORE_CHAIN = "restore the ledger from a copy made by `dui-collector backup`"
Clock = Callable[[], float]


async def _writer(
    queue: asyncio.Queue[tuple[str, bytes]],
    ingest: Ingest,
    state: State,
    bus: Bus,
    clock: Clock,
    health: Health,
) -> None:
    while True:
        group = [await queue.get()]
        while len(group) < GROUP_MAX and not queue.empty():
            group.append(queue.get_nowait())
        now = clock()
        try:
            outcome = await asyncio.to_thread(ingest.process, group, now)
        except Exception as exc:
            if health.failed("ingest", f"{type(exc).__name__}: {exc}"):
                log.exception(
                    "ingest transaction failed; the agents will re-send",
                    extra=fields(messages=len(group)),
                )
            ingest.reset()
            continue
        health.ok("ingest")
        try:
            state.apply(outcome, now)
        except Exception as exc:  # stored already: the acks go out whatever the view did
            if health.failed("metrics-view", f"{type(exc).__name__}: {exc}"[:300]):
                log.exception("metrics view not updated", extra=fields(messages=len(group)))
        else:
            health.ok("metrics-view")
        await bus.publish(outcome.acks)


def _load_usage(state: State, ledger: Ledger, now: float) -> None:
    """dui_site_usage_minutes_total goes on from the ledger (a counter that fell back at
    each restart would read as a reset), and the in-use gauge from the recent minutes."""
    since = now - USAGE_WINDOW - USAGE_SETTLE - 60
    state.load_usage(ledger.usage_totals(), list(ledger.usage(since, now + 3600)), now)


def check_ledger(path: object) -> str | None:
    """At start: a file that fails `PRAGMA quick_check` is refused (LedgerError, exit 1);
    a broken hash chain is returned, and /healthz shows it while the service runs on."""
    from collector.ledger.sqlite import RESTORE

    began = time.monotonic()
    with closing(open_ledger(path)) as ledger:  # type: ignore[arg-type]
        problem = ledger.integrity()
        if problem:
            raise LedgerError(
                f"ledger {path} is damaged (PRAGMA quick_check: {problem}); {RESTORE}"
            )
        broken = ledger.verify_chain()
    log.info(
        "ledger checked", extra=fields(ledger=str(path), seconds=round(time.monotonic() - began, 3))
    )
    if broken:
        log.error(
            "the ledger's hash chain is broken", extra=fields(ledger=str(path), problem=broken)
        )
        return f"ledger hash chain broken: {broken}; {RESTORE_CHAIN}"
    return None


async def run(
    config: CollectorConfig,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    *,
    clock: Clock | None = None,
    sla_every: float = SLA_EVERY,
    readiness_every: float = READINESS_EVERY,
) -> None:
    """`clock` (Unix seconds), `sla_every` and `readiness_every` are for tests that replay
    a known day."""
    clock = clock or time.time
    if stop is None:
        stop = asyncio.Event()
        install_stop(stop)
    path = config.ledger.sqlite_path
    chain_problem = await asyncio.to_thread(check_ledger, path)

    def ledger(stack: AsyncExitStack) -> Ledger:
        return stack.enter_context(closing(open_ledger(path)))  # type: ignore[arg-type]

    async with AsyncExitStack() as stack:
        ingest_ledger, sla_ledger, api_ledger, housekeeping_ledger, readiness_ledger = (
            ledger(stack) for _ in range(5)
        )
        for contract in config.contracts:  # an edit of the config then leaves a trace
            housekeeping_ledger.chain_config_windows(contract.id, config_records(contract), clock())
        state = State(config.agents.stale_after, config.agents.forget_after)
        await asyncio.to_thread(_load_usage, state, housekeeping_ledger, clock())
        health = Health(state)
        if chain_problem:
            health.standing["chain"] = chain_problem
        ingest = Ingest(
            ingest_ledger,
            config.ledger.raw_retention,
            max_agents=config.agents.max_agents,
            forget_after=config.agents.forget_after,
        )
        live = LiveSla(config, sla_ledger)
        # bounded: a slow disk holds the broker back instead of filling memory
        queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_MAX)
        bus = Bus(config, state, queue)
        if config.mqtt.embedded:
            await stack.enter_async_context(embedded_broker(config.mqtt.listen))
        port = await stack.enter_async_context(
            http_server(config, state, api_ledger, live, health, clock)
        )
        log.info(
            "collector started",
            extra=fields(
                version=VERSION,
                ledger=str(path),
                http_port=port,
                broker=config.mqtt.url or f"embedded on {config.mqtt.listen}",
            ),
        )

        async def sla_round() -> None:
            failed = await asyncio.to_thread(live.tick, clock())
            state.sla = dict(live.reports)
            if failed:
                raise RuntimeError(f"contract evaluation failed: {', '.join(failed)}")

        async def readiness_round() -> None:
            # every site, without the pilot weeks (the report computes those on demand)
            state.readiness = await asyncio.to_thread(
                evaluate, config, readiness_ledger, clock(), pilot=False
            )

        async def forget_round() -> None:
            state.forget(clock())

        async def prune_round() -> None:
            pruned = await asyncio.to_thread(
                housekeeping_ledger.prune,
                config.ledger.raw_retention,
                clock(),
                config.ledger.usage_retention,
            )
            if pruned:
                log.info("raw results pruned", extra=fields(rows=pruned))

        async with asyncio.TaskGroup() as tasks:
            receiving = tasks.create_task(bus.run(), name="bus")
            rounds = [
                tasks.create_task(_writer(queue, ingest, state, bus, clock, health), name="writer"),
                tasks.create_task(every(health, "sla", sla_every, sla_round)),
                tasks.create_task(
                    every(
                        health, "readiness", readiness_every, readiness_round, 0.0, READINESS_SPREAD
                    )
                ),
                tasks.create_task(every(health, "forget", FORGET_EVERY, forget_round, 60.0)),
                tasks.create_task(every(health, "prune", PRUNE_EVERY, prune_round, 60.0)),
            ]
            if on_ready is not None:
                on_ready(port)
            await stop.wait()
            log.info("stopping")
            receiving.cancel()  # stop taking messages first
            with contextlib.suppress(asyncio.CancelledError):
                await receiving
            for task in rounds:
                task.cancel()
        # a round's thread may still be at work: let it finish before the ledgers close
        await asyncio.to_thread(live.stop)
    log.info("collector stopped")
