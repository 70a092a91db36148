"""The collector's ingest writer and its hourly prune used to share one SQLite connection
from two threads, both issuing BEGIN IMMEDIATE: their transactions interleaved. A Ledger
is now used by one thread at a time, and each role of the service opens its own."""

from __future__ import annotations

import json
import threading
import time

from collector.ingest import Ingest
from collector.ledger import SqliteLedger

NOW = 1_790_000_000.0


def batch(agent: str, first: int, n: int) -> tuple[str, bytes]:
    results = [
        {
            "seq": s,
            "ts": NOW - 7200 + s,
            "probe": "http",
            "target": "dui",
            "role": "dui",
            "success": True,
            "duration_seconds": 0.1,
        }
        for s in range(first, first + n)
    ]
    payload = {
        "v": 1,
        "org": "og",
        "site": "s",
        "agent": agent,
        "epoch": "abcdef01",
        "first_seq": 1,
        "results": results,
    }
    return f"dui/v1/og/s/{agent}/results", json.dumps(payload).encode()


def hammer(ledger: SqliteLedger) -> tuple[list[BaseException], int]:
    """Ingest groups in one thread while another prunes, on the same Ledger object."""
    ingest = Ingest(ledger, raw_retention=86400)
    errors: list[BaseException] = []
    done = threading.Event()

    def prune() -> None:
        while not done.is_set():
            try:
                ledger.prune(86400, NOW)
            except BaseException as exc:  # what the race raises is the finding
                errors.append(exc)

    pruner = threading.Thread(target=prune)
    pruner.start()
    stored = 0
    try:
        for i in range(200):
            try:
                out = ingest.process([batch("poste-1", 1 + i * 20, 20)], now=NOW)
                stored += len(out.accepted)
            except BaseException as exc:
                errors.append(exc)
                ingest.reset()
    finally:
        done.set()
        pruner.join(timeout=30)
    return errors, stored


def test_ingest_and_prune_on_one_ledger_do_not_interleave(tmp_path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    began = time.monotonic()
    errors, stored = hammer(ledger)
    assert time.monotonic() - began < 120
    assert errors == [], f"{len(errors)} transactions failed, first: {errors[0]!r}"
    assert stored == 200 * 20
    assert ledger.counts()["results"] == 200 * 20
    ledger.close()
