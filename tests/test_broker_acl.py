"""The shipped Mosquitto config with accounts made by `dui-collector agents add`: an
agent is acked over TLS, reaches only its own topics, cannot forge acks or the
collector's status, and is locked out once removed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import aiomqtt
import pytest
import yaml

from tests.helpers.acker import TlsAcker
from tests.helpers.batches import batch_json, results_topic
from tests.helpers.deploy_broker import DeployedBroker, start_deployed
from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config, ledger_seqs
from tests.helpers.servers import http_server
from tests.test_delivery import http_target, spool_state
from wire.schema import COLLECTOR_STATUS_TOPIC, RESULTS_SUBSCRIPTION, agent_topics, encode

pytestmark = pytest.mark.timeout(120)
ONE, TWO = ("og-test", "site-a", "poste-1"), ("og-test", "site-b", "poste-2")
# An ack of another epoch: the agent logs it, which tells the test that every message
# published before it on its ack topic was read.
SENTINEL = encode({"v": 1, "epoch": "0123456789abcdef", "seq": 1, "ts": 0.0})


@pytest.fixture
def deployed(tmp_path: Path):
    stack = start_deployed(tmp_path / "deploy")
    for org, site, agent in (ONE, TWO):
        out = tmp_path / f"{agent}-files"
        stack.agents("add", "--org", org, "--site", site, "--agent", agent, "--out", str(out))
    yield stack
    stack.broker.stop()


def password(tmp_path: Path, ids: tuple[str, str, str]) -> str:
    return (tmp_path / f"{ids[2]}-files" / "mqtt-password").read_text().strip()


def user(ids: tuple[str, str, str]) -> str:
    return ".".join(ids)


def generated_agent(tmp_path: Path, ids: tuple[str, str, str], url: str) -> dict:
    """The agent.yaml `agents add` wrote, with a test target and spool."""
    folder = tmp_path / f"{ids[2]}-files"
    written = yaml.safe_load((folder / "agent.yaml").read_text())
    mqtt = written["mqtt"] | {
        "password_file": str(folder / written["mqtt"]["password_file"]),
        "ca_file": str(folder / written["mqtt"]["ca_file"]),
        "ack_timeout": "10m",
    }
    config = agent_config(tmp_path, mqtt["url"], [http_target(url, "300ms")], mqtt=mqtt)
    return config | {k: written[k] for k in ("org", "site", "agent")}


async def until_sentinel(client: aiomqtt.Client, topic: str) -> list[tuple[str, bytes]]:
    """Every message received up to the sentinel published on `topic`."""
    seen: list[tuple[str, bytes]] = []
    async with asyncio.timeout(15):
        async for message in client.messages:
            seen.append((message.topic.value, bytes(message.payload)))
            if message.topic.value == topic and bytes(message.payload) == b"sentinel":
                return seen
    raise AssertionError(f"no sentinel on {topic}")


async def test_agent_with_its_own_account_is_acked_over_tls(
    tmp_path, deployed: DeployedBroker, collector_process, agent_process
) -> None:
    collector = collector_process(yaml.safe_load(deployed.collector_config.read_text()))
    collector.start()
    with http_server() as url:
        agent = agent_process(generated_agent(tmp_path, ONE, url))
        agent.start()
        await await_until(lambda: sum(map(len, ledger_seqs(collector).values())) >= 3, 30, "stored")
        await await_until(lambda: spool_state(agent.spool_path)[0] <= 2, 30, "acked")
        await agent.astop()
    await collector.astop()
    assert password(tmp_path, ONE) not in agent.log() + collector.log()


async def test_an_agent_reaches_only_its_own_topics(tmp_path, deployed: DeployedBroker) -> None:
    """With poste-1's password: results on poste-2's topic, an ack for poste-2 and a
    retained `online` as the collector are refused (the connection closed) and reach
    nobody; its own results reach the collector."""
    collector_pw = deployed.collector_password.read_text().strip()
    two_topics = agent_topics(*TWO)
    async with (
        deployed.client("dui-collector", collector_pw) as collector,
        deployed.client(user(TWO), password(tmp_path, TWO)) as two,
    ):
        await collector.subscribe(RESULTS_SUBSCRIPTION, qos=1)
        # the collector is away: agents must not be told it is back by anyone else
        await collector.publish(COLLECTOR_STATUS_TOPIC, b"offline", qos=1, retain=True)
        await two.subscribe(two_topics["ack"], qos=1)
        await two.subscribe(COLLECTOR_STATUS_TOPIC, qos=1)
        assert (await until_sentinel_after(two, collector, COLLECTOR_STATUS_TOPIC))[0] == (
            COLLECTOR_STATUS_TOPIC,
            b"offline",
        )
        forged = [
            (two_topics["results"], b'{"forged": 1}', False),
            (two_topics["ack"], b'{"forged": 2}', False),
            (COLLECTOR_STATUS_TOPIC, b"online", True),
        ]
        for topic, payload, retain in forged:
            attacker = deployed.client(user(ONE), password(tmp_path, ONE))
            await publish_refused(attacker, topic, payload, retain)
        async with deployed.client(user(ONE), password(tmp_path, ONE)) as one:
            await one.publish(agent_topics(*ONE)["results"], b'{"own": 1}', qos=1)
        seen = await until_sentinel_after(collector, two, two_topics["results"])
        assert seen == [(agent_topics(*ONE)["results"], b'{"own": 1}')], seen
        seen = await until_sentinel_after(two, collector, two_topics["ack"])
        assert seen == [], seen
        seen = await until_sentinel_after(two, collector, COLLECTOR_STATUS_TOPIC)
        assert seen == [], seen
    # the retained status is still the collector's, for an agent connecting now
    async with deployed.client(user(TWO), password(tmp_path, TWO)) as late:
        await late.subscribe(COLLECTOR_STATUS_TOPIC, qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(late.messages))
        assert bytes(message.payload) == b"offline"


async def until_sentinel_after(
    reader: aiomqtt.Client, writer: aiomqtt.Client, topic: str
) -> list[tuple[str, bytes]]:
    """What `reader` received before `writer` (allowed on `topic`) published a sentinel
    there: QoS 1 publishes are handled in order, so anything sent earlier came first."""
    await writer.publish(topic, b"sentinel", qos=1)
    return (await until_sentinel(reader, topic))[:-1]


async def publish_refused(client: aiomqtt.Client, topic: str, payload: bytes, retain: bool) -> None:
    """Mosquitto 2.0 answers a publish its ACL denies by closing the connection."""
    async with client:
        with contextlib.suppress(aiomqtt.MqttError):  # closed before or after the PUBACK
            await client.publish(topic, payload, qos=1, retain=retain)
        await closed(client)


async def test_a_forged_ack_from_another_agent_deletes_nothing(
    tmp_path, deployed: DeployedBroker, agent_process
) -> None:
    """poste-2 acks far above what poste-1 sent, on poste-1's ack topic: refused; the
    collector's own ack (a sentinel of another epoch) arrives after it, and poste-1's
    spool still holds everything."""
    collector_pw = deployed.collector_password.read_text().strip()
    with http_server() as url:
        agent = agent_process(generated_agent(tmp_path, ONE, url))
        async with TlsAcker(
            deployed.broker.port, deployed.ca, "dui-collector", collector_pw
        ) as acker:
            acker.hold = True
            agent.start()
            await acker.wait(lambda: len(acker.received) >= 3, 30, "3 results")
            epoch = acker.batches[0].epoch
            forged = encode({"v": 1, "epoch": epoch, "seq": 10**6, "ts": time.time()})
            attacker = deployed.client(user(TWO), password(tmp_path, TWO))
            await publish_refused(attacker, agent_topics(*ONE)["ack"], forged, False)
            await acker.publish(agent_topics(*ONE)["ack"], SENTINEL)
            await await_until(
                lambda: "ack for another epoch ignored" in agent.log(), 10, "the sentinel read"
            )
            count, low, _ = spool_state(agent.spool_path)
            await agent.astop()
    assert low == 1 and count >= 3, f"a forged ack deleted results: {count} left from {low}"
    assert "ack above what was sent ignored" not in agent.log(), "the forged ack arrived"


async def test_wrong_password_removed_and_rotated_accounts_are_refused(
    tmp_path, deployed: DeployedBroker
) -> None:
    with pytest.raises(aiomqtt.MqttError, match="authori"):
        async with deployed.client(user(ONE), "not-the-password"):
            pass
    old_one, two_pw = password(tmp_path, ONE), password(tmp_path, TWO)
    async with deployed.client(user(TWO), two_pw) as connected:
        await connected.subscribe(agent_topics(*TWO)["ack"], qos=1)
        org, site, agent = TWO
        deployed.agents("remove", "--org", org, "--site", site, "--agent", agent)
        await closed(connected)  # by the reload
    with pytest.raises(aiomqtt.MqttError, match="authori"):
        async with deployed.client(user(TWO), two_pw):
            pass
    org, site, agent = ONE
    out = tmp_path / f"{agent}-files"
    async with deployed.client(user(ONE), old_one) as connected:
        await connected.subscribe(agent_topics(*ONE)["ack"], qos=1)
        rotate = ("--rotate", "--org", org, "--site", site, "--agent", agent, "--out", str(out))
        deployed.agents("add", *rotate)
        await closed(connected)  # by the reload: its password is no longer valid
    assert password(tmp_path, ONE) != old_one
    with pytest.raises(aiomqtt.MqttError, match="authori"):
        async with deployed.client(user(ONE), old_one):
            pass
    async with deployed.client(user(ONE), password(tmp_path, ONE)) as rotated:
        await rotated.publish(agent_topics(*ONE)["status"], b"{}", qos=1)


async def closed(client: aiomqtt.Client) -> None:
    """The broker closes `client`'s connection within 10 s."""
    with pytest.raises(aiomqtt.MqttError):
        async with asyncio.timeout(10):
            async for _ in client.messages:
                pass


