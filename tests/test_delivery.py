"""Delivery with a real Mosquitto and a stand-in collector: nothing lost."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server, silent_server
from wire.schema import COLLECTOR_STATUS_TOPIC, AgentStatus, Result

pytestmark = pytest.mark.timeout(180)


def spool_state(path: Path) -> tuple[int, int | None, str | None]:
    """(results held, lowest seq held, epoch) read from the agent's spool file."""
    if not path.exists():
        return 0, None, None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        count, low = db.execute("SELECT COUNT(*), MIN(seq) FROM results").fetchone()
        row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        return count, low, row[0] if row else None
    except sqlite3.OperationalError:
        return 0, None, None
    finally:
        db.close()


def http_target(url: str, interval: str = "200ms") -> dict:
    return {
        "name": "dui-login",
        "role": "dui",
        "http": {"url": url, "interval": interval, "timeout": "2s", "expect_regex": "Connexion"},
    }


@pytest.fixture
def web():
    with http_server() as url:
        yield url


async def test_results_arrive_in_wire_schema(tmp_path, mosquitto, acker, agent_process, web):
    with silent_server() as port:
        targets = [
            {**http_target(web, "300ms"), "dns": {"interval": "300ms"}},
            {
                "name": "dui-host",
                "role": "dui",
                "latency": {
                    "host": "127.0.0.1",
                    "port": port,
                    "interval": "300ms",
                    "samples": 3,
                    "spacing": "10ms",
                },
            },
        ]
        agent = agent_process(agent_config(tmp_path, mosquitto.url, targets))
        agent.start()
        await acker.wait(
            lambda: (
                {r.probe for b in acker.batches for r in b.results}
                >= {"http", "dns", "latency", "inventory", "context"}
            ),
            30,
            "results of every probe",
        )
        await agent.astop()
    assert acker.errors == []
    batch = acker.batches[0]
    assert (batch.org, batch.site, batch.agent) == ("og-test", "site-a", "poste-1")
    results = {r.probe: r for b in acker.batches for r in b.results}
    http, dns, latency = results["http"], results["dns"], results["latency"]
    inventory, context = results["inventory"], results["context"]
    assert inventory.success and inventory.ram_bytes > 0 and inventory.os["name"]
    assert inventory.role == "workstation" and inventory.target == "workstation"
    assert context.success and context.version and context.link in ("wired", "wifi", "unknown")
    assert http.success and http.status_code == 200 and http.phases.connect is not None
    assert http.reused_connection is False and http.role == "dui" and http.target == "dui-login"
    assert dns.success and dns.target == "dui-login"
    assert latency.success and latency.method == "tcp" and latency.sent == 3
    assert latency.rtt_seconds.min <= latency.rtt_seconds.avg <= latency.rtt_seconds.max
    seqs = sorted(acker.seqs(batch.epoch))
    assert seqs == list(range(1, len(seqs) + 1))
    assert all(abs(r.ts - time.time()) < 60 for b in acker.batches for r in b.results)
    # acked results leave the spool
    count, _, _ = spool_state(agent.spool_path)
    assert count <= 3


async def test_status_retained_and_last_will(tmp_path, mosquitto, acker, agent_process, web):
    import aiomqtt

    agent = agent_process(agent_config(tmp_path, mosquitto.url, [http_target(web)]))
    agent.start()
    await acker.wait(lambda: acker.batches, 30, "a batch")

    async def retained_status() -> AgentStatus:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("dui/v1/og-test/site-a/poste-1/status", qos=1)
            async with asyncio.timeout(10):
                async for message in client.messages:
                    return msgspec.json.decode(bytes(message.payload), type=AgentStatus)
        raise AssertionError("no status")

    online = await retained_status()
    assert online.state == "online" and online.version and online.spool_results is not None
    await agent.astop(signal.SIGKILL)  # no clean goodbye: the broker publishes the last will
    status = await await_until(  # the broker notices after 1.5 × keepalive at worst
        retained_status, 120, "the last will", step=0.5, until=lambda s: s.state == "offline"
    )
    assert status.state == "offline"


async def test_broker_restart_loses_nothing(tmp_path, mosquitto, acker, agent_process, web):
    agent = agent_process(agent_config(tmp_path, mosquitto.url, [http_target(web, "100ms")]))
    agent.start()
    await acker.wait(lambda: len(acker.received) >= 10, 30, "10 results")
    epoch = acker.batches[0].epoch
    mosquitto.stop()
    acked = acker.acked[epoch]
    # While the broker is down the agent measures on, and nothing leaves the spool:
    # sampled for 3 s on purpose, the time passing is what is tested.
    held = []
    for _ in range(30):
        held.append(spool_state(agent.spool_path))
        await asyncio.sleep(0.1)
    counts = [c for c, _, _ in held]
    lows = [low for _, low, _ in held if low is not None]
    assert counts == sorted(counts) and counts[-1] > counts[0], "spool must only grow"
    assert len(set(lows)) <= 1, "nothing may leave the spool without an ack"
    assert lows[0] <= acker.acked[epoch] + 1
    mosquitto.start()
    await acker.wait(lambda: acker.acked[epoch] > acked, 30, "acks after the broker restart")
    await agent.astop()
    _, low, _ = spool_state(agent.spool_path)
    last = max(s for (e, s) in acker.received) if low is None else low - 1
    await acker.wait(lambda: set(range(1, last + 1)) <= acker.seqs(epoch), 30, "every seq")
    expected = set(range(1, last + 1))
    assert expected <= acker.seqs(epoch), f"missing {sorted(expected - acker.seqs(epoch))[:10]}"
    assert acker.errors == []


