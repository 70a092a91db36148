"""The embedded MQTT broker (amqtt, in-process) used when no `mqtt.url` is set.

For trials and single sites: loopback by default, anonymous. Production uses
Mosquitto as configured in deploy/.
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
    quiet = logging.getLogger("amqtt.broker")
    quiet.setLevel(logging.CRITICAL)  # a start failure is said once below, not as a traceback
    try:
        await broker.start()
    except Exception as exc:  # amqtt wraps the OSError of a port in use in its BrokerError
        raise OSError(f"mqtt.listen {listen}: the embedded broker cannot listen: {exc}") from None
    finally:
        quiet.setLevel(logging.ERROR)
    log.info("embedded broker listening", extra=fields(listen=listen))
    try:
        yield
    finally:
        await broker.shutdown()