async def test_the_collector_stores_nothing_posted_for_another_agent(
    tmp_path, deployed: DeployedBroker, collector_process
) -> None:
    """A valid batch for poste-2, posted with poste-1's password, is refused by the broker;
    poste-1's own batch posted after it is stored, and nothing for poste-2."""
    collector = collector_process(yaml.safe_load(deployed.collector_config.read_text()))
    collector.start()
    result = {"seq": 1, "ts": time.time(), "probe": "http", "target": "dui-login"}
    result |= {"role": "dui", "success": True, "duration_seconds": 0.25}
    forged = batch_json([result], epoch="0000000000000002", org=TWO[0], site=TWO[1], agent=TWO[2])
    attacker = deployed.client(user(ONE), password(tmp_path, ONE))
    await publish_refused(attacker, results_topic(*TWO), forged, False)
    own = batch_json([result], epoch="0000000000000001", org=ONE[0], site=ONE[1], agent=ONE[2])
    async with deployed.client(user(ONE), password(tmp_path, ONE)) as one:
        await one.publish(results_topic(*ONE), own, qos=1)
    await await_until(lambda: ledger_seqs(collector, "poste-1"), 30, "poste-1's batch stored")
    assert ledger_seqs(collector, "poste-2") == {}
    await collector.astop()


