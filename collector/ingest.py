"""Ingest: validate batches, store each result once, move the watermarks, build acks.

`Ingest.process` takes a group of MQTT messages and handles them in one ledger
transaction (group commit); it runs in a worker thread and returns the acks to
publish and what the metrics view must learn. Every byte is untrusted: a bad
message or result is rejected with a reason, never stops the good ones. Messages are
checked first and their writes made at once; if those fail, the group is done again
with one savepoint per message, so a failing message is undone alone.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import msgspec

from collector.ledger import EpochKey, Ledger, LedgerTx, StoredResult, UsageResult
from collector.ledger.types import AgentKey
from runtime.logs import Throttle, fields
from wire.schema import (
    MAX_FUTURE_SECONDS,
    MAX_MESSAGE_BYTES,
    MAX_STATUS_BYTES,
    AgentStatus,
    Result,
    Seq,
    ack_topic,
    decode_batch_envelope,
    decode_result,
    decode_status,
    encode,
    parse_agent_topic,
)

log = logging.getLogger("dui.collector.ingest")
LOG_EVERY = 60.0  # one log line per kind of rejection per minute, however many arrive
FORGET_EVERY = 60.0
USAGE = "usage"  # staff activity: aggregated per site and minute, never stored raw
USAGE_MINUTES_KEPT = 64  # per agent, the recent minutes its usage counted in (in memory)


class _SeqOnly(msgspec.Struct):
    seq: Seq


_seq_only = msgspec.json.Decoder(_SeqOnly)


@dataclass
class Accepted:
    """A new result, for the metrics view."""

    org: str
    site: str
    agent: str
    result: Result
    ts: float  # corrected


@dataclass(slots=True)
class Outcome:
    acks: list[tuple[str, bytes]] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    seen: list[tuple[str, str, str, float | None]] = field(default_factory=list)  # + clock offset
    statuses: list[tuple[str, str, str, AgentStatus]] = field(default_factory=list)
    messages: dict[str, int] = field(default_factory=dict)  # outcome → count
    rejected_messages: dict[str, int] = field(default_factory=dict)  # reason → count
    rejected_results: dict[str, int] = field(default_factory=dict)
    lags: list[float] = field(default_factory=list)
    lost: dict[AgentKey, int] = field(default_factory=dict)  # seqs given up below first_seq
    # new successful usage results: (org, site, UTC minute, in use); no agent id, so the
    # metrics view cannot show usage per workstation
    usage: list[tuple[str, str, int, bool]] = field(default_factory=list)

    def count(self, table: dict[str, int], key: str, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n

    def merge(self, part: Outcome) -> None:
        """Add one message's outcome, once its writes are kept."""
        self.accepted += part.accepted
        self.usage += part.usage
        self.seen += part.seen
        self.statuses += part.statuses
        self.lags += part.lags
        for agent, n in part.lost.items():
            self.lost[agent] = self.lost.get(agent, 0) + n
        for key, n in part.messages.items():
            self.count(self.messages, key, n)
        if part.rejected_messages or part.rejected_results:
            for key, n in part.rejected_messages.items():
                self.count(self.rejected_messages, key, n)
            for key, n in part.rejected_results.items():
                self.count(self.rejected_results, key, n)


class _Epoch:
    """Watermark of one agent epoch: every seq up to `mark` is settled; `above` holds
    the settled seqs beyond it (results stored or rejected for good)."""

    def __init__(self, mark: int, above: set[int]) -> None:
        self.mark = mark
        self.above = above

    def settled(self, seq: int) -> bool:
        return seq <= self.mark or seq in self.above

    def copy(self) -> _Epoch:
        return _Epoch(self.mark, set(self.above))

    def settle(self, seqs: list[int], first_seq: int) -> int:
        """Settle `seqs`; every seq below `first_seq` is settled too, as the agent no
        longer holds it. Returns how many of those were never received here: lost."""
        self.above.update(s for s in seqs if s > self.mark)
        if seqs and first_seq > min(seqs):
            first_seq = 0  # the agent still holds what it sends: such a first_seq is not its
        lost = 0
        if first_seq - 1 > self.mark:  # the agent removed them before they arrived
            below = {s for s in self.above if s < first_seq}
            lost = first_seq - 1 - self.mark - len(below)
            self.mark = first_seq - 1
            self.above -= below
        while self.mark + 1 in self.above:
            self.mark += 1
            self.above.discard(self.mark)
        return lost


