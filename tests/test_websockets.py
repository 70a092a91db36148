"""MQTT over WebSockets (`ws://` on loopback, `wss://` with TLS) to a real Mosquitto."""

from __future__ import annotations

import ssl

import pytest
import trustme

from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server
from tests.helpers.ws_bridge import ws_bridge
from tests.test_delivery import http_target, spool_state

pytestmark = pytest.mark.timeout(120)


async def test_ws_loopback(tmp_path, mosquitto, acker, agent_process) -> None:
    async with ws_bridge(mosquitto.port) as (port, bridge):
        with http_server() as url:
            agent = agent_process(
                agent_config(tmp_path, f"ws://127.0.0.1:{port}/mqtt", [http_target(url)])
            )
            agent.start()
            await acker.wait(lambda: len(acker.received) >= 3, 30, "results over ws://")
            await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 2, 30, "acks over ws://")
            await agent.astop()
    assert bridge["connections"] >= 1


async def test_wss_with_tls(tmp_path, mosquitto, acker, agent_process) -> None:
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with ws_bridge(mosquitto.port, server_ctx) as (port, bridge):
        with http_server() as url:
            config = agent_config(
                tmp_path,
                f"wss://127.0.0.1:{port}/mqtt",
                [http_target(url)],
                mqtt={"ca_file": str(ca_file)},
            )
            agent = agent_process(config)
            agent.start()
            await acker.wait(lambda: len(acker.received) >= 3, 30, "results over wss://")
            await acker.wait(lambda: spool_state(agent.spool_path)[0] <= 2, 30, "acks over wss://")
            await agent.astop()
    assert bridge["connections"] >= 1
