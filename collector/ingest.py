"""Ingest: validate batches, store each result once, move the watermarks, build acks.

`Ingest.process` takes a group of MQTT messages and handles them in one ledger
transaction (group commit); it runs in a worker thread and returns the acks to
publish and what the metrics view must learn. Every byte is untrusted: a bad
message or result is rejected with a reason, never stops the good ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector.ledger import EpochKey, Ledger, StoredResult
from runtime.logs import fields
from wire.schema import (
    MAX_FUTURE_SECONDS,
    MAX_MESSAGE_BYTES,
    AgentStatus,
    Result,
    ack_topic,
    decode_batch_envelope,
    decode_result,
    encode,
    parse_agent_topic,
)

log = logging.getLogger("dui.collector.ingest")


class _SeqOnly(msgspec.Struct):
    seq: int


_seq_only = msgspec.json.Decoder(_SeqOnly)


@dataclass
class Accepted:
    """A new result, for the metrics view."""

    org: str
    site: str
    agent: str
    result: Result
    ts: float  # corrected


@dataclass
class Outcome:
    acks: list[tuple[str, bytes]] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    seen: list[tuple[str, str, str, float | None]] = field(default_factory=list)  # + clock offset
    statuses: list[tuple[str, str, str, AgentStatus]] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)  # outcome → count
    rejected_messages: dict[str, int] = field(default_factory=dict)  # reason → count
    rejected_results: dict[str, int] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class _Epoch:
    """Watermark of one agent epoch: every seq up to `mark` is settled; `above` holds
    the settled seqs beyond it (results stored or rejected for good)."""

    def __init__(self, mark: int, above: set[int]) -> None:
        self.mark = mark
        self.above = above

    def settled(self, seq: int) -> bool:
        return seq <= self.mark or seq in self.above

    def settle(self, seqs: list[int], first_seq: int) -> int:
        self.above.update(s for s in seqs if s > self.mark)
        if first_seq - 1 > self.mark:  # the agent dropped what it never sent
            self.mark = first_seq - 1
            self.above = {s for s in self.above if s > self.mark}
        while self.mark + 1 in self.above:
            self.mark += 1
            self.above.discard(self.mark)
        return self.mark


class Ingest:
    def __init__(self, ledger: Ledger, raw_retention: float) -> None:
        self.ledger = ledger
        self.raw_retention = raw_retention
        self._epochs: dict[EpochKey, _Epoch] = {}

    def reset(self) -> None:
        """Forget cached watermarks (after a failed transaction) and reload them lazily."""
        self._epochs.clear()

    def _epoch(self, key: EpochKey) -> _Epoch:
        epoch = self._epochs.get(key)
        if epoch is None:
            mark = self.ledger.watermark(key)
            epoch = self._epochs[key] = _Epoch(mark, self.ledger.settled_above(key, mark))
        return epoch

    def process(self, messages: list[tuple[str, bytes]], now: float | None = None) -> Outcome:
        """One transaction for the group; one ack per agent epoch, covering all its batches
        in the group (duplicates included), sent by the caller after the commit."""
        now = time.time() if now is None else now
        out = Outcome()
        new: list[StoredResult] = []
        touched: dict[EpochKey, None] = {}
        with self.ledger.transaction() as tx:
            for topic, payload in messages:
                try:
                    self._message(tx, topic, payload, now, out, new, touched)
                except Exception:  # a bug on one message must not lose the others
                    log.exception("message failed", extra=fields(topic=topic[:200]))
                    out.count(out.rejected_messages, "internal")
                    out.count(out.messages, "rejected")
            tx.add_results(new, now)
            for key in touched:
                org, site, agent, epoch = key
                mark = self._epochs[key].mark
                tx.set_watermark(key, mark, now)
                out.acks.append(
                    (
                        ack_topic(org, site, agent),
                        encode({"v": 1, "epoch": epoch, "seq": mark, "ts": now}),
                    )
                )
        return out

    def _reject_message(self, out: Outcome, topic: str, reason: str, detail: str) -> None:
        out.count(out.rejected_messages, reason)
        out.count(out.messages, "rejected")
        log.warning(
            "message rejected", extra=fields(topic=topic[:200], reason=reason, detail=detail[:300])
        )

    def _message(
        self,
        tx: Any,
        topic: str,
        payload: bytes,
        now: float,
        out: Outcome,
        new: list[StoredResult],
        touched: dict[EpochKey, None],
    ) -> None:
        ids = parse_agent_topic(topic)
        if ids is None:
            return self._reject_message(out, topic, "topic", "not an agent topic")
        org, site, agent, leaf = ids
        if leaf == "status":
            return self._status(topic, payload, org, site, agent, out)
        if leaf != "results":
            return self._reject_message(out, topic, "topic", f"unexpected leaf {leaf!r}")
        if len(payload) > MAX_MESSAGE_BYTES:
            return self._reject_message(out, topic, "too_large", f"{len(payload)} bytes")
        try:
            batch = decode_batch_envelope(payload)
        except ValueError as exc:
            return self._reject_message(out, topic, "invalid", str(exc))
        if (batch.org, batch.site, batch.agent) != (org, site, agent):
            return self._reject_message(
                out, topic, "topic_mismatch", f"payload says {batch.org}/{batch.site}/{batch.agent}"
            )
        key: EpochKey = (org, site, agent, batch.epoch)
        epoch = self._epoch(key)
        offset = batch.clock_offset_seconds or 0.0
        out.seen.append((org, site, agent, batch.clock_offset_seconds))
        settled: list[int] = []
        fresh = 0
        rejects: dict[str, int] = {}
        for raw in batch.results:
            try:
                result = decode_result(raw)
            except ValueError:
                seq = self._seq_of(raw)
                rejects["schema"] = rejects.get("schema", 0) + 1
                if seq is not None:
                    if not epoch.settled(seq) and seq not in settled:
                        tx.add_reject(key, seq, "schema", now)
                        fresh += 1
                    settled.append(seq)
                continue
            if epoch.settled(result.seq) or result.seq in settled:
                settled.append(result.seq)
                continue  # stored or rejected before: a duplicate
            settled.append(result.seq)
            fresh += 1
            ts = result.ts + offset
            reason = (
                "future"
                if ts > now + MAX_FUTURE_SECONDS
                else ("too_old" if ts < now - self.raw_retention else None)
            )
            if reason is not None:
                rejects[reason] = rejects.get(reason, 0) + 1
                tx.add_reject(key, result.seq, reason, now)
                continue
            new.append(
                StoredResult(
                    key,
                    result.seq,
                    ts,
                    result.probe,
                    result.target,
                    result.role,
                    result.success,
                    result.duration_seconds,
                    bytes(raw),
                )
            )
            out.accepted.append(Accepted(org, site, agent, result, ts))
            out.lags.append(now - ts)
        for reason, n in rejects.items():
            out.rejected_results[reason] = out.rejected_results.get(reason, 0) + n
            log.warning(
                "results rejected",
                extra=fields(agent=f"{org}.{site}.{agent}", reason=reason, count=n),
            )
        epoch.settle(settled, batch.first_seq)
        touched[key] = None
        out.count(out.messages, "accepted" if fresh else "duplicate")
        return None

    @staticmethod
    def _seq_of(raw: msgspec.Raw) -> int | None:
        try:
            seq = _seq_only.decode(raw).seq
        except msgspec.DecodeError:
            return None
        return seq if seq >= 1 else None

    def _status(
        self, topic: str, payload: bytes, org: str, site: str, agent: str, out: Outcome
    ) -> None:
        if not payload:
            return  # a retained status being cleared
        try:
            status = msgspec.json.decode(payload, type=AgentStatus)
        except msgspec.DecodeError as exc:
            return self._reject_message(out, topic, "invalid", str(exc))
        out.statuses.append((org, site, agent, status))
        return None
