"""Hostile messages on a real SQLite ledger, without MQTT: values past the wire bounds,
deep nesting, a message whose writes fail, oversized statuses, too many agent ids."""

from __future__ import annotations

import json
import logging

import pytest

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from tests.helpers.batches import batch_json, results_topic

NOW = 1_795_000_000.0
EPOCH = "0123456789abcdef"
BIG = 2**63


def result(seq: int, **extra) -> dict:
    return {
        "seq": seq,
        "ts": NOW - 10,
        "probe": "http",
        "target": "dui-login",
        "role": "dui",
        "success": True,
        "duration_seconds": 0.4,
        **extra,
    }


def message(agent: str, results: list, first_seq: int = 1, **extra) -> tuple[str, bytes]:
    payload = batch_json(results, epoch=EPOCH, agent=agent, first_seq=first_seq, **extra)
    return results_topic("og", "site-a", agent), payload


def acks(outcome) -> dict[str, int]:
    return {topic.split("/")[4]: json.loads(p)["seq"] for topic, p in outcome.acks}


@pytest.fixture
def ingest(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield Ingest(ledger, raw_retention=35 * 86400)
    ledger.close()


@pytest.mark.parametrize(
    "hostile",
    [
        message("bad", [result(BIG)]),
        message("bad", [result(1)], first_seq=BIG),
        message("bad", [result(BIG, probe="NOT A PROBE")]),  # a schema reject with a huge seq
        message("bad", [result(1, sent=2**53)]),
        message("bad", [result(1, ts=1e300)]),
        message("bad", [result(1, clock_offset_seconds=1e300)]),
        message("bad", [result(1, tls_issuer="x" * 257)]),
        message("bad", [result(1, os={"name": {"deeper": {"still": 1}}})]),
        message("bad", [result(1, steps=[{"name": "s"}] * 33)]),
    ],
)
def test_a_value_past_the_bounds_never_blocks_the_group(ingest, hostile) -> None:
    group = [message("good", [result(1)]), hostile, message("good", [result(2)])]
    out = ingest.process(group, now=NOW)
    assert acks(out)["good"] == 2 and [a.agent for a in out.accepted] == ["good", "good"]
    assert sum(out.rejected_messages.values()) + sum(out.rejected_results.values()) == 1
    assert "internal" not in out.rejected_messages
    assert ingest.ledger.counts()["results"] == 2


def test_deep_nesting_is_a_clean_rejection(ingest, caplog) -> None:
    deep = "[" * 10_000 + "]" * 10_000
    raw = json.dumps(result(1)).encode()[:-1] + b', "steps": ' + deep.encode() + b"}"
    payload = batch_json([], epoch=EPOCH, agent="deep").replace(
        b'"results": []', b'"results": [' + raw + b"]"
    )
    unknown = payload.replace(b'"steps"', b'"unknown_field"')
    group = [(results_topic("og", "site-a", "deep"), p) for p in (payload, unknown)]
    with caplog.at_level(logging.WARNING, logger="dui.collector.ingest"):
        out = ingest.process([*group, message("good", [result(1)])], now=NOW)
    assert out.rejected_messages == {"invalid": 2} and acks(out) == {"good": 1}
    assert not any(r.exc_info for r in caplog.records), "no traceback"


def test_a_failing_message_is_undone_alone(ingest) -> None:
    """A write that fails half-way (a real SQLite trigger refuses one row) undoes that
    message's rows only: it is counted `internal`, nothing of it is stored, not acked."""
    ingest.ledger.db.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON results WHEN NEW.target = 'poison'"
        " BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    )
    poisoned = message("bad", [result(1), result(2, target="poison")])
    group = [message("good", [result(1)]), poisoned, message("good", [result(2)])]
    out = ingest.process(group, now=NOW)
    assert out.rejected_messages == {"internal": 1} and acks(out) == {"good": 2}
    assert [a.agent for a in out.accepted] == ["good", "good"]
    counts = ingest.ledger.counts()
    assert counts["results"] == 2 and counts["rollup_results"] == 2
    assert ingest.ledger.watermark(("og", "site-a", "bad", EPOCH)) == 0
    ingest.ledger.db.execute("DROP TRIGGER poison")
    again = ingest.process([message("bad", [result(1), result(2)])], now=NOW)
    assert acks(again) == {"bad": 2} and len(again.accepted) == 2, "its cache did not move"


def test_a_flood_of_failures_logs_once_per_kind(ingest, caplog) -> None:
    flood = [message("bad", [result(BIG)], first_seq=BIG)] * 200
    flood += [("dui/v1/og/site-a/bad/results", b"{")] * 200
    with caplog.at_level(logging.WARNING, logger="dui.collector.ingest"):
        out = ingest.process(flood, now=NOW)
    assert out.rejected_messages == {"invalid": 400}
    assert len(caplog.records) == 1 and not caplog.records[0].exc_info


STATUS = "dui/v1/og/site-a/{}/status"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1,"state":"online","os":"' + b"x" * 70_000 + b'"}', "too_large"),
        (b'{"v":1,"state":"online","version":"' + b"1" * 65 + b'"}', "invalid"),
        (b'{"v":1,"state":"online","os":"' + b"x" * 257 + b'"}', "invalid"),
        (b'{"v":1,"state":"online","spool_results":-1}', "invalid"),
        (b'{"v":1,"state":"online","dropped_results":' + str(2**64).encode() + b"}", "invalid"),
        (b'{"v":1,"state":"online","x":' + b"[" * 10_000 + b"]" * 10_000 + b"}", "invalid"),
    ],
)
def test_status_is_bounded(ingest, payload: bytes, reason: str) -> None:
    out = ingest.process([(STATUS.format("poste-1"), payload)], now=NOW)
    assert out.rejected_messages == {reason: 1} and out.statuses == []


