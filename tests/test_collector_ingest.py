"""Ingest on a real SQLite ledger, without MQTT: every reject reason, duplicates,
watermarks (gaps, order, first_seq), clock correction, rollups counted once."""

from __future__ import annotations

import json
import time

import pytest

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.state import State
from tests.helpers.batches import batch_json

NOW = 1_795_000_000.0
TOPIC = "dui/v1/og/site-a/poste-1/results"
EPOCH = "0123456789abcdef"


def result(seq: int, ts: float = NOW - 10, **extra) -> dict:
    return {
        "seq": seq,
        "ts": ts,
        "probe": "http",
        "target": "dui-login",
        "role": "dui",
        "success": True,
        "duration_seconds": 0.4,
        "status_code": 200,
        "error": None,
        **extra,
    }


def batch(
    results: list, first_seq: int | None = None, offset: float | None = None, **extra
) -> bytes:
    seqs = [r["seq"] for r in results if isinstance(r, dict) and "seq" in r]
    return batch_json(
        results,
        epoch=EPOCH,
        first_seq=first_seq or (min(seqs) if seqs else 1),
        clock_offset_seconds=offset,
        **extra,
    )


@pytest.fixture
def ingest(tmp_path):
    ledger = SqliteLedger(tmp_path / "ledger.db")
    yield Ingest(ledger, raw_retention=35 * 86400)
    ledger.close()


def acked(outcome) -> int:
    ((topic, payload),) = outcome.acks
    assert topic == "dui/v1/og/site-a/poste-1/ack"
    ack = json.loads(payload)
    assert ack["epoch"] == EPOCH and ack["v"] == 1
    return ack["seq"]


def test_store_ack_and_duplicate(ingest) -> None:
    out = ingest.process([(TOPIC, batch([result(1), result(2), result(3)]))], now=NOW)
    assert acked(out) == 3 and out.messages == {"accepted": 1} and len(out.accepted) == 3
    again = ingest.process([(TOPIC, batch([result(2), result(3)]))], now=NOW)
    assert acked(again) == 3 and again.messages == {"duplicate": 1} and again.accepted == []
    counts = ingest.ledger.counts()
    assert counts["results"] == 3 and counts["rollup_results"] == 3


def test_watermark_waits_for_gaps_and_out_of_order(ingest) -> None:
    assert acked(ingest.process([(TOPIC, batch([result(1), result(3)]))], now=NOW)) == 1
    assert acked(ingest.process([(TOPIC, batch([result(4)], first_seq=1))], now=NOW)) == 1
    assert acked(ingest.process([(TOPIC, batch([result(2)], first_seq=1))], now=NOW)) == 4


def test_first_seq_moves_the_watermark_past_dropped_results(ingest) -> None:
    ingest.process([(TOPIC, batch([result(1), result(2)]))], now=NOW)
    out = ingest.process([(TOPIC, batch([result(10), result(11)], first_seq=10))], now=NOW)
    assert acked(out) == 11


def test_watermark_survives_a_restart(tmp_path) -> None:
    ledger = SqliteLedger(tmp_path / "l.db")
    Ingest(ledger, 86400).process([(TOPIC, batch([result(1), result(3)]))], now=NOW)
    ledger.close()
    ledger = SqliteLedger(tmp_path / "l.db")
    out = Ingest(ledger, 86400).process([(TOPIC, batch([result(2)], first_seq=1))], now=NOW)
    assert acked(out) == 3


def test_clock_offset_corrects_measurement_time(ingest) -> None:
    fast = result(1, ts=NOW + 300)  # a workstation clock five minutes fast
    out = ingest.process([(TOPIC, batch([fast], offset=-300.0))], now=NOW)
    assert acked(out) == 1 and out.accepted[0].ts == pytest.approx(NOW)
    rejected = ingest.process([(TOPIC, batch([result(2, ts=NOW + 301)]))], now=NOW)
    assert rejected.rejected_results == {"future": 1}
    assert acked(rejected) == 2, "a rejected result is settled and never blocks the ack"


def test_result_reject_reasons(ingest) -> None:
    old = result(1, ts=NOW - 36 * 86400)
    bad_role = result(2, role="vendor")
    no_seq = {k: v for k, v in result(0).items() if k != "seq"}
    good = result(3)
    out = ingest.process([(TOPIC, batch([old, bad_role, no_seq, good], first_seq=1))], now=NOW)
    assert out.rejected_results == {"too_old": 1, "schema": 2}
    assert [a.result.seq for a in out.accepted] == [3]
    assert acked(out) == 3
    assert ingest.ledger.counts()["rejects"] == 2  # the seq-less one cannot be recorded


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("dui/v1/og/site-a/poste-1/results", b"{not json", "invalid"),
        ("dui/v1/og/site-a/poste-1/results", b'{"v": 2}', "invalid"),
        ("dui/v1/og/site-a/poste-1/results", b"x" * (1024 * 1024 + 1), "too_large"),
        ("dui/v1/og/other-site/poste-1/results", None, "topic_mismatch"),
        ("dui/v1/OG/site-a/poste-1/results", None, "topic"),
        ("something/else", None, "topic"),
        ("dui/v1/og/site-a/poste-1/commands", None, "topic"),
    ],
)
def test_message_reject_reasons(ingest, topic: str, payload: bytes | None, reason: str) -> None:
    out = ingest.process([(topic, payload or batch([result(1)]))], now=NOW)
    assert out.rejected_messages == {reason: 1} and out.messages == {"rejected": 1}
    assert out.acks == [] and ingest.ledger.counts()["results"] == 0


def test_bad_messages_do_not_hide_good_ones(ingest) -> None:
    group = []
    for seq in range(1, 21):
        group.append((TOPIC, b"\xff\xfe garbage"))
        group.append((TOPIC, batch([result(seq)], first_seq=1)))
    out = ingest.process(group, now=NOW)
    assert out.messages == {"accepted": 20, "rejected": 20}
    assert ingest.ledger.counts()["results"] == 20
    assert max(json.loads(p)["seq"] for _, p in out.acks) == 20


def test_status_messages_update_agents(ingest) -> None:
    state = State(stale_after=300, forget_after=86400)
    status = (
        b'{"v":1,"state":"online","version":"1.2.3","os":"Windows 10","spool_results":4,'
        b'"dropped_results":0}'
    )
    out = ingest.process([("dui/v1/og/site-a/poste-1/status", status)], now=NOW)
    state.apply(out, now=NOW)
    view = state.agents[("og", "site-a", "poste-1")]
    assert (view.version, view.spool_results, state.up(view, NOW)) == ("1.2.3", 4, True)
    assert not state.up(view, NOW + 301)
    offline = ingest.process([("dui/v1/og/site-a/poste-1/status", b'{"v":1,"state":"offline"}')])
    state.apply(offline, now=NOW + 1)
    assert not state.up(view, NOW + 1)
    state.forget(now=NOW + 86401)
    assert state.agents == {}


def test_group_of_many_messages_is_fast_enough(ingest) -> None:
    group = [
        (TOPIC, batch([result(s) for s in range(b * 100 + 1, b * 100 + 101)], first_seq=1))
        for b in range(50)
    ]
    started = time.perf_counter()
    out = ingest.process(group, now=NOW)
    elapsed = time.perf_counter() - started
    assert acked_max(out) == 5000 and ingest.ledger.counts()["rollup_results"] == 5000
    print(f"5000 results in one group: {elapsed:.3f} s")


def acked_max(outcome) -> int:
    return max(json.loads(p)["seq"] for _, p in outcome.acks)
