"""deploy/mosquitto/mosquitto.conf as shipped, run for a test: its in-container paths
rewritten to the test's folder, its listeners on free loopback ports, a certificate made
with trustme; and the collector config whose `agents` commands keep its accounts."""

from __future__ import annotations

import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import trustme
import yaml

from tests.helpers import ROOT
from tests.helpers.broker import Mosquitto
from tests.helpers.cli import collector_cli

DEPLOY_CONF = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"


@dataclass
class DeployedBroker:
    broker: Mosquitto
    ca: Path
    collector_config: Path  # the collector config: mqtt to this broker, broker: its files
    collector_password: Path

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}"

    def agents(self, *args: str) -> None:
        """`dui-collector agents ARGS` against this broker; it must succeed."""
        done = collector_cli("agents", *args, "--config", str(self.collector_config))
        assert done.returncode == 0, done.stderr

    def client(self, username: str, password: str, **kwargs) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.broker.port,
            username=username,
            password=password,
            tls_context=ssl.create_default_context(cafile=str(self.ca)),
            **kwargs,
        )


def deployed_conf(text: str, root: Path, port: int, log: Path) -> str:
    """The shipped config with the test's paths and ports; nothing else changed."""
    text = text.replace("/mosquitto/certs/", f"{root}/certs/")
    text = text.replace("/mosquitto/config/", f"{root}/config/")
    text = text.replace("/mosquitto/data/", f"{root}/data/")
    for line, test_line in (
        ("listener 8883", f"listener {port} 127.0.0.1"),
        ("log_dest stdout", f"log_dest file {log}"),
    ):
        text, count = re.subn(rf"^{line}$", test_line, text, flags=re.M)
        assert count == 1, f"{DEPLOY_CONF} no longer has `{line}`: update this helper"
    if os.geteuid() == 0:  # see Mosquitto: root would drop to `mosquitto`
        text += "user root\n"
    return text


def start_deployed(root: Path) -> DeployedBroker:
    """Mosquitto with the shipped config and empty accounts, started; the collector
    config for `agents` written (reload: SIGHUP to this broker)."""
    for name in ("certs", "config", "data"):
        (root / name).mkdir(parents=True)
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(root / "certs" / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(root / "certs" / "server.pem"))
    cert.private_key_pem.write_to_path(str(root / "certs" / "server.key"))
    for name in ("passwords", "acl"):
        (root / "config" / name).write_text("")
    broker = Mosquitto(root)
    broker.conf.write_text(deployed_conf(DEPLOY_CONF.read_text(), root, broker.port, broker.log))
    broker.start()
    assert broker.proc is not None
    password = root / "collector-password"
    config = {
        "mqtt": {
            "url": f"mqtts://127.0.0.1:{broker.port}",
            "username": "dui-collector",
            "password_file": str(password),
            "ca_file": str(root / "certs" / "ca.pem"),
        },
        "ledger": {"url": f"sqlite:///{root / 'ledger.db'}"},
        "agents": {"stale_after": "1m"},
        "broker": {
            "password_file": str(root / "config" / "passwords"),
            "acl_file": str(root / "config" / "acl"),
            "public_url": f"mqtts://127.0.0.1:{broker.port}",
            "ca_file": str(root / "certs" / "ca.pem"),
            "reload": ["kill", "-HUP", str(broker.proc.pid)],
        },
    }
    collector_config = root / "collector.yaml"
    collector_config.write_text(yaml.safe_dump(config))
    return DeployedBroker(broker, root / "certs" / "ca.pem", collector_config, password)
