"""The collector's MQTT link: receives results and statuses, publishes acks and its own
retained `online` status (last will `offline`), reconnecting for as long as it runs.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import aiomqtt

from collector.config import CollectorConfig, split_host_port
from collector.state import State
from runtime.logs import fields
from runtime.mqtt import ClientSettings, Endpoint, keep_connected
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

    def _settings(self) -> ClientSettings:
        mqtt = self.config.mqtt
        if mqtt.url is None:  # the embedded broker
            endpoint = Endpoint("mqtt", *split_host_port(mqtt.listen))
        else:
            endpoint = Endpoint.parse(mqtt.url)
        client_id = mqtt.client_id
        if mqtt.shared_group and client_id == "dui-collector":
            client_id = f"dui-collector-{socket.gethostname().lower()}"
        return ClientSettings(
            endpoint=endpoint,
            client_id=client_id,
            status_topic=COLLECTOR_STATUS_TOPIC,
            offline=b"offline",
            username=mqtt.username,
            password_file=mqtt.password_file,
            ca_file=mqtt.ca_file,
            cert_file=mqtt.cert_file,
            key_file=mqtt.key_file,
            options={
                "max_queued_incoming_messages": 0,
                "max_inflight_messages": ACKS_IN_FLIGHT,
            },
        )

    def _topics(self) -> list[str]:
        group = self.config.mqtt.shared_group
        topics = [RESULTS_SUBSCRIPTION, STATUS_SUBSCRIPTION]
        return [f"$share/{group}/{t}" for t in topics] if group else topics

    async def run(self) -> None:
        await keep_connected(self._settings(), self._session, log, max_backoff=30.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic in self._topics():
            await client.subscribe(topic, qos=1)
        await client.publish(COLLECTOR_STATUS_TOPIC, b"online", qos=1, retain=True)
        self._client, self.state.mqtt_connected = client, True
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
