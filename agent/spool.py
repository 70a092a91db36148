"""The agent's on-disk spool: every result is written here before it is published
and deleted only when an ack of the same epoch covers it.

SQLite in WAL mode with synchronous=FULL: a result that `append` returned for
survives a crash or power cut. `epoch` is created with the spool, so deleting
the file starts a new epoch at seq 1. `sent` is the highest seq ever published in the
epoch, kept across restarts: an ack above it cannot be the collector's.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from runtime.logs import Throttle, fields
from wire.schema import encode

log = logging.getLogger("dui.agent.spool")

SCHEMA_VERSION = 1
LOG_EVERY = 60.0  # one "spool full" line a minute however many results go


class SpoolError(Exception):
    """The spool file cannot be opened or is not a spool."""


class Spool:
    def __init__(self, path: str | Path, max_bytes: int, max_age: float) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.max_age = max_age
        self._db: sqlite3.Connection | None = None
        self._throttle = Throttle(LOG_EVERY)

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> Spool:
        try:
            return self._open()
        except (OSError, sqlite3.Error) as exc:
            self.close()
            hint = ""
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                hint = " (not a spool: move the file away to start a new epoch)"
            raise SpoolError(f"cannot open spool {str(self.path)!r}: {exc}{hint}") from None

    def _open(self) -> Spool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db = db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS results (seq INTEGER PRIMARY KEY, ts REAL NOT NULL,"
            " size INTEGER NOT NULL, body BLOB NOT NULL)"
        )
        with self._tx():
            if self._meta("epoch") is None:
                epoch = secrets.token_hex(8)
                for key, value in (
                    ("schema", SCHEMA_VERSION),
                    ("epoch", epoch),
                    ("next_seq", 1),
                    ("dropped", 0),
                    ("sent", 0),
                ):
                    self._set(key, value)
                log.info("new spool", extra=fields(path=str(self.path), epoch=epoch))
        self.epoch = str(self._meta("epoch"))
        self.next_seq = int(self._meta("next_seq") or 1)
        self.dropped = int(self._meta("dropped") or 0)
        sent = self._meta("sent")  # absent in a spool of an older agent: trust its numbering
        self.sent = int(sent) if sent is not None else self.next_seq - 1
        self.bytes = int(db.execute("SELECT COALESCE(SUM(size), 0) FROM results").fetchone()[0])
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def __aenter__(self) -> Spool:
        return self.open()

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ---------------------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("spool is not open")
        return self._db

    def _tx(self) -> Any:
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: object, *rest: object) -> None:
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set(self, key: str, value: object) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value ="
            " excluded.value",
            (key, str(value)),
        )

    # -- the spool's operations ------------------------------------------------------------
    def append(self, result: dict[str, Any]) -> int:
        """Number the result, store it durably, return its seq."""
        seq = self.next_seq
        body = encode({"seq": seq, **result})
        with self._tx():
            self.db.execute(
                "INSERT INTO results (seq, ts, size, body) VALUES (?, ?, ?, ?)",
                (seq, float(result.get("ts", time.time())), len(body), body),
            )
            self._set("next_seq", seq + 1)
            self.next_seq = seq + 1
            self.bytes += len(body)
            self._enforce_bounds()
        return seq

    def _enforce_bounds(self) -> None:
        dropped = 0
        # Results are in time order, so looking at the oldest few keeps this cheap.
        cutoff = time.time() - self.max_age
        head = "SELECT seq FROM results ORDER BY seq LIMIT 100"
        row = self.db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM results WHERE seq IN ({head})"
            " AND ts < ?",
            (cutoff,),
        ).fetchone()
        if row[0]:
            self.db.execute(f"DELETE FROM results WHERE seq IN ({head}) AND ts < ?", (cutoff,))
            dropped += row[0]
            self.bytes -= row[1]
        while self.bytes > self.max_bytes:
            rows = self.db.execute(
                "SELECT seq, size FROM results ORDER BY seq LIMIT 100"
            ).fetchall()
            if len(rows) <= 1:
                break  # never drop the result just written
            cut, freed = rows[0][0], 0
            for seq, size in rows[:-1]:
                cut, freed = seq, freed + size
                if self.bytes - freed <= self.max_bytes:
                    break
            count = self.db.execute("DELETE FROM results WHERE seq <= ?", (cut,)).rowcount
            dropped += count
            self.bytes -= freed
        if dropped:
            self.dropped += dropped
            self._set("dropped", self.dropped)
            skipped = self._throttle.due("full")
            if skipped is not None:
                log.warning(
                    "spool full, oldest unacked results removed",
                    extra=fields(
                        dropped=dropped, dropped_total=self.dropped, similar_left_out=skipped
                    ),
                )

    def mark_sent(self, seq: int) -> None:
        """Record, durably and before it is published, that results up to `seq` go out."""
        if seq > self.sent:
            with self._tx():
                self._set("sent", seq)
            self.sent = seq

    def ack(self, seq: int) -> int:
        """Delete every result up to `seq` (never beyond `sent`); returns how many went."""
        if seq > self.sent:
            raise ValueError(f"ack {seq} above the highest seq sent ({self.sent})")
        with self._tx():
            row = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM results WHERE seq <= ?", (seq,)
            ).fetchone()
            if row[0]:
                self.db.execute("DELETE FROM results WHERE seq <= ?", (seq,))
                self.bytes -= row[1]
        return int(row[0])

    def first_seq(self) -> int:
        """Lowest seq still held, or the next one to be written when empty."""
        row = self.db.execute("SELECT MIN(seq) FROM results").fetchone()
        return int(row[0]) if row[0] is not None else self.next_seq

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def read_after(self, seq: int, max_results: int, max_bytes: int) -> list[tuple[int, bytes]]:
        """Results with seq > `seq`, oldest first, within both limits (at least one)."""
        rows = self.db.execute(
            "SELECT seq, body FROM results WHERE seq > ? ORDER BY seq LIMIT ?", (seq, max_results)
        ).fetchall()
        out: list[tuple[int, bytes]] = []
        total = 0
        for row_seq, body in rows:
            if out and total + len(body) + 1 > max_bytes:
                break
            out.append((row_seq, bytes(body)))
            total += len(body) + 1
        return out
