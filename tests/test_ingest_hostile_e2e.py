"""Through real Mosquitto and the real collector: a publisher sending seq ≥ 2^63 while a
steady agent publishes batches; every batch of the steady agent is acked in time."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt

from tests.helpers.batches import batch_json, results_topic
from tests.helpers.poll import await_until

EPOCH = "0123456789abcdef"
BATCHES = 15
ACK_WAIT = 3.0  # a batch not acked within this is blocked


def result(seq: int) -> dict:
    return {
        "seq": seq,
        "ts": time.time() - 5,
        "probe": "http",
        "target": "dui-login",
        "role": "dui",
        "success": True,
        "duration_seconds": 0.2,
    }


def hostile(n: int) -> tuple[str, bytes]:
    """A huge seq in a result, or a huge first_seq: both are past what SQLite holds."""
    agent = f"evil-{n % 5}"
    if n % 2:
        payload = batch_json([result(2**63 + n)], epoch=EPOCH, agent=agent)
    else:
        payload = batch_json([result(1)], epoch=EPOCH, agent=agent, first_seq=2**63 + n)
    return results_topic("og", "site-a", agent), payload


async def flood(port: int, done: asyncio.Event) -> int:
    sent = 0
    async with aiomqtt.Client("127.0.0.1", port, identifier="hostile") as client:
        while not done.is_set() and sent < 20_000:
            await client.publish(*hostile(sent), qos=1)
            sent += 1
            await asyncio.sleep(0.002)
    return sent


async def steady(port: int) -> int:
    """Publishes BATCHES batches one after the other; returns how many were blocked."""
    blocked = 0
    topic = results_topic("og", "site-a", "steady")
    async with aiomqtt.Client("127.0.0.1", port, identifier="steady") as client:
        await client.subscribe("dui/v1/og/site-a/steady/ack", qos=1)
        for seq in range(1, BATCHES + 1):
            payload = batch_json([result(seq)], epoch=EPOCH, agent="steady", first_seq=1)
            await client.publish(topic, payload, qos=1)
            try:
                async with asyncio.timeout(ACK_WAIT):
                    async for message in client.messages:
                        if json.loads(message.payload)["seq"] >= seq:
                            break
            except TimeoutError:
                blocked += 1
    return blocked


async def test_hostile_seq_never_blocks_a_steady_agent(mosquitto, collector_process) -> None:
    collector = collector_process({"mqtt": {"url": mosquitto.url}})
    collector.start()
    try:
        done = asyncio.Event()
        flooding = asyncio.create_task(flood(mosquitto.port, done))
        await asyncio.sleep(0.3)  # the flood is under way
        blocked = await steady(mosquitto.port)
        done.set()
        sent = await flooding
        print(f"steady batches blocked: {blocked}/{BATCHES}; hostile messages: {sent}")
        assert blocked == 0

        async def rejected() -> float:
            m = await asyncio.to_thread(collector.metrics)
            return m.get('dui_collector_rejected_messages_total{reason="invalid"}', 0) + m.get(
                'dui_collector_rejected_results_total{reason="schema"}', 0
            )

        await await_until(rejected, 20, "every hostile message counted", until=lambda n: n >= sent)
        m = collector.metrics()
        assert m.get('dui_collector_rejected_messages_total{reason="internal"}', 0) == 0
        assert "Traceback" not in collector.log()
    finally:
        await collector.astop()


async def test_oversized_status_and_too_many_agents(mosquitto, collector_process) -> None:
    """A 5 MB status once made every /metrics scrape carry it; 30 new ids beyond
    agents.max_agents once each made series of their own."""
    config = {"mqtt": {"url": mosquitto.url}, "agents": {"max_agents": 10}}
    collector = collector_process(config)
    collector.start()
    try:
        big = json.dumps({"v": 1, "state": "online", "os": "x" * 5_000_000}).encode()
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="hostile") as client:
            await client.publish("dui/v1/og/site-a/big/status", big, qos=1)
            for n in range(40):
                status = json.dumps({"v": 1, "state": "online", "version": "1"}).encode()
                await client.publish(f"dui/v1/og/site-a/id-{n}/status", status, qos=1)

        async def counted() -> dict[str, float]:
            return await asyncio.to_thread(collector.metrics)

        key = 'dui_collector_rejected_messages_total{reason="%s"}'
        m = await await_until(
            counted, 20, "the statuses counted", until=lambda m: m.get(key % "max_agents") == 30
        )
        assert m[key % "too_large"] == 1
        agents = [k for k in m if k.startswith("dui_agent_up{")]
        assert len(agents) == 10
        status, text = await asyncio.to_thread(collector.get, "/metrics")
        print(f"/metrics: {len(text)} bytes, {len(agents)} agents")
        assert status == 200 and len(text) < 100_000
    finally:
        await collector.astop()
