"""`dui-collector run`: broker link → ingest (group commit) → ledger, state → /metrics.

Composed in one async-with block so shutdown order is visible: stop taking messages,
finish the group in hand, close HTTP, the broker link, the embedded broker, the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from collector.broker import embedded_broker
from collector.bus import Bus
from collector.config import CollectorConfig
from collector.http import http_server
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.sla.live import Live
from collector.state import State
from runtime.logs import fields
from runtime.service import install_stop

log = logging.getLogger("dui.collector")
GROUP_MAX = 1000  # messages per transaction at most
HOUSEKEEPING_EVERY = 60.0


async def _writer(
    queue: asyncio.Queue[tuple[str, bytes]], ingest: Ingest, state: State, bus: Bus
) -> None:
    while True:
        group = [await queue.get()]
        while len(group) < GROUP_MAX and not queue.empty():
            group.append(queue.get_nowait())
        try:
            outcome = await asyncio.to_thread(ingest.process, group)
        except Exception:
            log.exception(
                "ingest transaction failed; the agents will re-send",
                extra=fields(messages=len(group)),
            )
            ingest.reset()
            continue
        state.apply(outcome)
        await bus.publish(outcome.acks)


async def _housekeeping(
    state: State, ledger: SqliteLedger, raw_retention: float, live: Live
) -> None:
    last_prune = 0.0
    while True:
        await asyncio.to_thread(live.tick)
        state.sla = dict(live.docs)
        await asyncio.sleep(HOUSEKEEPING_EVERY)
        state.forget()
        if time.time() - last_prune > 3600:
            last_prune = time.time()
            pruned = await asyncio.to_thread(ledger.prune, raw_retention)
            if pruned:
                log.info("raw results pruned", extra=fields(rows=pruned))


async def run(
    config: CollectorConfig,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    if stop is None:
        stop = asyncio.Event()
        install_stop(stop)
    ledger = SqliteLedger(config.ledger.sqlite_path)
    state = State(config.agents.stale_after, config.agents.forget_after)
    ingest = Ingest(ledger, config.ledger.raw_retention)
    live = Live(config, config.ledger.sqlite_path)
    api_ledger = SqliteLedger(config.ledger.sqlite_path)  # the API writes on its own connection
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    bus = Bus(config, state, queue)
    broker = (
        embedded_broker(config.mqtt.listen) if config.mqtt.embedded else contextlib.nullcontext()
    )
    try:
        async with broker, http_server(config, state, api_ledger, live) as port:
            log.info(
                "collector started",
                extra=fields(
                    ledger=str(config.ledger.sqlite_path),
                    http_port=port,
                    broker=config.mqtt.url or f"embedded on {config.mqtt.listen}",
                ),
            )
            tasks = [
                asyncio.create_task(bus.run()),
                asyncio.create_task(_writer(queue, ingest, state, bus)),
                asyncio.create_task(
                    _housekeeping(state, ledger, config.ledger.raw_retention, live)
                ),
            ]
            if on_ready is not None:
                on_ready(port)
            await stop.wait()
            log.info("stopping")
            tasks[0].cancel()  # stop taking messages first
            with contextlib.suppress(asyncio.CancelledError):
                await tasks[0]
            for task in tasks[1:]:
                task.cancel()
            await asyncio.gather(*tasks[1:], return_exceptions=True)
    finally:
        live.close()
        api_ledger.close()
        ledger.close()
        log.info("collector stopped")
