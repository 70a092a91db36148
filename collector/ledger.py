"""The ledger: every accepted result once, per-agent watermarks, per-minute rollups.

SQLite in WAL mode with synchronous=FULL; one transaction per group of messages
(group commit). `Ledger` is the storage interface the rest of the collector uses;
`SqliteLedger` is its first implementation (PostgreSQL is the second, later).
The schema is versioned with PRAGMA user_version and migrated on open.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from collector import chain, evidence

# Response-time buckets (seconds) of the rollups and of dui_http_response_seconds.
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

AgentKey = tuple[str, str, str]  # org, site, agent
EpochKey = tuple[str, str, str, str]  # org, site, agent, epoch


@dataclass(frozen=True)
class StoredResult:
    """What the ledger keeps of one accepted result."""

    key: EpochKey
    seq: int
    ts: float  # corrected measurement time
    probe: str
    target: str
    role: str
    success: bool
    duration: float | None
    body: bytes


class Ledger(Protocol):
    def transaction(self) -> Iterator[LedgerTx]: ...
    def watermark(self, key: EpochKey) -> int: ...
    def settled_above(self, key: EpochKey, seq: int) -> set[int]: ...
    def close(self) -> None: ...


class LedgerTx(Protocol):
    def add_results(self, results: list[StoredResult], received_at: float) -> None: ...
    def add_reject(self, key: EpochKey, seq: int, reason: str, received_at: float) -> bool: ...
    def set_watermark(self, key: EpochKey, seq: int, now: float) -> None: ...


SCHEMA = [
    # version 1
    """
    CREATE TABLE results (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, ts REAL NOT NULL, probe TEXT NOT NULL, target TEXT NOT NULL,
        role TEXT NOT NULL, success INTEGER NOT NULL, duration REAL, body BLOB NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch, seq)
    ) WITHOUT ROWID;
    CREATE INDEX results_ts ON results (ts);
    CREATE TABLE rejects (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, reason TEXT NOT NULL, received_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch, seq)
    ) WITHOUT ROWID;
    CREATE TABLE watermarks (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch)
    ) WITHOUT ROWID;
    CREATE TABLE rollups (
        minute INTEGER NOT NULL, org TEXT NOT NULL, site TEXT NOT NULL, target TEXT NOT NULL,
        role TEXT NOT NULL, probe TEXT NOT NULL,
        results INTEGER NOT NULL, failures INTEGER NOT NULL, duration_sum REAL NOT NULL,
        b0 INTEGER NOT NULL DEFAULT 0, b1 INTEGER NOT NULL DEFAULT 0,
        b2 INTEGER NOT NULL DEFAULT 0, b3 INTEGER NOT NULL DEFAULT 0,
        b4 INTEGER NOT NULL DEFAULT 0, b5 INTEGER NOT NULL DEFAULT 0,
        b6 INTEGER NOT NULL DEFAULT 0, b7 INTEGER NOT NULL DEFAULT 0,
        b8 INTEGER NOT NULL DEFAULT 0, b9 INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, org, site, target, role, probe)
    ) WITHOUT ROWID;
    """,
    # version 2: the hash chain (evidence, maintenance, closed months) and the minutes
    # already counted in dui_sla_minutes_total
    """
    CREATE TABLE chain (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, contract TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL,
        received_at REAL NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
        UNIQUE (kind, contract, key)
    );
    CREATE TABLE sla_counted (
        contract TEXT NOT NULL, minute INTEGER NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (contract, minute)
    ) WITHOUT ROWID;
    """,
    # version 3: what arrived since the last evaluation, for incremental SLA evaluation
    """
    CREATE INDEX results_received ON results (received_at);
    """,
]
_BUCKET_COLUMNS = [f"b{i}" for i in range(10)]
ROLLUP_SQL = (
    "INSERT INTO rollups (minute, org, site, target, role, probe, results, failures,"
    f" duration_sum, {', '.join(_BUCKET_COLUMNS)}) VALUES ({', '.join(['?'] * 19)})"
    " ON CONFLICT (minute, org, site, target, role, probe) DO UPDATE SET"
    " results = results + excluded.results, failures = failures + excluded.failures,"
    " duration_sum = duration_sum + excluded.duration_sum, "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _BUCKET_COLUMNS)
)


def bucket_index(seconds: float) -> int:
    """Index of the first bucket whose upper bound holds `seconds` (9 = above 30 s)."""
    for i, bound in enumerate(BUCKETS):
        if seconds <= bound:
            return i
    return len(BUCKETS)


class _SqliteTx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add_results(self, results: list[StoredResult], received_at: float) -> None:
        """Store new results (ingest already left out the ones it knows) and add them
        to the per-minute rollups, aggregated first: one upsert per rollup row."""
        if not results:
            return
        self.db.executemany(
            "INSERT INTO results (org, site, agent, epoch, seq, ts, probe, target, role,"
            " success, duration, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    *r.key,
                    r.seq,
                    r.ts,
                    r.probe,
                    r.target,
                    r.role,
                    int(r.success),
                    r.duration,
                    r.body,
                    received_at,
                )
                for r in results
            ],
        )
        rollups: dict[tuple, list[float]] = {}
        for r in results:
            row_key = (int(r.ts // 60), r.key[0], r.key[1], r.target, r.role, r.probe)
            row = rollups.get(row_key)
            if row is None:
                row = rollups[row_key] = [0, 0, 0.0] + [0] * (len(BUCKETS) + 1)
            duration = r.duration or 0.0
            row[0] += 1
            row[1] += 0 if r.success else 1
            row[2] += duration
            row[3 + bucket_index(duration)] += 1
        self.db.executemany(ROLLUP_SQL, [(*k, *v) for k, v in rollups.items()])

    def add_reject(self, key: EpochKey, seq: int, reason: str, received_at: float) -> bool:
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO rejects (org, site, agent, epoch, seq, reason, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (*key, seq, reason, received_at),
        )
        return cursor.rowcount == 1

    def set_watermark(self, key: EpochKey, seq: int, now: float) -> None:
        self.db.execute(
            "INSERT INTO watermarks (org, site, agent, epoch, seq, updated_at) VALUES"
            " (?, ?, ?, ?, ?, ?) ON CONFLICT (org, site, agent, epoch) DO UPDATE SET"
            " seq = max(seq, excluded.seq), updated_at = excluded.updated_at",
            (*key, seq, now),
        )


class SqliteLedger:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(SCHEMA):
            raise RuntimeError(
                f"ledger {self.path} has schema version {version}, newer than this collector"
                f" ({len(SCHEMA)}): upgrade dui-collector"
            )
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTx(self.db)
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def watermark(self, key: EpochKey) -> int:
        row = self.db.execute(
            "SELECT seq FROM watermarks WHERE org = ? AND site = ? AND agent = ? AND epoch = ?", key
        ).fetchone()
        return int(row[0]) if row else 0

    def settled_above(self, key: EpochKey, seq: int) -> set[int]:
        where = "org = ? AND site = ? AND agent = ? AND epoch = ? AND seq > ?"
        rows = self.db.execute(
            f"SELECT seq FROM results WHERE {where} UNION SELECT seq FROM rejects WHERE {where}",
            (*key, seq, *key, seq),
        ).fetchall()
        return {int(r[0]) for r in rows}

    def writable(self) -> str | None:
        """None when the ledger accepts writes, else the reason."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
            return None
        except sqlite3.Error as exc:
            return str(exc)

    def prune(self, raw_retention: float, now: float | None = None) -> int:
        """Drop raw results older than the retention (rollups stay)."""
        cutoff = (now or time.time()) - raw_retention
        with self.transaction():
            return self.db.execute("DELETE FROM results WHERE ts < ?", (cutoff,)).rowcount

    def counts(self) -> dict[str, int]:
        """Rows per table, and results counted in rollups (equal when nothing is double-counted)."""
        one = self.db.execute
        return {
            "results": one("SELECT COUNT(*) FROM results").fetchone()[0],
            "rejects": one("SELECT COUNT(*) FROM rejects").fetchone()[0],
            "rollup_results": one("SELECT COALESCE(SUM(results), 0) FROM rollups").fetchone()[0],
        }

    def seqs(self, org: str, site: str, agent: str) -> dict[str, list[int]]:
        rows = self.db.execute(
            "SELECT epoch, seq FROM results WHERE org = ? AND site = ? AND agent = ?"
            " ORDER BY epoch, seq",
            (org, site, agent),
        ).fetchall()
        out: dict[str, list[int]] = {}
        for epoch, seq in rows:
            out.setdefault(epoch, []).append(seq)
        return out

    # -- the hash chain: evidence and maintenance ------------------------------------
    def add_evidence(
        self, kind: str, record: Any, received_at: float | None = None
    ) -> tuple[chain.Entry, bool]:
        """Store a backup or restore test; idempotent on its id; chain.Conflict if the id
        was received before with other content."""
        with self.transaction():
            return chain.append(
                self.db,
                kind,
                record.contract,
                record.id,
                evidence.canonical(record),
                received_at or time.time(),
            )

    def evidence(self, kind: str, contract: str) -> list[Any]:
        return [
            evidence.parse(kind, e.record.encode()) for e in chain.entries(self.db, kind, contract)
        ]

    def add_maintenance(
        self,
        contract: str,
        start: dt.datetime,
        end: dt.datetime,
        reason: str | None,
        announced_at: float | None = None,
    ) -> tuple[chain.Entry, bool]:
        """A maintenance window announced now (server time)."""
        record = json.dumps(
            {
                "start": start.astimezone(dt.UTC).isoformat(),
                "end": end.astimezone(dt.UTC).isoformat(),
                "reason": reason,
            },
            sort_keys=True,
        )
        key = f"{start.astimezone(dt.UTC).isoformat()}/{end.astimezone(dt.UTC).isoformat()}"
        with self.transaction():
            return chain.append(
                self.db, "maintenance", contract, key, record, announced_at or time.time()
            )

    def maintenance(self, contract: str) -> list[tuple[dt.datetime, dt.datetime, float]]:
        """(start, end, announced_at) of the windows recorded for a contract."""
        out = []
        for entry in chain.entries(self.db, "maintenance", contract):
            data = json.loads(entry.record)
            out.append(
                (
                    dt.datetime.fromisoformat(data["start"]),
                    dt.datetime.fromisoformat(data["end"]),
                    entry.received_at,
                )
            )
        return out

    def chain_head(self) -> str:
        return chain.head(self.db)

    def verify_chain(self) -> str | None:
        return chain.verify(self.db)

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the ledger, taken while it is in use."""
        destination = sqlite3.connect(target)
        with destination:
            self.db.backup(destination)
        destination.close()

    def close(self) -> None:
        self.db.close()
