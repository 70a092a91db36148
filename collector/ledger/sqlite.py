"""The SQLite backend of the ledger: WAL with synchronous=FULL, one transaction per group
of messages (group commit), the schema (sqlite_schema.py) migrated on open. Every SQL
statement of the collector is in these two files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from collector import evidence
from collector.config import USAGE_RETENTION
from collector.ledger.chain import GENESIS, Conflict, Entry, link_hash
from collector.ledger.sqlite_schema import (
    LATEST_PROBES,
    ROLLUP_BUCKETS,
    ROLLUP_SQL,
    SCHEMA,
    USAGE_SQL,
    bucket_index,
)
from collector.ledger.types import (
    EpochKey,
    MaintenanceRecord,
    Measurement,
    Note,
    ProbeFigures,
    ResultRow,
    StoredResult,
    UsageMinute,
    UsageResult,
    Voided,
)


class _SqliteTx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One message's writes: kept on success, undone alone when the block raises."""
        self.db.execute("SAVEPOINT message")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO message")
            self.db.execute("RELEASE message")
            raise
        self.db.execute("RELEASE message")

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
                row = rollups[row_key] = [0, 0, 0.0] + [0] * (len(ROLLUP_BUCKETS) + 1)
            duration = r.duration or 0.0
            row[0] += 1
            row[1] += 0 if r.success else 1
            row[2] += duration
            row[3 + bucket_index(duration)] += 1
        self.db.executemany(ROLLUP_SQL, [(*k, *v) for k, v in rollups.items()])

    def add_usage(self, usage: list[UsageResult], marks: dict[EpochKey, int]) -> None:
        """Add usage results to their site's minutes, aggregated first; their seqs above
        the epoch's watermark (`marks`, as it will be set) are kept bare in settled_seqs
        until the watermark passes them. Nothing else of them is stored."""
        if not usage:
            return
        minutes: dict[tuple[int, str, str], list[int]] = {}
        for u in usage:
            row = minutes.setdefault((u.minute, u.key[0], u.key[1]), [0, 0])
            row[0] += int(u.success)
            row[1] += int(u.success and u.in_use)
        self.db.executemany(USAGE_SQL, [(*k, *v) for k, v in minutes.items()])
        self.db.executemany(
            "INSERT OR IGNORE INTO settled_seqs (org, site, agent, epoch, seq)"
            " VALUES (?, ?, ?, ?, ?)",
            [(*u.key, u.seq) for u in usage if u.seq > marks.get(u.key, 0)],
        )

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
        self.db.execute(
            "DELETE FROM settled_seqs WHERE org = ? AND site = ? AND agent = ? AND epoch = ?"
            " AND seq <= ?",
            (*key, seq),
        )


def _marks(values: list[str]) -> str:
    return ",".join("?" * len(values))


BUSY_TIMEOUT_MS = 5000  # how long a write waits for another connection's transaction
CHUNK_ROWS = 5000  # rows streamed per hold of the connection


V1_TABLES = frozenset({"results", "rejects", "watermarks", "rollups"})  # in every version
RESTORE = (
    "restore it from a copy made by `dui-collector backup`, or move it away to start a new ledger"
)


class LedgerError(Exception):
    """The ledger cannot be opened: the message names the file and why."""