async def test_a_running_agent_reconnects_with_its_rotated_password(
    tmp_path, deployed: DeployedBroker, collector_process, agent_process
) -> None:
    """The rotation's reload closes the agent's connection; it reads the new password file
    at its next attempt, and its results go on being stored."""
    collector = collector_process(yaml.safe_load(deployed.collector_config.read_text()))
    collector.start()
    with http_server() as url:
        agent = agent_process(generated_agent(tmp_path, ONE, url))
        agent.start()

        def stored() -> int:
            return sum(map(len, ledger_seqs(collector).values()))

        await await_until(lambda: stored() >= 2, 30, "results stored")
        org, site, name = ONE
        out = tmp_path / f"{name}-files"  # where the running agent reads its password
        await asyncio.to_thread(
            deployed.agents,
            "add",
            *("--rotate", "--org", org, "--site", site, "--agent", name, "--out", str(out)),
        )
        await await_until(lambda: "mqtt connection lost" in agent.log(), 20, "the reload")
        after = stored()
        await await_until(lambda: stored() >= after + 3, 60, "results stored after rotation")
        await agent.astop()
    await collector.astop()


async def test_an_agent_subscribed_to_everything_reads_only_its_own(
    tmp_path, deployed: DeployedBroker
) -> None:
    """poste-1 subscribed to `#` sees poste-2's results and acks not at all; its own ack
    and the collector's status, yes."""
    collector_pw = deployed.collector_password.read_text().strip()
    async with (
        deployed.client(user(ONE), password(tmp_path, ONE)) as one,
        deployed.client("dui-collector", collector_pw) as collector,
        deployed.client(user(TWO), password(tmp_path, TWO)) as two,
    ):
        await one.subscribe("#", qos=1)
        await two.publish(agent_topics(*TWO)["results"], b"{}", qos=1)
        await two.publish(agent_topics(*TWO)["status"], b"{}", qos=1, retain=True)
        await collector.publish(agent_topics(*TWO)["ack"], b"{}", qos=1)
        await collector.publish(COLLECTOR_STATUS_TOPIC, b"online", qos=1)
        await collector.publish(agent_topics(*ONE)["ack"], b"sentinel", qos=1)
        seen = await until_sentinel(one, agent_topics(*ONE)["ack"])
    assert seen == [(COLLECTOR_STATUS_TOPIC, b"online"), (agent_topics(*ONE)["ack"], b"sentinel")]


async def test_another_client_id_takes_over_no_session(tmp_path, deployed: DeployedBroker) -> None:
    """poste-1 connecting with the client id `dui-collector` leaves the collector
    connected: the broker makes every client id the account's name."""
    collector_pw = deployed.collector_password.read_text().strip()
    async with deployed.client("dui-collector", collector_pw, identifier="dui-collector") as real:
        await real.subscribe(agent_topics(*ONE)["results"], qos=1)
        async with deployed.client(
            user(ONE), password(tmp_path, ONE), identifier="dui-collector"
        ) as impostor:
            await impostor.publish(agent_topics(*ONE)["results"], b"sentinel", qos=1)
            seen = await until_sentinel(real, agent_topics(*ONE)["results"])
    assert seen == [(agent_topics(*ONE)["results"], b"sentinel")]
