"""The embedded MQTT broker (amqtt, in-process) used when no `mqtt.url` is set.

For trials and single sites: loopback by default, anonymous. Production uses
Mosquitto as configured in deploy/ .
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from collector.config import split_host_port
from runtime.logs import fields

log = logging.getLogger("dui.collector.broker")


@contextlib.asynccontextmanager
async def embedded_broker(listen: str) -> AsyncIterator[None]:
    from amqtt.broker import Broker

    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.ERROR)
    host, port = split_host_port(listen)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    log.info("embedded broker listening", extra=fields(listen=listen))
    try:
        yield
    finally:
        await broker.shutdown()