@dataclass(frozen=True, slots=True)
class _UsageMinutes:
    """The recent UTC minutes in which an agent's usage results counted, in memory only
    (never stored): bit i of `mask` is minute `newest - i`. A workstation counts once per
    minute, however many usage results it sends for it (an old agent with a shorter
    interval, two agents sharing an id, a hostile one: one agent is at most one
    workstation in use), whatever its epoch."""

    newest: int
    mask: int

    def add(self, minute: int) -> _UsageMinutes | None:
        """These minutes with `minute` added; None when it is in them already, or older
        than the USAGE_MINUTES_KEPT minutes kept, so that it cannot tell."""
        if minute > self.newest:
            shift = minute - self.newest
            kept = (self.mask << shift) & ((1 << USAGE_MINUTES_KEPT) - 1)
            return _UsageMinutes(minute, (kept if shift < USAGE_MINUTES_KEPT else 0) | 1)
        behind = self.newest - minute
        if behind >= USAGE_MINUTES_KEPT or self.mask >> behind & 1:
            return None
        return _UsageMinutes(self.newest, self.mask | 1 << behind)


@dataclass(slots=True)
class _Writes:
    """What messages store: results, usage counts, rejected seqs, watermarks moved (as
    the new epochs)."""

    results: list[StoredResult] = field(default_factory=list)
    usage: list[UsageResult] = field(default_factory=list)
    rejects: list[tuple[EpochKey, int, str]] = field(default_factory=list)
    epochs: dict[EpochKey, _Epoch] = field(default_factory=dict)
    # the agents' counted minutes as they are once these writes are kept
    usage_minutes: dict[AgentKey, _UsageMinutes] = field(default_factory=dict)

    def add(self, other: _Writes) -> None:
        self.results += other.results
        self.usage += other.usage
        self.rejects += other.rejects
        self.epochs.update(other.epochs)

    def store(self, tx: LedgerTx, now: float) -> None:
        tx.add_results(self.results, now)
        tx.add_usage(self.usage, {key: epoch.mark for key, epoch in self.epochs.items()})
        for key, seq, reason in self.rejects:
            tx.add_reject(key, seq, reason, now)
        for key, epoch in self.epochs.items():
            tx.set_watermark(key, epoch.mark, now)


@dataclass
class _Group:
    """One group's outcome so far; its epochs and agents reach the caches once stored."""

    out: Outcome = field(default_factory=Outcome)
    writes: _Writes = field(default_factory=_Writes)
    epochs: dict[EpochKey, _Epoch] = field(default_factory=dict)
    agents: dict[AgentKey, None] = field(default_factory=dict)
    usage_minutes: dict[AgentKey, _UsageMinutes] = field(default_factory=dict)
    isolated: bool = False  # one savepoint per message


