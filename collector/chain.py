"""The ledger's hash chain: evidence, maintenance windows and closed months, each record
carrying the hash of the previous one, so that a later edit shows (DESIGN.md §6, §8).

hash = sha256(previous hash, kind, contract, key, canonical record, receive time).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

GENESIS = "sha256:" + "0" * 64


class Conflict(Exception):
    """The same key was posted before with different content."""


def _hash(prev: str, kind: str, contract: str, key: str, record: str, received_at: float) -> str:
    text = "\n".join((prev, kind, contract, key, record, repr(received_at)))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    kind: str
    contract: str
    key: str
    record: str
    received_at: float
    hash: str


def append(
    db: sqlite3.Connection, kind: str, contract: str, key: str, record: str, received_at: float
) -> tuple[Entry, bool]:
    """Add a record (inside the caller's transaction). Returns (entry, created); the same
    content again is idempotent, different content under the same key is a Conflict."""
    row = db.execute(
        "SELECT record, received_at, hash FROM chain WHERE kind = ? AND contract = ? AND key = ?",
        (kind, contract, key),
    ).fetchone()
    if row is not None:
        if row[0] != record:
            raise Conflict(f"{kind} {key!r} of {contract} was received before with other content")
        return Entry(kind, contract, key, row[0], row[1], row[2]), False
    prev = head(db)
    digest = _hash(prev, kind, contract, key, record, received_at)
    db.execute(
        "INSERT INTO chain (kind, contract, key, record, received_at, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (kind, contract, key, record, received_at, prev, digest),
    )
    return Entry(kind, contract, key, record, received_at, digest), True


def head(db: sqlite3.Connection) -> str:
    row = db.execute("SELECT hash FROM chain ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else GENESIS


def entries(db: sqlite3.Connection, kind: str, contract: str) -> list[Entry]:
    rows = db.execute(
        "SELECT kind, contract, key, record, received_at, hash FROM chain"
        " WHERE kind = ? AND contract = ? ORDER BY id",
        (kind, contract),
    )
    return [Entry(*row) for row in rows]


def verify(db: sqlite3.Connection) -> str | None:
    """None when every link holds, else which record broke the chain."""
    prev = GENESIS
    for row_id, kind, contract, key, record, received_at, prev_hash, digest in db.execute(
        "SELECT id, kind, contract, key, record, received_at, prev_hash, hash FROM chain"
        " ORDER BY id"
    ):
        if prev_hash != prev:
            return f"record {row_id} ({kind} {key}) does not follow the one before it"
        if _hash(prev, kind, contract, key, record, received_at) != digest:
            return f"record {row_id} ({kind} {key}) was changed after it was chained"
        prev = digest
    return None
