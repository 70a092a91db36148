"""The agent's MQTT link: publishes the spool, applies acks, re-sends what is not acked.

The broker's session is an optimisation; the guarantee is the spool plus re-sending
from the oldest unacked result when no ack came within `ack_timeout` (doubling up
to 10 min), on every reconnect, and when the collector announces itself online (at
most once per `ack_timeout`: anyone on the broker can publish that `online`).

Without a broker ACL anyone can also publish on the ack topic, so an ack above the
highest seq published in the epoch (the spool's `sent`) is ignored and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import time
from typing import Any

import aiomqtt

from agent import __version__
from agent.config import AgentConfig
from agent.spool import Spool
from runtime.logs import Throttle, fields
from runtime.mqtt import ClientSettings, keep_connected
from wire.schema import (
    ACK_TIMEOUT_MAX_SECONDS,
    AGENT_BATCH_BYTES,
    COLLECTOR_STATUS_TOPIC,
    MAX_BATCH_RESULTS,
    MAX_OFFSET_SECONDS,
    agent_topics,
    decode_ack,
    encode,
)

log = logging.getLogger("dui.agent.link")

STATUS_EVERY = 60.0
STATUS_SOONEST = 5.0  # a status that has news goes out early, but not more often
LOG_EVERY = 60.0  # repeated warnings: one line a minute with the count left out
PUBLISH_TIMEOUT = 30.0


class Link:
    def __init__(self, config: AgentConfig, spool: Spool) -> None:
        self.config = config
        self.spool = spool
        self.topics = agent_topics(config.org, config.site, config.agent)
        self.clock_offset: float | None = None
        self._base_wait = float(config.mqtt.ack_timeout)
        self._ack_wait = self._base_wait
        self._acked = spool.first_seq() - 1  # everything below the spool is settled
        self._sent = self._acked
        self._outstanding_since: float | None = None
        self._resend_until = 0  # while _sent < this, pace at resend_rate
        self._wakeup = asyncio.Event()
        self._online_rewind_at: float | None = None  # monotonic
        self.ignored_acks = 0
        self._throttle = Throttle(LOG_EVERY)

    # -- called by the scheduler ------------------------------------------------------
    def notify(self) -> None:
        self._wakeup.set()

    # -- connection -----------------------------------------------------------------
    def _settings(self) -> ClientSettings:
        mqtt = self.config.mqtt
        return ClientSettings(
            endpoint=mqtt.endpoint,
            client_id=self.config.client_id,
            status_topic=self.topics["status"],
            offline=encode({"v": 1, "state": "offline"}),
            username=mqtt.username or self.config.client_id,
            password_file=mqtt.password_file,
            ca_file=mqtt.ca_file,
            cert_file=mqtt.cert_file,
            key_file=mqtt.key_file,
            options={"keepalive": int(mqtt.keepalive), "timeout": PUBLISH_TIMEOUT},
        )

    async def run(self) -> None:
        """Stay connected until cancelled; on cancel, say offline if connected."""
        await keep_connected(self._settings(), self._session, log)

    async def _session(self, client: aiomqtt.Client) -> None:
        await client.subscribe(self.topics["ack"], qos=1)
        await client.subscribe(COLLECTOR_STATUS_TOPIC, qos=1)
        log.info("mqtt connected", extra=fields(broker=str(self.config.mqtt.endpoint)))
        await self._publish_online(client)
        self._rewind("reconnect")
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._receive(client))
            tasks.create_task(self._send(client))
            tasks.create_task(self._status_loop(client))

    async def _publish_online(self, client: aiomqtt.Client) -> None:
        status: dict[str, Any] = {
            "v": 1,
            "state": "online",
            "version": __version__,
            "os": f"{platform.system()} {platform.release()}",
            "spool_results": self.spool.count(),
            "dropped_results": self.spool.dropped,
            "ignored_acks": self.ignored_acks,
        }
        await client.publish(self.topics["status"], encode(status), qos=1, retain=True)

    def _news(self) -> tuple[int, int]:
        return self.spool.dropped, self.ignored_acks

    async def _status_loop(self, client: aiomqtt.Client) -> None:
        """Every STATUS_EVERY, or within STATUS_SOONEST of a drop or an ignored ack."""
        told, at = self._news(), time.monotonic()
        while True:
            await asyncio.sleep(STATUS_SOONEST)
            if self._news() != told or time.monotonic() - at >= STATUS_EVERY:
                told, at = self._news(), time.monotonic()
                await self._publish_online(client)

    # -- acks ------------------------------------------------------------------------
    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = bytes(message.payload) if message.payload is not None else b""
            if message.topic.value == COLLECTOR_STATUS_TOPIC:
                if payload.strip().strip(b'"') == b"online":
                    self._collector_online()
                continue
            try:
                ack = decode_ack(payload)
            except ValueError as exc:
                skipped = self._throttle.due("bad ack")
                if skipped is not None:
                    log.warning(
                        "bad ack ignored",
                        extra=fields(reason=str(exc)[:200], similar_left_out=skipped),
                    )
                continue
            if ack.epoch != self.spool.epoch:
                log.debug("ack for another epoch ignored", extra=fields(epoch=ack.epoch))
                continue
            if self._apply_ack(ack.seq):
                self._learn_offset(ack.ts - time.time())

    def _learn_offset(self, offset: float) -> None:
        """The clock offset from an ack that moved the watermark, within the wire's bound:
        a batch carrying an offset out of it would be rejected whole."""
        if abs(offset) <= MAX_OFFSET_SECONDS:
            self.clock_offset = offset
            return
        skipped = self._throttle.due("implausible ack time")
        if skipped is not None:
            log.warning(
                "ack time implausible, clock offset kept",
                extra=fields(offset=offset, similar_left_out=skipped),
            )

    def _apply_ack(self, seq: int) -> bool:
        """Apply an ack of this epoch; True when it moved the watermark (only such an ack
        may set the clock offset: a replayed or forged old one must change nothing)."""
        if seq > self.spool.sent:
            self.ignored_acks += 1
            skipped = self._throttle.due("forged ack")
            if skipped is not None:
                log.warning(
                    "ack above what was sent ignored (another client on the broker?)",
                    extra=fields(
                        seq=seq,
                        sent=self.spool.sent,
                        ignored_acks=self.ignored_acks,
                        similar_left_out=skipped,
                    ),
                )
            return False
        if seq <= self._acked:
            return False
        self.spool.ack(seq)
        self._acked = seq
        self._sent = max(self._sent, seq)
        self._ack_wait = self._base_wait
        self._outstanding_since = time.monotonic() if self._sent > self._acked else None
        return True

    # -- sending -------------------------------------------------------------------------
    def _collector_online(self) -> None:
        """Re-send for the collector's `online`, at most once per ack_timeout."""
        now = time.monotonic()
        if self._online_rewind_at is not None and now - self._online_rewind_at < self._base_wait:
            skipped = self._throttle.due("online")
            if skipped is not None:
                log.info(
                    "collector online again within ack_timeout, no re-send",
                    extra=fields(ack_timeout=self._base_wait, similar_left_out=skipped),
                )
            return
        self._online_rewind_at = now
        self._rewind("collector online")

    def _rewind(self, why: str) -> None:
        """Send again from the oldest result still in the spool."""
        first = self.spool.first_seq()
        self._acked = max(self._acked, first - 1)
        if self._sent > first - 1:
            log.info(
                "re-sending unacked results",
                extra=fields(reason=why, from_seq=first, to_seq=self._sent),
            )
        self._resend_until = max(self._resend_until, self._sent)
        self._sent = first - 1
        self._outstanding_since = None
        self._wakeup.set()

    def _batch_payload(self, rows: list[tuple[int, bytes]]) -> bytes:
        head = encode(
            {
                "v": 1,
                "org": self.config.org,
                "site": self.config.site,
                "agent": self.config.agent,
                "epoch": self.spool.epoch,
                "first_seq": self.spool.first_seq(),
                "clock_offset_seconds": self.clock_offset,
            }
        )
        return head[:-1] + b',"results":[' + b",".join(body for _, body in rows) + b"]}"

    async def _send(self, client: aiomqtt.Client) -> None:
        rate = self.config.mqtt.resend_rate
        while True:
            now = time.monotonic()
            if (
                self._outstanding_since is not None
                and now - self._outstanding_since > self._ack_wait
            ):
                log.warning(
                    "no ack within ack_timeout",
                    extra=fields(ack_timeout=self._ack_wait, acked=self._acked),
                )
                self._rewind("ack timeout")
                self._ack_wait = min(self._ack_wait * 2, ACK_TIMEOUT_MAX_SECONDS)
            rows = self.spool.read_after(self._sent, MAX_BATCH_RESULTS, AGENT_BATCH_BYTES - 512)
            if rows:
                self.spool.mark_sent(rows[-1][0])  # durable before it can be acked
                await client.publish(self.topics["results"], self._batch_payload(rows), qos=1)
                resending = rows[0][0] <= self._resend_until
                self._sent = rows[-1][0]
                if self._outstanding_since is None:
                    self._outstanding_since = time.monotonic()
                if resending:
                    await asyncio.sleep(len(rows) / rate)
                continue
            self._wakeup.clear()
            wait = 1.0
            if self._outstanding_since is not None:
                wait = max(0.05, self._outstanding_since + self._ack_wait - time.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), min(wait, 5.0))
