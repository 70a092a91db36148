"""The MQTT link over TLS with a password file, wrong credentials, foreign acks."""

from __future__ import annotations

import asyncio
import subprocess
import time

import aiomqtt
import msgspec
import pytest
import trustme

from tests.helpers.acker import Acker, TlsAcker
from tests.helpers.broker import Mosquitto, free_port
from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server
from tests.test_delivery import http_target, spool_state
from wire.schema import COLLECTOR_STATUS_TOPIC, AgentStatus, ack_topic, encode

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def tls_broker(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "cert.pem", "key": tmp_path / "key.pem"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    for user, password in (("og-test.site-a.poste-1", "s3cret-agent"), ("acker", "acker-pw")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = Mosquitto(
        broker_dir, tls={k: str(v) for k, v in paths.items()}, extra=f"password_file {passwd}\n"
    )
    broker.conf.write_text(
        broker.conf.read_text().replace("allow_anonymous true", "allow_anonymous false")
    )
    broker.start()
    yield broker, paths["ca"]
    broker.stop()


async def test_tls_and_password_file(tmp_path, tls_broker, agent_process) -> None:
    broker, ca_file = tls_broker
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("s3cret-agent\n")
    with http_server() as url:
        config = agent_config(
            tmp_path,
            f"mqtts://127.0.0.1:{broker.port}",
            [http_target(url)],
            mqtt={"ca_file": str(ca_file), "password_file": str(password_file)},
        )
        async with TlsAcker(broker.port, ca_file) as acker:
            agent = agent_process(config)
            agent.start()
            await acker.wait(lambda: len(acker.received) >= 3, 30, "results over TLS")
            await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 2, 30, "acks over TLS")
            await agent.astop()
    assert "s3cret-agent" not in agent.log()


async def test_wrong_password_keeps_results_and_retries(tmp_path, tls_broker, agent_process):
    broker, ca_file = tls_broker
    password_file = tmp_path / "mqtt-password"
    password_file.write_text("wrong-password\n")
    with http_server() as url:
        config = agent_config(
            tmp_path,
            f"mqtts://127.0.0.1:{broker.port}",
            [http_target(url)],
            mqtt={"ca_file": str(ca_file), "password_file": str(password_file)},
        )
        agent = agent_process(config)
        agent.start()
        await await_until(lambda: spool_state(agent.spool_path)[0] >= 5, 30, "5 results spooled")
        assert agent.proc.poll() is None, "the agent keeps running"
        await agent.astop()
    count, low, _ = spool_state(agent.spool_path)
    assert count >= 5 and low == 1
    log = agent.log()
    assert "mqtt connect failed" in log and "cause=auth" in log
    assert "mqtt connection lost" not in log and "wrong-password" not in log


async def test_ack_of_another_epoch_is_ignored(tmp_path, mosquitto, agent_process) -> None:
    with http_server() as url:
        config = agent_config(
            tmp_path, mosquitto.url, [http_target(url)], mqtt={"ack_timeout": "10m"}
        )
        async with Acker(mosquitto.port) as acker:
            acker.hold = True
            agent = agent_process(config)
            agent.start()
            await acker.wait(lambda: len(acker.received) >= 3, 30, "3 results")
            foreign = {"v": 1, "epoch": "0123456789abcdef", "seq": 10**6, "ts": time.time()}
            await acker.publish(ack_topic("og-test", "site-a", "poste-1"), encode(foreign))
            await acker.publish(ack_topic("og-test", "site-a", "poste-1"), b"{not json")
            read = ("ack for another epoch ignored", "bad ack ignored")
            await await_until(
                lambda: all(line in agent.log() for line in read), 10, "both acks read"
            )
            count, low, _ = spool_state(agent.spool_path)
            assert low == 1 and count >= 3
            assert agent.proc.poll() is None
            await agent.astop()
    assert "bad ack ignored" in agent.log()


AGENT_ACK = ack_topic("og-test", "site-a", "poste-1")
AGENT_STATUS = "dui/v1/og-test/site-a/poste-1/status"
# An ack of another epoch: the agent logs it at debug, which tells the test that every
# message published before it on the same connection was read.
SENTINEL = encode({"v": 1, "epoch": "0123456789abcdef", "seq": 1, "ts": 0.0})


async def retained_status(port: int) -> AgentStatus:
    """The agent's retained status as the broker holds it now."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(AGENT_STATUS, qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                return msgspec.json.decode(bytes(message.payload), type=AgentStatus)
    raise AssertionError("no status")


async def test_forged_ack_deletes_nothing(tmp_path, mosquitto, acker, agent_process) -> None:
    """Another client acks far above what the agent sent: nothing leaves the spool, the
    ack is counted, and the collector's genuine acks are still applied afterwards."""
    acker.hold = True
    with http_server() as url:
        config = agent_config(
            tmp_path, mosquitto.url, [http_target(url, "300ms")], mqtt={"ack_timeout": "10m"}
        )
        agent = agent_process(config)
        agent.start()
        await acker.wait(lambda: len(acker.received) >= 3, 30, "3 results")
        epoch = acker.batches[0].epoch
        forged = {"v": 1, "epoch": epoch, "seq": 10**6, "ts": time.time()}
        await acker.publish(AGENT_ACK, encode(forged))
        await acker.publish(AGENT_ACK, SENTINEL)  # read after the forged one
        await await_until(lambda: "ack for another epoch ignored" in agent.log(), 10, "acks read")
        count, low, _ = spool_state(agent.spool_path)
        assert low == 1 and count >= 3, f"a forged ack deleted results: {count} left from {low}"
        assert "ack above what was sent ignored" in agent.log()
        status = await await_until(
            lambda: retained_status(mosquitto.port),
            20,
            "ignored_acks in the status",
            step=0.5,
            until=lambda s: (s.ignored_acks or 0) >= 1,
        )
        assert status.ignored_acks == 1
        acker.hold = False  # the next batch is acked for real
        await acker.wait(lambda: acker.acked[epoch] >= 3, 20, "a genuine ack")
        await await_until(lambda: spool_state(agent.spool_path)[0] <= 3, 20, "the spool to drain")
        await agent.astop()


async def test_a_replayed_or_absurd_ack_time_leaves_the_clock_offset(
    tmp_path, mosquitto, acker, agent_process
) -> None:
    """An ack that moves nothing (seq 0) cannot set the clock offset: with ts two hours
    ahead, every later result would be rejected as future; with ts 0, every batch as
    out of bounds. Nor can a genuine-looking ack whose time is past the wire's bound."""
    with http_server() as url:
        config = agent_config(
            tmp_path, mosquitto.url, [http_target(url, "300ms")], mqtt={"ack_timeout": "2s"}
        )
        agent = agent_process(config)
        agent.start()
        await acker.wait(lambda: len(acker.batches) >= 3, 30, "3 batches")
        epoch = acker.batches[0].epoch
        acker.hold = True  # no genuine ack after these: only they could set the offset
        for ts in (time.time() + 7200, 0.0):
            await acker.publish(AGENT_ACK, encode({"v": 1, "epoch": epoch, "seq": 0, "ts": ts}))
        await acker.publish(AGENT_ACK, SENTINEL)  # read after the forged ones
        await await_until(lambda: "ack for another epoch ignored" in agent.log(), 10, "acks read")
        seen = len(acker.batches)
        await acker.wait(lambda: len(acker.batches) >= seen + 2, 20, "batches after")
        offsets = [b.clock_offset_seconds for b in acker.batches[seen:]]
        assert all(o is not None and abs(o) < 60 for o in offsets), offsets
        assert not acker.errors, acker.errors[:2]
        await agent.astop()


async def test_forged_online_resends_once_per_ack_timeout(
    tmp_path, mosquitto, acker, agent_process
) -> None:
    """Each `online` on the collector's status topic may come from anyone: N of them
    within ack_timeout make one re-send, not N."""
    acker.hold = True
    with http_server() as url:
        config = agent_config(
            tmp_path, mosquitto.url, [http_target(url, "200ms")], mqtt={"ack_timeout": "10m"}
        )
        agent = agent_process(config)
        agent.start()
        await acker.wait(lambda: len(acker.received) >= 3, 30, "3 results")
        epoch = acker.batches[0].epoch
        for n in range(1, 7):
            await acker.publish(COLLECTOR_STATUS_TOPIC, b"online", retain=True)
            await acker.publish(AGENT_ACK, SENTINEL)  # read after the `online`
            await await_until(
                lambda n=n: agent.log().count("ack for another epoch ignored") >= n,
                10,
                f"online #{n} read",
            )
            batches = len(acker.batches)  # the next batch shows whether it rewound
            await acker.wait(lambda b=batches: len(acker.batches) > b, 10, "a batch after it")
        await acker.publish(COLLECTOR_STATUS_TOPIC, b"", retain=True)
        await agent.astop()
    assert acker.copies(epoch, 1) == 2, "one re-send for six `online` within ack_timeout"


async def test_tls_failure_is_a_failure_to_connect(tmp_path, tls_broker, agent_process) -> None:
    """A broker whose certificate the agent does not trust: it never connected, and the
    log says so once with the reason, not "connection lost" at every retry."""
    broker, _ = tls_broker
    with http_server() as url:
        config = agent_config(tmp_path, f"mqtts://127.0.0.1:{broker.port}", [http_target(url)])
        agent = agent_process(config)
        agent.start()
        await await_until(
            lambda: "mqtt connect failed" in agent.log(), 20, "the connect failure", step=0.2
        )
        attempts = broker.workdir / "mosquitto.log"
        await await_until(  # 1 + 2 + 4 s of back-off
            lambda: attempts.read_text().count("unknown ca") >= 3, 30, "3 attempts", step=0.2
        )
        await agent.astop()
    log = agent.log()
    line = next(x for x in log.splitlines() if "mqtt connect failed" in x)
    assert "cause=tls" in line and "certificate verify failed" in line
    assert "mqtt connection lost" not in log and log.count("mqtt connect failed") == 1


async def test_refused_connect_names_its_cause(tmp_path, agent_process) -> None:
    closed = free_port()
    with http_server() as url:
        agent = agent_process(
            agent_config(tmp_path, f"mqtt://127.0.0.1:{closed}", [http_target(url)])
        )
        agent.start()
        await await_until(lambda: "mqtt connect failed" in agent.log(), 20, "the failure")
        await agent.astop()
    assert "cause=refused" in agent.log()
