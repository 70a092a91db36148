"""Property tests (hypothesis) of the results decoder and ingest: integers, strings,
timestamps and nesting at and past every wire bound never escape as anything but a clean
rejection, and good batches interleaved with hostile ones are stored once and acked."""

from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from tests.helpers.batches import batch_json, results_topic
from tests.test_ingest_hostile import NOW, result
from wire.schema import MAX_COUNT, MAX_SECONDS, MAX_SEQ, MAX_STRING, decode_result

EPOCH = "0123456789abcdef"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def edges(*bounds: int) -> st.SearchStrategy[int]:
    """Each bound, one off either side, and anything else."""
    near = [b + d for b in bounds for d in (-1, 0, 1)]
    return st.one_of(st.sampled_from(near), st.integers())


INTS = edges(0, 1, MAX_COUNT, MAX_SEQ, 2**64, -(2**63))
FLOATS = st.one_of(
    st.sampled_from([0.0, -0.0, MAX_SECONDS, MAX_SECONDS + 1, 1e300, -1e300, NOW]),
    st.floats(allow_nan=True, allow_infinity=True),
)
TEXTS = st.one_of(
    st.integers(MAX_STRING - 1, MAX_STRING + 1).map(lambda n: "é" * n),
    st.text(max_size=300),
)


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


NESTING = st.sampled_from([1, 2, 3, 31, 32, 33, 200]).map(nested)
DICTS = st.dictionaries(TEXTS, st.one_of(INTS, FLOATS, TEXTS, st.none(), NESTING), max_size=40)
VALUES = st.one_of(INTS, FLOATS, TEXTS, NESTING, DICTS, st.none(), st.booleans())
FIELDS = st.sampled_from(
    [
        "seq", "ts", "probe", "target", "role", "success", "duration_seconds", "error",
        "status_code", "tls_expiry_ts", "tls_issuer", "sent", "received", "rtt_seconds",
        "loss_ratio", "os", "hardware", "cpu", "ram_bytes", "disk_free_bytes", "browsers",
        "version", "clock_offset_seconds", "steps", "wifi_signal_percent", "unknown",
    ]
)  # fmt: skip


def hostile_result() -> st.SearchStrategy[dict]:
    """A good result with some fields replaced by anything, at or past the bounds."""
    return st.builds(
        lambda seq, changes: {**result(seq), **changes},
        INTS,
        st.dictionaries(FIELDS, VALUES, min_size=1, max_size=4),
    )


def dumps(obj: object) -> bytes:
    return json.dumps(obj, allow_nan=True).encode()  # NaN and Infinity are not JSON: rejected


@SETTINGS
@given(hostile_result())
def test_decoder_accepts_only_what_the_ledger_holds(body: dict) -> None:
    try:
        result = decode_result(dumps(body))
    except ValueError:
        return  # the one way the decoder says no
    assert 1 <= result.seq <= MAX_SEQ
    assert 0 <= result.ts <= MAX_SECONDS
    for name in ("sent", "received", "ram_bytes", "disk_free_bytes"):
        value = getattr(result, name)
        assert value is None or 0 <= value <= MAX_COUNT
    for name in ("duration_seconds", "tls_expiry_ts", "clock_offset_seconds", "loss_ratio"):
        value = getattr(result, name)
        assert value is None or math.isfinite(value)
    assert result.tls_issuer is None or len(result.tls_issuer) <= MAX_STRING
    db = sqlite3.connect(":memory:")  # what the ledger stores binds without overflow
    db.execute("SELECT ?, ?, ?", (result.seq, result.ts, result.duration_seconds))


MESSAGE_HEADERS = st.fixed_dictionaries(
    {},
    optional={"first_seq": INTS, "clock_offset_seconds": FLOATS, "epoch": TEXTS, "v": INTS},
)


@st.composite
def hostile_message(draw: st.DrawFn) -> tuple[str, bytes]:
    results = draw(st.lists(hostile_result(), max_size=5))
    header = {"v": 1, "org": "og", "site": "site-a", "agent": "evil", "epoch": EPOCH}
    header["first_seq"] = 1
    header.update(draw(MESSAGE_HEADERS))
    topic = results_topic("og", "site-a", "evil")
    if draw(st.booleans()):
        return topic, dumps({**header, "results": results})
    status = {"v": 1, "state": "online", **draw(st.dictionaries(TEXTS, VALUES, max_size=3))}
    return topic.replace("/results", "/status"), dumps(status)


@SETTINGS
@given(
    sizes=st.lists(st.integers(1, 20), min_size=1, max_size=8),
    hostile=st.lists(hostile_message(), min_size=1, max_size=12),
    groups=st.integers(1, 3),
    seed=st.randoms(use_true_random=False),
)
def test_good_batches_among_hostile_ones_are_stored_once_and_acked(
    sizes: list[int], hostile: list[tuple[str, bytes]], groups: int, seed
) -> None:
    batches, seq = [], 0
    for size in sizes:
        batches.append(
            (
                results_topic("og", "site-a", "good"),
                batch_json(
                    [result(s) for s in range(seq + 1, seq + size + 1)],
                    epoch=EPOCH,
                    agent="good",
                    first_seq=1,
                ),
            )
        )
        seq += size
    messages = batches + hostile + batches[:2]  # and a few re-sent
    seed.shuffle(messages)
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqliteLedger(Path(tmp) / "ledger.db")
        ingest = Ingest(ledger, raw_retention=35 * 86400)
        acked = 0
        internal = 0
        for start in range(groups):
            out = ingest.process(messages[start::groups], now=NOW)
            internal += out.rejected_messages.get("internal", 0)
            for topic, payload in out.acks:
                if topic.split("/")[4] == "good":
                    acked = max(acked, json.loads(payload)["seq"])
        stored = ledger.db.execute(
            "SELECT count(*), count(DISTINCT seq) FROM results WHERE agent = 'good'"
        ).fetchone()
        ledger.close()
    assert internal == 0
    assert stored == (seq, seq) and acked == seq