async def test_withheld_acks_make_the_agent_resend(tmp_path, mosquitto, acker, agent_process, web):
    acker.hold = True
    config = agent_config(
        tmp_path, mosquitto.url, [http_target(web, "1s")], mqtt={"ack_timeout": "1s"}
    )
    agent = agent_process(config)
    agent.start()
    await acker.wait(lambda: acker.batches, 30, "a first batch")
    epoch = acker.batches[0].epoch
    await acker.wait(lambda: acker.copies(epoch, 1) >= 2, 20, "seq 1 sent again")
    count, low, _ = spool_state(agent.spool_path)
    assert low == 1 and count >= 1, "unacked results stay in the spool"
    acker.hold = False
    await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 1, 30, "the spool to drain")
    assert "no ack within ack_timeout" in agent.log()
    await agent.astop()


async def test_collector_online_triggers_resend(tmp_path, mosquitto, acker, agent_process, web):
    acker.hold = True
    config = agent_config(
        tmp_path, mosquitto.url, [http_target(web, "1s")], mqtt={"ack_timeout": "10m"}
    )
    agent = agent_process(config)
    agent.start()
    await acker.wait(lambda: acker.batches, 30, "a first batch")
    epoch = acker.batches[0].epoch
    await asyncio.sleep(1.0)  # time passes on purpose: no re-send before ack_timeout (10 min)
    assert acker.copies(epoch, 1) == 1
    await acker.publish(COLLECTOR_STATUS_TOPIC, b"online", retain=True)
    await acker.wait(lambda: acker.copies(epoch, 1) >= 2, 10, "seq 1 sent again")
    await acker.publish(COLLECTOR_STATUS_TOPIC, b"", retain=True)  # clear the retained flag
    await agent.astop()


async def test_killed_agent_resends_in_same_epoch(tmp_path, mosquitto, acker, agent_process, web):
    acker.hold = True
    config = agent_config(
        tmp_path, mosquitto.url, [http_target(web, "100ms")], mqtt={"ack_timeout": "10m"}
    )
    agent = agent_process(config)
    agent.start()
    await acker.wait(lambda: len(acker.received) >= 5, 30, "5 results")
    epoch = acker.batches[0].epoch
    await agent.astop(signal.SIGKILL)
    count, low, spool_epoch = spool_state(agent.spool_path)
    assert (low, spool_epoch) == (1, epoch) and count >= 5
    before = {seq: acker.copies(epoch, seq) for seq in acker.seqs(epoch)}
    acker.hold = False
    agent.start()
    await acker.wait(lambda: acker.copies(epoch, 1) > before[1], 30, "seq 1 re-sent")
    await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 2, 30, "the spool to drain")
    await agent.astop()
    epochs = {b.epoch for b in acker.batches}
    assert epochs == {epoch}
    seqs = acker.seqs(epoch)
    assert seqs == set(range(1, max(seqs) + 1)), "numbering continues after the restart"


async def test_deleted_spool_starts_new_epoch_at_seq_1(
    tmp_path, mosquitto, acker, agent_process, web
):
    config = agent_config(tmp_path, mosquitto.url, [http_target(web, "200ms")])
    agent = agent_process(config)
    agent.start()
    await acker.wait(lambda: len(acker.received) >= 3, 30, "3 results")
    await agent.astop()
    first_epoch = acker.batches[0].epoch
    for leftover in agent.spool_path.parent.glob(agent.spool_path.name + "*"):
        leftover.unlink()
    agent.start()
    await acker.wait(lambda: any(b.epoch != first_epoch for b in acker.batches), 30, "a new epoch")
    await agent.astop()
    new = next(b for b in acker.batches if b.epoch != first_epoch)
    assert new.results[0].seq == 1 and new.first_seq == 1


async def test_dropped_results_move_first_seq(tmp_path, mosquitto, acker, agent_process, web):
    """A spool too small for the backlog drops the oldest; batches say where it starts."""
    acker.hold = True
    config = agent_config(
        tmp_path,
        mosquitto.url,
        [http_target(web, "100ms")],
        spool={"max_bytes": 3000},
        mqtt={"ack_timeout": "10m"},
    )
    agent = agent_process(config)
    agent.start()
    await acker.wait(lambda: any(b.first_seq > 1 for b in acker.batches), 30, "first_seq > 1")
    acker.hold = False
    await acker.publish(COLLECTOR_STATUS_TOPIC, b"online")  # prompt a re-send to be acked
    await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 3, 30, "acks past the gap")
    await agent.astop()
    assert "spool full" in agent.log()


def spool_dropped(path: Path) -> int:
    """Results the agent's spool dropped so far, read from its file."""
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'dropped'").fetchone()
        return int(row[0]) if row else 0
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


async def test_spool_full_is_logged_once_a_minute(tmp_path, mosquitto, acker, agent_process, web):
    """A full spool drops at nearly every new result: one line, not one per result."""
    acker.hold = True
    config = agent_config(
        tmp_path,
        mosquitto.url,
        [{**http_target(web, "100ms"), "dns": {"interval": "100ms"}}],
        spool={"max_bytes": 3000},
        mqtt={"ack_timeout": "10m"},
    )
    agent = agent_process(config)
    agent.start()
    await await_until(lambda: spool_dropped(agent.spool_path) >= 40, 60, "40 results dropped")
    await agent.astop()
    lines = [x for x in agent.log().splitlines() if "spool full" in x]
    assert len(lines) == 1, f"{len(lines)} lines for {spool_dropped(agent.spool_path)} drops"


def test_result_struct_rejects_garbage() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(
            {"seq": 0, "ts": 1.0, "probe": "http", "target": "t", "role": "dui", "success": True},
            Result,
        )
