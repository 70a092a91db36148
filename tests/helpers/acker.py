"""A stand-in for the collector: receives batches, validates them against the
wire schema, and acks the contiguous watermark per epoch, as docs/wire.md says."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import defaultdict
from pathlib import Path

import aiomqtt
import msgspec

from tests.helpers.poll import await_until
from wire.schema import RESULTS_SUBSCRIPTION, Batch, ack_topic, encode, parse_agent_topic

_batch = msgspec.json.Decoder(Batch)


class Acker:
    def __init__(self, port: int) -> None:
        self.port = port
        self.hold = False  # withhold acks while True
        self.batches: list[Batch] = []
        self.received: dict[tuple[str, int], list[dict]] = defaultdict(
            list
        )  # (epoch, seq) → copies
        self.settled: dict[str, set[int]] = defaultdict(set)
        self.acked: dict[str, int] = defaultdict(int)  # highest ack sent per epoch
        self.errors: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._stopping = False

    async def __aenter__(self) -> Acker:
        self._task = asyncio.create_task(self._run())
        await self.wait(lambda: self._client is not None, 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._stopping = True
        self._task.cancel()
        # bounded, and never an error of the test: cancelling aiomqtt in the middle of a
        # reconnect (after a broker restart) can take seconds to unwind
        await asyncio.wait({self._task}, timeout=15)

    def client(self) -> aiomqtt.Client:
        return aiomqtt.Client("127.0.0.1", self.port, identifier="test-acker", clean_session=False)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                async with self.client() as client:
                    await client.subscribe(RESULTS_SUBSCRIPTION, qos=1)
                    self._client = client
                    async for message in client.messages:
                        await self._handle(client, message)
            except aiomqtt.MqttError:  # the broker is down: retry until the test ends
                self._client = None
                await asyncio.sleep(0.2)  # not a wait for a condition: a reconnect pause

    async def _handle(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        ids = parse_agent_topic(message.topic.value)
        try:
            batch = _batch.decode(bytes(message.payload))
        except msgspec.DecodeError as exc:
            self.errors.append(str(exc))
            return
        if ids is None or ids[:3] != (batch.org, batch.site, batch.agent):
            self.errors.append(f"topic {message.topic.value} does not match payload ids")
            return
        self.batches.append(batch)
        settled = self.settled[batch.epoch]
        for result in batch.results:
            self.received[(batch.epoch, result.seq)].append(msgspec.to_builtins(result))
            settled.add(result.seq)
        # Everything below first_seq was acked or dropped by the agent.
        mark = self.acked[batch.epoch]
        mark = max(mark, batch.first_seq - 1)
        while mark + 1 in settled:
            mark += 1
        if not self.hold:
            self.acked[batch.epoch] = mark
            await client.publish(
                ack_topic(batch.org, batch.site, batch.agent),
                encode({"v": 1, "epoch": batch.epoch, "seq": mark, "ts": time.time()}),
                qos=1,
            )

    def copies(self, epoch: str, seq: int) -> int:
        return len(self.received.get((epoch, seq), []))

    def seqs(self, epoch: str) -> set[int]:
        return {seq for (e, seq) in self.received if e == epoch}

    async def wait(self, predicate, timeout: float, what: str = "condition") -> None:
        """await_until, while this stand-in keeps receiving on the same event loop."""
        await await_until(predicate, timeout, what)

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert self._client is not None
        await self._client.publish(topic, payload, qos=1, retain=retain)


class TlsAcker(Acker):
    """The stand-in collector, connecting over TLS with its own account."""

    def __init__(
        self, port: int, ca_file: Path, username: str = "acker", password: str = "acker-pw"
    ) -> None:
        super().__init__(port)
        self.ca_file = ca_file
        self.username, self.password = username, password

    def client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            self.port,
            identifier="test-acker",
            username=self.username,
            password=self.password,
            clean_session=False,
            tls_context=ssl.create_default_context(cafile=str(self.ca_file)),
        )
