"""Ledger.latest (each agent's newest successful inventory or context, read by readiness
every metrics round) reads the schema-5 partial indexes, not the whole raw retention;
a version-4 ledger gets them at its upgrade and answers the same, and one opened
read-only (not upgraded) still answers, by a scan."""

from __future__ import annotations

import sqlite3

import pytest

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.ledger.sqlite_schema import SCHEMA
from tests.helpers.readiness import NOW, Sites

CONTEXT = {"target": "workstation", "role": "workstation", "error": None, "link": "wired"}


def v4_ledger(path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(SCHEMA[:4], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    db.close()


def plans(ledger: SqliteLedger, probe: str) -> list[str]:
    """The query plan of the SQL `latest(probe)` runs, as SQLite reports it."""
    sent: list[str] = []
    ledger.db.set_trace_callback(sent.append)
    try:
        ledger.latest(probe, 0)
    finally:
        ledger.db.set_trace_callback(None)
    (sql,) = [s for s in sent if s.lstrip().startswith("SELECT")]
    return [r[3] for r in ledger.db.execute(f"EXPLAIN QUERY PLAN {sql}")]


def fill(ledger: SqliteLedger) -> None:
    sites = Sites(Ingest(ledger, raw_retention=35 * 86400))
    sites.workstation("a", "p1", link="wired", ago=7200)
    sites.workstation("a", "p1", link="wifi", signal=60, ago=600)
    sites.workstation("b", "p2", ago=60)
    sites.send("a", "p1", [{"ts": NOW - 30, "probe": "context", "success": True, **CONTEXT}])


def answers(ledger: SqliteLedger) -> None:
    inventories = ledger.latest("inventory", NOW - 86400)
    assert [(s, a, t) for _, s, a, t, _ in inventories] == [
        ("a", "p1", NOW - 600),
        ("b", "p2", NOW - 60),
    ]
    assert ledger.latest("inventory", NOW - 300) == [inventories[1]]
    ((_, site, agent, ts, body),) = ledger.latest("context", NOW - 86400)
    assert (site, agent, ts) == ("a", "p1", NOW - 30) and b'"wired"' in body


def test_a_v4_ledger_gets_the_indexes_and_latest_uses_them(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    v4_ledger(path)
    ledger = SqliteLedger(path)  # upgraded to 5
    assert ledger.version == len(SCHEMA) == 5
    fill(ledger)
    for probe in ("inventory", "context"):
        found = plans(ledger, probe)
        # never a scan of the results table itself
        assert not [p for p in found if p.startswith("SCAN results") and "INDEX" not in p]
        assert f"SCAN results USING COVERING INDEX results_{probe}" in found
        assert any(p.startswith(f"SEARCH r USING INDEX results_{probe}") for p in found)
    answers(ledger)
    with pytest.raises(ValueError, match="'http' is not one of"):
        ledger.latest("http", 0)
    ledger.close()


def test_a_v4_ledger_opened_read_only_answers_by_a_scan(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)  # filled through the real ingest, then set back to v4
    fill(ledger)
    ledger.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(
        "DROP INDEX results_inventory; DROP INDEX results_context; PRAGMA user_version = 4;"
    )
    db.close()
    old = SqliteLedger(path, read_only=True)
    assert old.version == 4
    answers(old)
    old.close()
