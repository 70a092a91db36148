"""The collector's MQTT link: receives results and statuses, publishes acks and its own
retained `online` status (last will `offline`), reconnecting for as long as it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import ssl
from urllib.parse import urlsplit

import aiomqtt

from collector.config import CollectorConfig, split_host_port
from collector.state import State
from runtime.logs import fields
from wire.schema import COLLECTOR_STATUS_TOPIC, RESULTS_SUBSCRIPTION

log = logging.getLogger("dui.collector.bus")
STATUS_SUBSCRIPTION = "dui/v1/+/+/+/status"
ACKS_IN_FLIGHT = 500  # acks are published concurrently, not one PUBACK wait at a time


class Bus:
    def __init__(
        self, config: CollectorConfig, state: State, queue: asyncio.Queue[tuple[str, bytes]]
    ) -> None:
        self.config = config
        self.state = state
        self.queue = queue
        self._client: aiomqtt.Client | None = None

    def _make_client(self) -> aiomqtt.Client:
        mqtt = self.config.mqtt
        if mqtt.url is None:
            host, port = split_host_port(mqtt.listen)
            scheme = "mqtt"
        else:
            parts = urlsplit(mqtt.url)
            scheme = parts.scheme
            host = parts.hostname or ""
            port = parts.port or {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}[scheme]
        tls_context = None
        if scheme in ("mqtts", "wss"):
            tls_context = ssl.create_default_context(cafile=mqtt.ca_file)
            if mqtt.cert_file:
                tls_context.load_cert_chain(mqtt.cert_file, mqtt.key_file)
        password = None
        if mqtt.password_file:
            with open(mqtt.password_file, encoding="utf-8") as handle:
                password = handle.read().strip()
        client_id = mqtt.client_id
        if mqtt.shared_group and client_id == "dui-collector":
            client_id = f"dui-collector-{socket.gethostname().lower()}"
        return aiomqtt.Client(
            host,
            port,
            username=mqtt.username,
            password=password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            will=aiomqtt.Will(COLLECTOR_STATUS_TOPIC, b"offline", 1, True),
            transport="websockets" if scheme in ("ws", "wss") else "tcp",
            tls_context=tls_context,
            max_queued_incoming_messages=0,
            max_inflight_messages=ACKS_IN_FLIGHT,
        )

    def _topics(self) -> list[str]:
        group = self.config.mqtt.shared_group
        topics = [RESULTS_SUBSCRIPTION, STATUS_SUBSCRIPTION]
        return [f"$share/{group}/{t}" for t in topics] if group else topics

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                async with self._make_client() as client:
                    for topic in self._topics():
                        await client.subscribe(topic, qos=1)
                    await client.publish(COLLECTOR_STATUS_TOPIC, b"online", qos=1, retain=True)
                    self._client, self.state.mqtt_connected, backoff = client, True, 1.0
                    log.info("mqtt connected", extra=fields(topics=",".join(self._topics())))
                    try:
                        async for message in client.messages:
                            payload = message.payload
                            data = (
                                payload
                                if isinstance(payload, bytes | bytearray)
                                else (str(payload).encode() if payload is not None else b"")
                            )
                            await self.queue.put((message.topic.value, bytes(data)))
                    finally:
                        self._client, self.state.mqtt_connected = None, False
                        if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                            with contextlib.suppress(Exception):
                                await asyncio.wait_for(
                                    client.publish(
                                        COLLECTOR_STATUS_TOPIC, b"offline", qos=1, retain=True
                                    ),
                                    2,
                                )
            except aiomqtt.MqttError as exc:
                log.warning(
                    "mqtt connection lost",
                    extra=fields(reason=str(exc), retry_in=round(backoff, 1)),
                )
            await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
            backoff = min(backoff * 2, 30.0)

    async def publish(self, acks: list[tuple[str, bytes]]) -> None:
        """Send acks; without a connection they are dropped (the agents re-send)."""
        client = self._client
        if client is None:
            return
        try:
            for start in range(0, len(acks), ACKS_IN_FLIGHT):
                chunk = acks[start : start + ACKS_IN_FLIGHT]
                await asyncio.gather(*(client.publish(t, p, qos=1) for t, p in chunk))
        except aiomqtt.MqttError as exc:
            log.warning("acks not sent", extra=fields(reason=str(exc), count=len(acks)))
