"""A background round that fails is logged, counted in
dui_collector_task_failures_total, shown in /healthz, and the next round still runs;
a task that dies stops the service instead of leaving it half alive."""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request

import pytest

from collector.config import parse
from collector.health import Health, every
from collector.http import http_server
from collector.ledger import SqliteLedger
from collector.state import State
from tests.helpers.broker import free_port
from tests.helpers.poll import await_until


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_a_failing_round_shows_in_healthz_and_the_next_runs(tmp_path, caplog) -> None:
    config = parse({"http": {"listen": f"127.0.0.1:{free_port()}"}})
    state = State(stale_after=300, forget_after=3600)
    state.mqtt_connected = True
    health = Health(state)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    rounds: list[str] = []
    failing = asyncio.Event()
    failing.set()
    ran_after_failure = asyncio.Event()

    async def round_() -> None:
        if failing.is_set():
            rounds.append("failed")
            raise RuntimeError("contract evaluation failed: dui-vendor-2026")
        rounds.append("ok")
        ran_after_failure.set()

    caplog.set_level(logging.ERROR, logger="dui.collector")
    async with http_server(config, state, ledger, health=health) as port:
        url = f"http://127.0.0.1:{port}"
        task = asyncio.create_task(every(health, "sla", 0.05, round_))
        try:
            await await_until(lambda: len(rounds) >= 3, 10, "three rounds", step=0.02)
            status, text = await asyncio.to_thread(get, f"{url}/healthz")
            assert status == 503
            assert "background task sla failing: RuntimeError: contract evaluation failed" in text
            metrics = (await asyncio.to_thread(get, f"{url}/metrics"))[1]
            assert 'dui_collector_task_failures_total{task="sla"}' in metrics
            assert state.task_failures["sla"] >= 3
            failing.clear()
            async with asyncio.timeout(10):
                await ran_after_failure.wait()
            assert await asyncio.to_thread(get, f"{url}/healthz") == (200, "ok\n")
        finally:
            task.cancel()
    ledger.close()
    logged = [r for r in caplog.records if r.getMessage() == "background task round failed"]
    assert len(logged) == 1, "the same error is logged once, not every round"


async def test_a_task_that_dies_stops_the_service(tmp_path, monkeypatch) -> None:
    """The writer's loop raising (a bug) ends run() with the error, not a silent gap."""
    from collector import run as service

    async def broken_writer(*args, **kwargs) -> None:
        raise RuntimeError("writer bug")

    monkeypatch.setattr(service, "_writer", broken_writer)
    config = parse(
        {
            "mqtt": {"listen": f"127.0.0.1:{free_port()}"},
            "http": {"listen": f"127.0.0.1:{free_port()}"},
            "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        }
    )
    with pytest.raises(ExceptionGroup) as caught:
        async with asyncio.timeout(30):
            await service.run(config, stop=asyncio.Event())
    assert "writer bug" in str(caught.value.exceptions[0])


async def test_failing_ingest_transactions_show_in_healthz(tmp_path) -> None:
    """A ledger that refuses commits (closed here; a full disk in the field) makes the
    writer's transactions fail: /healthz says so instead of "ok"."""
    from collector import run as service
    from collector.ingest import Ingest
    from tests.helpers.batches import batch_json, results_topic

    state = State(stale_after=300, forget_after=3600)
    health = Health(state)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ingest = Ingest(ledger, raw_retention=86400)
    ledger.close()
    queue: asyncio.Queue = asyncio.Queue()
    result = {"seq": 1, "ts": 1.0, "probe": "dns", "target": "dui", "role": "dui", "success": True}
    await queue.put(
        (results_topic("og", "site-a", "poste-1"), batch_json([result], epoch="ab12cd34"))
    )
    writer = asyncio.create_task(
        service._writer(queue, ingest, state, None, lambda: 1_800_000_000.0, health)  # type: ignore[arg-type]
    )
    try:
        await await_until(lambda: "ingest" in health.failing, 10, "the ingest failure")
    finally:
        writer.cancel()
    assert health.problems() == [
        "background task ingest failing: ProgrammingError: Cannot operate on a closed database."
    ]
    assert state.task_failures == {"ingest": 1}


async def test_broker_away_shows_in_healthz_after_the_grace(tmp_path) -> None:
    """Never connected: 503 at once (not ready). Connected, then lost: still 200 for
    BROKER_GRACE seconds (a broker restart does not flap), then 503 saying how long."""
    from collector.health import BROKER_GRACE

    config = parse({"http": {"listen": f"127.0.0.1:{free_port()}"}})
    state = State(stale_after=300, forget_after=3600)
    health = Health(state)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    async with http_server(config, state, ledger, health=health) as port:
        url = f"http://127.0.0.1:{port}/healthz"
        assert await asyncio.to_thread(get, url) == (
            503,
            "not connected to the MQTT broker yet\n",
        )
        state.mqtt_connected = True
        assert await asyncio.to_thread(get, url) == (200, "ok\n")
        state.mqtt_connected = False
        assert await asyncio.to_thread(get, url) == (200, "ok\n")
        assert state.mqtt_lost_at is not None
        state.mqtt_lost_at -= BROKER_GRACE + 5  # as if lost 65 s ago
        status, text = await asyncio.to_thread(get, url)
        assert status == 503 and text == "not connected to the MQTT broker for 65 s\n"
        state.mqtt_connected = True
        assert await asyncio.to_thread(get, url) == (200, "ok\n")
    ledger.close()


async def test_a_failing_contract_evaluation_shows_in_healthz(tmp_path, mosquitto) -> None:
    """The real service: a ledger table the SLA rounds write to, dropped behind the
    collector's back, makes every round fail; /healthz says so, and recovers when the
    table is back."""
    import sqlite3
    import time as clock

    from tests.helpers.inprocess import collector_in_process, fails_then_recovers, replay_clock

    config = {
        "mqtt": {"url": mosquitto.url},
        "contracts": [{"id": "c1", "targets": ["dui"], "availability": {"objective": 0.99}}],
    }
    async with collector_in_process(tmp_path, config, replay_clock(clock.time())) as collector:
        db = sqlite3.connect(collector.ledger_path, timeout=10)
        (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'sla_counted'").fetchone()
        db.close()
        failing = "background task sla failing: RuntimeError: contract evaluation failed: c1"
        await fails_then_recovers(
            collector, "DROP TABLE sla_counted", ddl, failing, "the SLA round"
        )


def test_a_long_round_spaces_the_next_by_its_spread() -> None:
    """The readiness round grows with the ledger: 40 s with spread 9 waits 360 s, not the
    300 s interval; a short round waits the interval."""
    from collector.health import pause
    from collector.run import READINESS_EVERY, READINESS_SPREAD

    assert pause(READINESS_EVERY, READINESS_SPREAD, 40.0) == 360.0
    assert pause(READINESS_EVERY, READINESS_SPREAD, 2.0) == READINESS_EVERY
    assert pause(60.0, 0.0, 600.0) == 60.0  # the other rounds: the interval only