def test_max_agents(tmp_path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ingest = Ingest(ledger, raw_retention=35 * 86400, max_agents=2, forget_after=3600)
    status = b'{"v":1,"state":"online"}'
    first = ingest.process(
        [message("a", [result(1)]), (STATUS.format("b"), status), message("c", [result(1)])],
        now=NOW,
    )
    assert first.rejected_messages == {"max_agents": 1} and acks(first) == {"a": 1}
    refused = ingest.process([(STATUS.format("c"), status), message("c", [result(1)])], now=NOW)
    assert refused.rejected_messages == {"max_agents": 2} and refused.acks == []
    assert ledger.counts()["results"] == 1, "nothing of the refused agent is stored"
    known = ingest.process([message("a", [result(2)]), message("b", [result(1)])], now=NOW + 10)
    assert acks(known) == {"a": 2, "b": 1}, "known agents are not affected"
    ingest.process([message("a", [result(3)])], now=NOW + 3000)
    later = ingest.process([message("c", [result(1)])], now=NOW + 3620)  # b forgotten
    assert acks(later) == {"c": 1} and later.rejected_messages == {}
    ledger.close()


def test_a_message_is_never_partly_stored(ingest) -> None:
    """Before: a result with an unstorable seq after a good one made the message count as
    rejected (`internal`) while the good result was stored anyway, and never acked."""
    mixed = message("mixed", [result(1), result(BIG, probe="NOT A PROBE")])
    out = ingest.process([mixed], now=NOW)
    assert out.messages == {"accepted": 1} and out.rejected_messages == {}
    assert out.rejected_results == {"schema": 1} and acks(out) == {"mixed": 1}
    assert ingest.ledger.counts()["results"] == 1


def test_a_failing_message_between_two_of_the_same_epoch(ingest) -> None:
    """The watermark never passes the failed message's seqs, and moves once it is re-sent."""
    ingest.ledger.db.execute(
        "CREATE TRIGGER poison BEFORE INSERT ON results WHEN NEW.target = 'poison'"
        " BEGIN SELECT RAISE(ABORT, 'poisoned'); END"
    )
    group = [
        message("a", [result(1), result(2)]),
        message("a", [result(3, target="poison")]),
        message("a", [result(4)]),
    ]
    out = ingest.process(group, now=NOW)
    assert acks(out) == {"a": 2} and out.rejected_messages == {"internal": 1}
    assert ingest.ledger.counts()["results"] == 3
    ingest.ledger.db.execute("DROP TRIGGER poison")
    again = ingest.process([message("a", [result(3)], first_seq=1)], now=NOW)
    assert acks(again) == {"a": 4} and ingest.ledger.counts()["results"] == 4


def test_the_agent_checks_the_same_bounds() -> None:
    from agent.probes import measure
    from wire.schema import result_problem

    base = {k: v for k, v in result(1).items() if k != "seq"}
    assert result_problem(base) is None
    assert "tls_issuer" in result_problem({**base, "tls_issuer": "x" * 257})
    assert "ts" in result_problem({**base, "ts": float("nan")})
    real = measure("inventory", {})
    extra = {"probe": "inventory", "target": "workstation", "role": "workstation"}
    assert result_problem({**real, **extra}) is None, "what the agent measures fits"