class SqliteLedger:
    """One connection, used by one thread at a time (the lock makes it so, whatever the
    caller does: a connection shared between two threads can interleave transactions)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        try:
            self._refuse_unknown_file()
            self._open(read_only)
        except (sqlite3.Error, OSError, LedgerError) as exc:
            if hasattr(self, "db"):
                self.db.close()
            if isinstance(exc, LedgerError):
                raise
            code = getattr(exc, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_NOTADB:
                raise LedgerError(
                    f"ledger {self.path} is not an SQLite file (or is damaged): {RESTORE}"
                ) from None
            hint = f" (the file is damaged): {RESTORE}" if code == sqlite3.SQLITE_CORRUPT else ""
            raise LedgerError(f"ledger {self.path}: {exc}{hint}") from None

    def _refuse_unknown_file(self) -> None:
        """A new ledger is made only where no file exists: an empty file or another
        program's file at the path is refused, never taken over and written to."""
        if not self.path.exists():
            return
        wal = self.path.with_name(self.path.name + "-wal")
        if self.path.stat().st_size == 0 and not (wal.exists() and wal.stat().st_size > 0):
            raise LedgerError(
                f"ledger {self.path} is empty (0 bytes): its history is gone; {RESTORE}"
            )
        # The header is left to SQLite (SQLITE_NOTADB below): opening and closing the file
        # here would drop the POSIX locks every connection of this process holds on it,
        # and another process could then checkpoint and truncate the WAL under them.

    def _refuse_foreign_schema(self) -> None:
        tables = {
            r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        tables = {t for t in tables if not t.startswith("sqlite_")}
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if (version == 0 and tables) or (version > 0 and not tables >= V1_TABLES):
            raise LedgerError(
                f"ledger {self.path} is an SQLite database but not a dui-sla ledger"
                f" (schema version {version}, tables: {', '.join(sorted(tables)) or 'none'});"
                " point ledger.url at the ledger, or restore it from a copy made by"
                " `dui-collector backup`"
            )

    def _open(self, read_only: bool) -> None:
        if read_only:
            self.db = sqlite3.connect(
                f"file:{self.path}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._refuse_foreign_schema()  # before WAL mode changes another program's file
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if read_only:
            self._refuse_foreign_schema()
            self.version = self._check_version()
        else:
            self._migrate()
            self.version = len(SCHEMA)

    def _check_version(self) -> int:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(SCHEMA):
            raise LedgerError(
                f"ledger {self.path} has schema version {version}, newer than this collector"
                f" ({len(SCHEMA)}): upgrade dui-collector"
            )
        return version

    def _migrate(self) -> None:
        version = self._check_version()
        if version == len(SCHEMA):
            return
        # Version 4 deletes the usage results an older version stored per workstation:
        # secure_delete overwrites them rather than leaving them in free pages.
        self.db.execute("PRAGMA secure_delete = ON")
        try:
            for number, script in enumerate(SCHEMA[version:], start=version + 1):
                self.db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        finally:
            self.db.execute("PRAGMA secure_delete = OFF")
        # In WAL mode the overwritten pages are only in the WAL: until a checkpoint the
        # main file still holds the old ones (usage per workstation, for a file copy or a
        # snapshot to take), and the WAL itself may keep frames of a migration cut short.
        # A full checkpoint now writes them over and empties the WAL (should a reader
        # block it, later checkpoints do it as the collector runs).
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTx]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self.db)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            return self.db.execute(sql, tuple(params)).fetchall()

    def _one(self, sql: str, params: Iterable[Any] = ()) -> Any:
        with self._lock:
            return self.db.execute(sql, tuple(params)).fetchone()

    # -- ingest -------------------------------------------------------------------------
    def watermark(self, key: EpochKey) -> int:
        row = self._one(
            "SELECT seq FROM watermarks WHERE org = ? AND site = ? AND agent = ? AND epoch = ?", key
        )
        return int(row[0]) if row else 0

    def settled_above(self, key: EpochKey, seq: int) -> set[int]:
        where = "org = ? AND site = ? AND agent = ? AND epoch = ? AND seq > ?"
        rows = self._all(
            f"SELECT seq FROM results WHERE {where} UNION SELECT seq FROM rejects WHERE {where}"
            f" UNION SELECT seq FROM settled_seqs WHERE {where}",
            (*key, seq, *key, seq, *key, seq),
        )
        return {int(r[0]) for r in rows}

    # -- housekeeping and health --------------------------------------------------------
    def writable(self) -> str | None:
        """None when the ledger accepts writes, else the reason. Another connection writing
        right now (busy) is not a fault: the check does not wait for it."""
        try:
            with self._lock:
                self.db.execute("PRAGMA busy_timeout=0")
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.execute("ROLLBACK")
                finally:
                    self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            return None
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None
            return str(exc)
        except sqlite3.Error as exc:
            return str(exc)

    def prune(
        self, raw_retention: float, now: float, usage_retention: float = USAGE_RETENTION
    ) -> int:
        """Drop raw results older than the retention, the settled usage seqs of epochs
        silent as long, and the sites' usage minutes older than `usage_retention` (a
        maximum the DPO's register states; rollups and the SLA minute states stay)."""
        with self.transaction():
            self.db.execute(
                "DELETE FROM usage_minutes WHERE minute < ?",
                (math.ceil((now - usage_retention) / 60),),
            )
            # The bare seqs of usage results above a gap that never closed (the agent
            # moved to a new epoch) go once their epoch has been silent for the
            # retention: any of its results sent again is too old to count by then.
            self.db.execute(
                "DELETE FROM settled_seqs WHERE NOT EXISTS (SELECT 1 FROM watermarks AS w"
                " WHERE w.org = settled_seqs.org AND w.site = settled_seqs.site"
                " AND w.agent = settled_seqs.agent AND w.epoch = settled_seqs.epoch"
                " AND w.updated_at >= ?)",
                (now - raw_retention,),
            )
            return self.db.execute(
                "DELETE FROM results WHERE ts < ?", (now - raw_retention,)
            ).rowcount

    def counts(self) -> dict[str, int]:
        """Rows per table, and results counted in rollups (equal when nothing is double-counted)."""
        return {
            "results": self._one("SELECT COUNT(*) FROM results")[0],
            "rejects": self._one("SELECT COUNT(*) FROM rejects")[0],
            "rollup_results": self._one("SELECT COALESCE(SUM(results), 0) FROM rollups")[0],
        }

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the ledger, taken while it is in use: written 0600 (it holds
        everything the ledger does) beside the target, then renamed over it, so a copy cut
        short never passes for a whole one."""
        target = Path(target)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            destination = sqlite3.connect(partial)
            try:
                with self._lock, destination:
                    self.db.backup(destination)
            finally:
                destination.close()
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)  # never a partial copy left to pass for a backup
            raise

    # -- what the SLA reads --------------------------------------------------------------
    def _contract_filter(
        self, targets: Iterable[str], probes: Iterable[str], roles: Iterable[str]
    ) -> tuple[str, list[str]]:
        t, p, r = list(targets), list(probes), list(roles)
        sql = f"((target IN ({_marks(t)}) AND probe IN ({_marks(p)})) OR role IN ({_marks(r)}))"
        return sql, [*t, *p, *r]

    def results(
        self,
        targets: Iterable[str],
        probes: Iterable[str],
        reference_roles: Iterable[str],
        start: float,
        end: float,
    ) -> Iterator[ResultRow]:
        """The contract's results and the sites' references measured in [start, end),
        streamed, not fetched: a month is millions of rows."""
        where, params = self._contract_filter(targets, probes, reference_roles)
        sql = (
            "SELECT CAST(ts / 60 AS INTEGER), site, target, role, probe, success, duration"
            f" FROM results WHERE ts >= ? AND ts < ? AND {where}"
        )
        yield from (
            ResultRow(m, si, t, r, p, bool(ok), d)
            for m, si, t, r, p, ok, d in self._stream(sql, (start, end, *params))
        )

    def _stream(self, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        """Rows in chunks: the connection is held for one chunk at a time, never across a
        yield, so a reader that stops early or is slow blocks no one."""
        with self._lock:
            cursor = self.db.execute(sql, params)
            chunk = cursor.fetchmany(CHUNK_ROWS)
        while chunk:
            yield from chunk
            with self._lock:
                chunk = cursor.fetchmany(CHUNK_ROWS)

    def touched_minutes(
        self,
        targets: Iterable[str],
        probes: Iterable[str],
        reference_roles: Iterable[str],
        received_after: float,
    ) -> tuple[set[int], float]:
        """Minutes that received such results since `received_after`, and the newest receive
        time seen (for the next call). One writer stores groups one after the other, each
        stamped when it starts, so a later group never carries an older stamp."""
        where, params = self._contract_filter(targets, probes, reference_roles)
        rows = self._all(
            "SELECT CAST(ts / 60 AS INTEGER), received_at FROM results WHERE received_at > ?"
            f" AND {where}",
            (received_after, *params),
        )
        newest = max((r[1] for r in rows), default=received_after)
        return {r[0] for r in rows}, newest

    def usage(self, start: float, end: float, site: str | None = None) -> Iterator[UsageMinute]:
        """The sites' usage minutes starting in [start, end), by minute then org and site;
        one site's only when `site` is given."""
        self._require(4, "usage per site")
        first, stop = math.ceil(start / 60), math.ceil(end / 60)
        where, params = "minute >= ? AND minute < ?", [first, stop]
        if site is not None:
            where, params = f"{where} AND site = ?", [*params, site]
        sql = (
            "SELECT minute, org, site, reporting, in_use FROM usage_minutes"
            f" WHERE {where} ORDER BY minute, org, site"
        )
        yield from (UsageMinute(*row) for row in self._stream(sql, tuple(params)))

    def usage_totals(self) -> dict[tuple[str, str], int]:
        """Workstation-minutes in use stored per (org, site): where
        dui_site_usage_minutes_total starts at collector start."""
        self._require(4, "usage per site")
        rows = self._all("SELECT org, site, SUM(in_use) FROM usage_minutes GROUP BY org, site")
        return {(org, site): int(n) for org, site, n in rows}

    def _require(self, version: int, what: str) -> None:
        """A ledger opened read-only is not migrated: an older one lacks newer tables."""
        if self.version < version:
            raise LedgerError(
                f"ledger {self.path} has schema version {self.version}; {what} needs version"
                f" {version}: run `dui-collector run` once with this version to upgrade it"
            )

    def newest_received(self) -> float:
        return float(self._one("SELECT COALESCE(MAX(received_at), 0) FROM results")[0])

    def agents_seen(self, context_since: float) -> list[tuple[str, str, str, float, bytes | None]]:
        seen = self._all(
            "SELECT org, site, agent, MAX(updated_at) FROM watermarks GROUP BY org, site, agent"
        )
        # SQLite's bare columns: the body of the row holding MAX(ts)
        context = {
            (org, site, agent): body
            for org, site, agent, body, _ in self._all(
                "SELECT org, site, agent, body, MAX(ts) FROM results"
                " WHERE received_at >= ? AND probe = 'context' GROUP BY org, site, agent",
                (context_since,),
            )
        }
        return [(o, s, a, float(t), context.get((o, s, a))) for o, s, a, t in seen]

    def bodies(
        self, probe: str, role: str, since: float, until: float = float("inf")
    ) -> Iterator[tuple[str, bytes]]:
        """(site, the result as the agent sent it) of a probe and role measured in
        [since, until)."""
        return self._stream(
            "SELECT site, body FROM results WHERE ts >= ? AND ts < ? AND probe = ? AND role = ?",
            (since, until, probe, role),
        )

    def latest(self, probe: str, since: float) -> list[tuple[str, str, str, float, bytes]]:
        """The newest successful result of `probe` per agent measured since `since`:
        (org, site, agent, ts, body)."""
        # A failed result (an inventory that timed out) has no facts: it must not hide the
        # last good one. The probe is written in the SQL, not bound, so that SQLite can use
        # its partial index (schema 5): the newest ts per agent from the index alone, then
        # that row's body through it (0.17 s → 0.01 s for the contexts of 10 agents × 35 d,
        # docs/readiness.md#cost).
        if probe not in LATEST_PROBES:
            raise ValueError(f"latest: {probe!r} is not one of {LATEST_PROBES}")
        newest = (
            "SELECT org, site, agent, MAX(ts) AS ts FROM results"
            f" WHERE ts >= ? AND probe = '{probe}' AND success GROUP BY org, site, agent"
        )
        if self.version < 5:  # opened read-only, not upgraded: no index, a scan
            # SQLite's bare columns: the body of the row holding MAX(ts)
            sql = newest.replace("MAX(ts) AS ts", "MAX(ts), body")
        else:
            sql = (
                f"SELECT r.org, r.site, r.agent, r.ts, r.body FROM ({newest}) AS m"
                f" JOIN results AS r INDEXED BY results_{probe} ON r.org = m.org"
                " AND r.site = m.site AND r.agent = m.agent AND r.ts = m.ts"
                f" AND r.probe = '{probe}' AND r.success"
            )
        found: dict[tuple[str, str, str], tuple[str, str, str, float, bytes]] = {}
        for o, s, a, t, b in self._all(sql, (since,)):
            found.setdefault((o, s, a), (o, s, a, float(t), b))  # one of two at the same ts
        return sorted(found.values())

    def measurements(
        self, probes: Iterable[str], since: float, until: float
    ) -> Iterator[Measurement]:
        """Results of `probes` measured in [since, until) with their agent, streamed."""
        p = list(probes)
        sql = (
            "SELECT org, site, agent, ts, probe, role, success, duration"
            f" FROM results WHERE ts >= ? AND ts < ? AND probe IN ({_marks(p)})"
        )
        yield from (
            Measurement(o, s, a, t, pr, r, bool(ok), d)
            for o, s, a, t, pr, r, ok, d in self._stream(sql, (since, until, *p))
        )

    def probe_figures(self, since: float, until: float) -> Iterator[ProbeFigures]:
        """Latency results to the DUI and the gateway, HTTP results to the DUI and bandwidth
        results measured in [since, until), streamed in one scan, with the few body fields
        readiness needs extracted by SQLite."""
        lat = "CASE WHEN probe = 'latency' THEN json_extract(CAST(body AS TEXT), '$.{}') END"
        sql = (
            "SELECT org, site, agent, probe, role, success, duration, CASE probe"
            " WHEN 'latency' THEN json_extract(CAST(body AS TEXT), '$.rtt_seconds.avg')"
            " WHEN 'bandwidth' THEN json_extract(CAST(body AS TEXT), '$.download_bytes_per_second')"
            f" END, {lat.format('sent')}, {lat.format('received')}, {lat.format('loss_ratio')}"
            " FROM results WHERE ts >= ? AND ts < ? AND (probe = 'bandwidth'"
            " OR (probe = 'latency' AND role IN ('dui', 'gateway'))"
            " OR (probe = 'http' AND role = 'dui'))"
        )
        for row in self._stream(sql, (since, until)):
            yield ProbeFigures._make(row)

    # -- the hash chain -----------------------------------------------------------------
    def _append(
        self, kind: str, contract: str, key: str, record: str, received_at: float
    ) -> tuple[Entry, bool]:
        """Add a record inside the caller's transaction: the same content again is
        idempotent, different content under the same key is a Conflict."""
        row = self.db.execute(
            "SELECT record, received_at, hash FROM chain WHERE kind = ? AND contract = ?"
            " AND key = ?",
            (kind, contract, key),
        ).fetchone()
        if row is not None:
            if row[0] != record:
                raise Conflict(
                    f"{kind} {key!r} of {contract} was received before with other content"
                )
            return Entry(kind, contract, key, row[0], row[1], row[2]), False
        prev = self._head()
        digest = link_hash(prev, kind, contract, key, record, received_at)
        self.db.execute(
            "INSERT INTO chain (kind, contract, key, record, received_at, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (kind, contract, key, record, received_at, prev, digest),
        )
        return Entry(kind, contract, key, record, received_at, digest), True

    def _head(self) -> str:
        row = self.db.execute("SELECT hash FROM chain ORDER BY id DESC LIMIT 1").fetchone()
        return row[0] if row else GENESIS

    def _entries(self, kind: str, contract: str) -> list[Entry]:
        rows = self._all(
            "SELECT kind, contract, key, record, received_at, hash FROM chain"
            " WHERE kind = ? AND contract = ? ORDER BY id",
            (kind, contract),
        )
        return [Entry(*row) for row in rows]

    def add_evidence(
        self, kind: str, records: list[Any], received_at: float
    ) -> list[tuple[Entry, bool]]:
        """Backups or restore tests, all or none (one transaction); idempotent on their id;
        Conflict when an id was received before with other content."""
        with self.transaction():
            return [
                self._append(kind, r.contract, r.id, evidence.canonical(r), received_at)
                for r in records
            ]

    def evidence(self, kind: str, contract: str) -> list[Any]:
        """The records in force: voided ones left out, and so are any an older version
        chained that no longer parse (they stay in the chain, which verify_chain checks)."""
        voided = {v.id for v in self.voided(contract) if v.kind == kind}
        out = []
        for entry in self._entries(kind, contract):
            if entry.key in voided:
                continue
            try:
                out.append(evidence.parse(kind, entry.record.encode()))
            except ValueError:
                continue
        return out

    def add_void(
        self, kind: str, contract: str, record_id: str, reason: str, at: float
    ) -> tuple[Entry, bool]:
        """Chain a voiding entry for evidence `record_id`; KeyError when there is no such
        record; voiding it again returns the first entry (the first reason stands)."""
        key = f"{kind}/{record_id}"
        with self.transaction():
            known = self.db.execute(
                "SELECT 1 FROM chain WHERE kind = ? AND contract = ? AND key = ?",
                (kind, contract, record_id),
            ).fetchone()
            if known is None:
                raise KeyError(f"no {kind.replace('_', ' ')} {record_id!r} for contract {contract}")
            row = self.db.execute(
                "SELECT kind, contract, key, record, received_at, hash FROM chain"
                " WHERE kind = 'void' AND contract = ? AND key = ?",
                (contract, key),
            ).fetchone()
            if row is not None:
                return Entry(*row), False
            body = json.dumps({"kind": kind, "id": record_id, "reason": reason}, sort_keys=True)
            return self._append("void", contract, key, body, at)

    def voided(self, contract: str) -> list[Voided]:
        out = []
        for entry in self._entries("void", contract):
            try:
                data = json.loads(entry.record)
                out.append(Voided(data["kind"], data["id"], str(data["reason"]), entry.received_at))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def add_note(self, note: Note) -> Entry:
        """Chain an incident note, stamped with its `at` (the server's time)."""
        incident = dt.datetime.fromtimestamp(note.incident * 60, dt.UTC).isoformat()
        body = json.dumps(
            {
                "incident": incident,
                "author": note.author,
                "cause": note.cause,
                "vendor_ticket": note.vendor_ticket,
                "status": note.status,
                # only when known: the notes chained before it hash as they were
                **({"recorded_by": note.recorded_by} if note.recorded_by else {}),
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        digest = hashlib.sha256(body.encode()).hexdigest()[:16]
        at = float(note.at)  # hashed as stored (REAL): an int clock would not verify
        with self.transaction():
            entry, _ = self._append("note", note.contract, f"{incident}/{at!r}/{digest}", body, at)
        return entry

    def notes(self, contract: str) -> list[Note]:
        """The contract's incident notes in the order they were chained; one that cannot
        be read is left out (it stays in the chain, which verify_chain checks)."""
        out = []
        for entry in self._entries("note", contract):
            try:
                data = json.loads(entry.record)
                start = dt.datetime.fromisoformat(data["incident"])
                out.append(
                    Note(
                        contract,
                        int(start.timestamp()) // 60,
                        str(data["author"]),
                        entry.received_at,
                        str(data["cause"]),
                        data.get("vendor_ticket"),
                        data.get("status"),
                        data.get("recorded_by"),
                    )
                )
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
        return out

    def add_maintenance(self, record: MaintenanceRecord) -> tuple[Entry, bool]:
        start = record.start.astimezone(dt.UTC).isoformat()
        end = record.end.astimezone(dt.UTC).isoformat()
        body = json.dumps({"start": start, "end": end, "reason": record.reason}, sort_keys=True)
        with self.transaction():
            return self._append(
                "maintenance", record.contract, f"{start}/{end}", body, record.announced_at
            )

    def maintenance(self, contract: str) -> list[MaintenanceRecord]:
        """The recorded windows; one an older version chained that cannot be read, or
        that ends before it starts, is left out (it stays in the chain)."""
        out = []
        for entry in self._entries("maintenance", contract):
            try:
                data = json.loads(entry.record)
                start = dt.datetime.fromisoformat(data["start"])
                end = dt.datetime.fromisoformat(data["end"])
                if start.tzinfo is None or end.tzinfo is None or end <= start:
                    continue
            except (ValueError, KeyError, TypeError, AttributeError):
                continue
            out.append(
                MaintenanceRecord(
                    contract,
                    start,
                    end,
                    entry.received_at,
                    data.get("reason"),
                    recorded_at=entry.received_at,
                )
            )
        return out

    def chain_config_windows(
        self, contract: str, windows: list[MaintenanceRecord], at: float
    ) -> int:
        """Chain the config file's windows not chained yet, stamped `at` (their recorded_at):
        an edit of the config then leaves a trace. The number newly chained."""
        created = 0
        with self.transaction():
            for w in windows:
                body = json.dumps(
                    {
                        "start": w.start.astimezone(dt.UTC).isoformat(),
                        "end": w.end.astimezone(dt.UTC).isoformat(),
                        "announced_at": w.announced_at,
                        "reason": w.reason,
                    },
                    sort_keys=True,
                )
                key = "sha256:" + hashlib.sha256(body.encode()).hexdigest()
                created += self._append("maintenance_config", contract, key, body, at)[1]
        return created

    def config_windows(self, contract: str) -> list[MaintenanceRecord]:
        """The config windows ever chained for a contract (in the config or not any more)."""
        out = []
        for entry in self._entries("maintenance_config", contract):
            data = json.loads(entry.record)
            out.append(
                MaintenanceRecord(
                    contract,
                    dt.datetime.fromisoformat(data["start"]),
                    dt.datetime.fromisoformat(data["end"]),
                    float(data["announced_at"]),
                    data.get("reason"),
                    source="config",
                    recorded_at=entry.received_at,
                )
            )
        return out

    def frozen_month(self, contract: str, month: str) -> dict[str, Any] | None:
        """The report of a frozen month as it was chained, or None."""
        row = self._one(
            "SELECT record FROM chain WHERE kind = 'month' AND contract = ? AND key = ?",
            (contract, month),
        )
        return json.loads(row[0]) if row else None

    def freeze_month(self, contract: str, month: str, document: dict[str, Any], at: float) -> Entry:
        with self.transaction():
            entry, _ = self._append(
                "month", contract, month, json.dumps(document, sort_keys=True), at
            )
        return entry

    def chain_head(self) -> str:
        with self._lock:
            return self._head()

    def integrity(self) -> str | None:
        """None when `PRAGMA quick_check` finds the file sound, else its first findings."""
        try:
            rows = [r[0] for r in self._all("PRAGMA quick_check(5)")]
        except sqlite3.DatabaseError as exc:
            return str(exc)
        return None if rows == ["ok"] else "; ".join(rows[:3])[:400]

    def verify_chain(self) -> str | None:
        """None when every link holds, else which record broke the chain."""
        prev = GENESIS
        for row_id, kind, contract, key, record, received_at, prev_hash, digest in self._all(
            "SELECT id, kind, contract, key, record, received_at, prev_hash, hash FROM chain"
            " ORDER BY id"
        ):
            if prev_hash != prev:
                return f"record {row_id} ({kind} {key}) does not follow the one before it"
            if link_hash(prev, kind, contract, key, record, received_at) != digest:
                return f"record {row_id} ({kind} {key}) was changed after it was chained"
            prev = digest
        return None

    # -- minutes counted in dui_sla_seconds_total -----------------------------------------
    def last_counted_minute(self, contract: str) -> int | None:
        row = self._one("SELECT MAX(minute) FROM sla_counted WHERE contract = ?", (contract,))
        return row[0]

    def count_minutes(self, contract: str, states: list[tuple[int, str]]) -> None:
        if not states:
            return
        with self.transaction():
            self.db.executemany(
                "INSERT OR IGNORE INTO sla_counted (contract, minute, state) VALUES (?, ?, ?)",
                [(contract, m, s) for m, s in states],
            )

    def counted(self, contract: str) -> dict[str, int]:
        return dict(
            self._all(
                "SELECT state, COUNT(*) FROM sla_counted WHERE contract = ? GROUP BY state",
                (contract,),
            )
        )

    def close(self) -> None:
        with self._lock:
            self.db.close()
