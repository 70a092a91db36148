"""The MQTT link over TLS with a password file, wrong credentials, foreign acks."""

from __future__ import annotations

import ssl
import subprocess
import time

import aiomqtt
import pytest
import trustme

from tests.helpers.acker import Acker
from tests.helpers.broker import Mosquitto
from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server
from tests.test_delivery import http_target, spool_state
from wire.schema import ack_topic, encode

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


class TlsAcker(Acker):
    """The stand-in collector, connecting over TLS with its own account."""

    def __init__(self, port: int, ca_file) -> None:
        super().__init__(port)
        self.ca_file = ca_file

    def client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier="test-acker",
            username="acker",
            password="acker-pw",
            clean_session=False,
            tls_context=ssl.create_default_context(cafile=str(self.ca_file)),
        )


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
    assert "mqtt connection lost" in log and "wrong-password" not in log


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