class Ingest:
    def __init__(
        self,
        ledger: Ledger,
        raw_retention: float,
        max_agents: int = 20000,
        forget_after: float = 86400.0,
    ) -> None:
        self.ledger = ledger
        self.raw_retention = raw_retention
        self.max_agents = max_agents
        self.forget_after = forget_after
        self._epochs: dict[EpochKey, _Epoch] = {}
        self._agents: dict[AgentKey, float] = {}  # agent → last accepted message
        self._usage_minutes: dict[AgentKey, _UsageMinutes] = {}
        self._forgot_at = 0.0
        self.throttle = Throttle(LOG_EVERY)

    def _warn(self, kind: str, event: str, **values: object) -> None:
        """One line per kind of trouble per LOG_EVERY, with the number left out."""
        skipped = self.throttle.due(kind)
        if skipped is not None:
            log.warning(event, extra=fields(**values, kind=kind, similar_left_out=skipped))

    def reset(self) -> None:
        """Forget cached watermarks (after a failed transaction) and reload them lazily."""
        self._epochs.clear()

    def _epoch(self, key: EpochKey) -> _Epoch:
        epoch = self._epochs.get(key)
        if epoch is None:
            mark = self.ledger.watermark(key)
            epoch = self._epochs[key] = _Epoch(mark, self.ledger.settled_above(key, mark))
        return epoch

    def _forget(self, now: float) -> None:
        """Agents silent for forget_after free their slot, as their series leave /metrics."""
        if now - self._forgot_at < FORGET_EVERY:
            return
        self._forgot_at = now
        for key in [k for k, seen in self._agents.items() if now - seen > self.forget_after]:
            del self._agents[key]
            self._usage_minutes.pop(key, None)

    def process(self, messages: list[tuple[str, bytes]], now: float | None = None) -> Outcome:
        """One transaction for the group, in which a message's writes are all kept or all
        undone, whatever happens to the others. One ack per agent epoch, covering all its
        batches in the group (duplicates included), sent by the caller after the commit."""
        now = time.time() if now is None else now
        self._forget(now)
        try:  # the fast way: every message checked, then the group's writes at once
            with self.ledger.transaction() as tx:
                group = self._group(tx, messages, now, isolated=False)
        except Exception as exc:  # rolled back: again, one savepoint per message
            self._warn(
                f"group:{type(exc).__name__}",
                "group write failed, retried message by message",
                error=f"{type(exc).__name__}: {str(exc)[:300]}",
            )
            with self.ledger.transaction() as tx:
                group = self._group(tx, messages, now, isolated=True)
        self._epochs.update(group.epochs)  # stored: the cache follows
        self._agents.update(dict.fromkeys(group.agents, now))
        self._usage_minutes.update(group.usage_minutes)
        out = group.out
        for key, epoch in group.epochs.items():
            org, site, agent, epoch_id = key
            ack = {"v": 1, "epoch": epoch_id, "seq": epoch.mark, "ts": now}
            out.acks.append((ack_topic(org, site, agent), encode(ack)))
        return out

    def _group(
        self, tx: LedgerTx, messages: list[tuple[str, bytes]], now: float, isolated: bool
    ) -> _Group:
        group = _Group(isolated=isolated)
        for topic, payload in messages:
            part, writes = Outcome(), _Writes()
            try:
                if isolated:
                    with tx.savepoint():
                        agent = self._message(topic, payload, now, part, group, writes)
                        writes.store(tx, now)
                else:
                    agent = self._message(topic, payload, now, part, group, writes)
            except Exception as exc:  # a bug on one message must not lose the others
                self._internal(group.out, topic, exc)
                continue
            group.epochs.update(writes.epochs)
            group.usage_minutes.update(writes.usage_minutes)
            if agent is not None:
                group.agents[agent] = None
            if not isolated:
                group.writes.add(writes)
            group.out.merge(part)
        if not isolated:
            group.writes.store(tx, now)
        return group

    def _internal(self, out: Outcome, topic: str, exc: Exception) -> None:
        out.count(out.rejected_messages, "internal")
        out.count(out.messages, "rejected")
        kind = type(exc).__name__
        self._warn(
            f"internal:{kind}",
            "message failed, nothing of it stored",
            topic=topic[:200],
            error=f"{kind}: {str(exc)[:300]}",
        )

    def _reject_message(self, out: Outcome, topic: str, reason: str, detail: str) -> None:
        out.count(out.rejected_messages, reason)
        out.count(out.messages, "rejected")
        self._warn(
            f"message:{reason}",
            "message rejected",
            topic=topic[:200],
            reason=reason,
            detail=detail[:300],
        )

    def _admitted(self, out: Outcome, topic: str, agent: AgentKey, group: _Group) -> bool:
        """A new agent id beyond agents.max_agents is refused (not acked: the agent keeps
        its results and re-sends once a slot is free)."""
        if agent in self._agents or agent in group.agents:
            return True
        if len(self._agents) + len(group.agents) < self.max_agents:
            return True
        self._reject_message(out, topic, "max_agents", f"{self.max_agents} agents known")
        return False

    def _message(
        self,
        topic: str,
        payload: bytes,
        now: float,
        out: Outcome,
        group: _Group,
        writes: _Writes,
    ) -> AgentKey | None:
        """Checks one message and puts what it stores in `writes` (nothing is written
        here); returns its agent when the message counts for it (results or a status)."""
        ids = parse_agent_topic(topic)
        if ids is None:
            self._reject_message(out, topic, "topic", "not an agent topic")
            return None
        org, site, agent, leaf = ids
        if leaf not in ("results", "status"):
            self._reject_message(out, topic, "topic", f"unexpected leaf {leaf!r}")
            return None
        if leaf == "status" and not payload:
            return None  # a retained status being cleared
        if not self._admitted(out, topic, (org, site, agent), group):
            return None
        if leaf == "status":
            return self._status(topic, payload, org, site, agent, out)
        if len(payload) > MAX_MESSAGE_BYTES:
            self._reject_message(out, topic, "too_large", f"{len(payload)} bytes")
            return None
        try:
            batch = decode_batch_envelope(payload)
        except ValueError as exc:
            self._reject_message(out, topic, "invalid", str(exc))
            return None
        if (batch.org, batch.site, batch.agent) != (org, site, agent):
            self._reject_message(
                out, topic, "topic_mismatch", f"payload says {batch.org}/{batch.site}/{batch.agent}"
            )
            return None
        key: EpochKey = (org, site, agent, batch.epoch)
        epoch = group.epochs.get(key)
        if epoch is None or group.isolated:  # the cache moves only once the writes are kept
            epoch = (epoch or self._epoch(key)).copy()
        # else the group's own copy: settle() below is this message's last step, so a
        # message that fails leaves it as it was, and the group's writes are all or none
        offset = batch.clock_offset_seconds or 0.0
        out.seen.append((org, site, agent, batch.clock_offset_seconds))
        settled: list[int] = []
        fresh = 0
        rejects: dict[str, int] = {}
        surplus = 0  # usage results for a minute this agent counted in already
        for raw in batch.results:
            try:
                result = decode_result(raw)
                if result.probe == USAGE and result.success and result.in_use is None:
                    raise ValueError("a successful usage result says whether in use")
            except ValueError:
                seq = self._seq_of(raw)
                rejects["schema"] = rejects.get("schema", 0) + 1
                if seq is not None:
                    if not epoch.settled(seq) and seq not in settled:
                        writes.rejects.append((key, seq, "schema"))
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
                writes.rejects.append((key, result.seq, reason))
                continue
            out.lags.append(now - ts)
            if result.probe == USAGE:  # counted for its site's minute; the result goes no further
                minute, counted = int(ts // 60), result.success
                if counted:
                    counted = self._count_minute(writes, group, (org, site, agent), minute)
                    surplus += not counted
                in_use = bool(result.in_use)  # settled either way (exactly-once)
                writes.usage.append(UsageResult(key, result.seq, minute, counted, in_use))
                if counted:
                    out.usage.append((org, site, minute, in_use))
                continue
            writes.results.append(
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
        for reason, n in rejects.items():
            out.count(out.rejected_results, reason, n)
            self._warn(
                f"results:{reason}",
                "results rejected",
                agent=f"{org}.{site}.{agent}",
                reason=reason,
                count=n,
            )
        if surplus:
            self._warn(
                "usage:surplus",
                "usage results not counted: a minute the workstation counted in already,"
                " or one 64 minutes or more behind its newest",
                agent=f"{org}.{site}.{agent}",
                count=surplus,
            )
        out.count(out.messages, "accepted" if fresh else "duplicate")
        lost = epoch.settle(settled, batch.first_seq)  # the last step: see the copy above
        if lost:
            out.lost[(org, site, agent)] = lost
            self._warn(
                "lost",
                "results never received, the agent no longer holds them",
                agent=f"{org}.{site}.{agent}",
                count=lost,
                first_seq=batch.first_seq,
            )
        writes.epochs[key] = epoch
        return org, site, agent

    def _count_minute(self, writes: _Writes, group: _Group, agent: AgentKey, minute: int) -> bool:
        """Whether this agent's usage counts in `minute`: not when it did already. The
        minutes move into `writes`, reaching the group and the cache only once kept."""
        minutes = (
            writes.usage_minutes.get(agent)
            or group.usage_minutes.get(agent)
            or self._usage_minutes.get(agent)
        )
        moved = _UsageMinutes(minute, 1) if minutes is None else minutes.add(minute)
        if moved is None:
            return False
        writes.usage_minutes[agent] = moved
        return True

    @staticmethod
    def _seq_of(raw: msgspec.Raw) -> int | None:
        """The seq of a result that failed validation, when it has a valid one."""
        try:
            return _seq_only.decode(raw).seq
        except (msgspec.DecodeError, RecursionError):
            return None

    def _status(
        self, topic: str, payload: bytes, org: str, site: str, agent: str, out: Outcome
    ) -> AgentKey | None:
        try:
            status = decode_status(payload)
        except ValueError as exc:
            reason = "too_large" if len(payload) > MAX_STATUS_BYTES else "invalid"
            self._reject_message(out, topic, reason, str(exc))
            return None
        out.statuses.append((org, site, agent, status))
        return org, site, agent
