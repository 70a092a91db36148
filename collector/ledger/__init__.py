"""The ledger: the collector's one storage owner. Every SQL statement lives behind the
`Ledger` interface below; `sqlite.SqliteLedger` is its first backend (PostgreSQL next).

Each role of the service (ingest writer, housekeeping, SLA evaluation, HTTP API) opens
its own `Ledger` with `open_ledger`, and a `Ledger` is used by one thread at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from collector.ledger.chain import Conflict, Entry
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

__all__ = [
    "Conflict",
    "Entry",
    "EpochKey",
    "Ledger",
    "LedgerError",
    "LedgerTx",
    "MaintenanceRecord",
    "Measurement",
    "Note",
    "ProbeFigures",
    "ResultRow",
    "SqliteLedger",
    "StoredResult",
    "UsageMinute",
    "UsageResult",
    "Voided",
    "open_ledger",
]


class LedgerTx(Protocol):
    """What ingest writes inside one transaction (one group of messages); each message's
    writes in their own savepoint, so one failing never rolls back another."""

    def savepoint(self) -> AbstractContextManager[None]: ...
    def add_results(self, results: list[StoredResult], received_at: float) -> None: ...
    def add_usage(self, usage: list[UsageResult], marks: dict[EpochKey, int]) -> None: ...
    def add_reject(self, key: EpochKey, seq: int, reason: str, received_at: float) -> bool: ...
    def set_watermark(self, key: EpochKey, seq: int, now: float) -> None: ...


class Ledger(Protocol):
    """The storage interface. Reads the SLA needs are typed queries; the rules that decide
    what the rows mean (which probes count, what a failed result is) stay in collector.sla
    and arrive here as parameters."""

    # ingest
    def transaction(self) -> AbstractContextManager[LedgerTx]: ...
    def watermark(self, key: EpochKey) -> int: ...
    def settled_above(self, key: EpochKey, seq: int) -> set[int]: ...

    # housekeeping and health
    def prune(self, raw_retention: float, now: float, usage_retention: float = ...) -> int: ...
    def writable(self) -> str | None: ...
    def counts(self) -> dict[str, int]: ...
    def backup(self, target: str | Path) -> None: ...

    # what the SLA reads
    def results(
        self,
        targets: Iterable[str],
        probes: Iterable[str],
        reference_roles: Iterable[str],
        start: float,
        end: float,
    ) -> Iterator[ResultRow]: ...
    def touched_minutes(
        self,
        targets: Iterable[str],
        probes: Iterable[str],
        reference_roles: Iterable[str],
        received_after: float,
    ) -> tuple[set[int], float]: ...
    def newest_received(self) -> float: ...

    # usage, per site and minute only (never per workstation)
    def usage(self, start: float, end: float, site: str | None = None) -> Iterator[UsageMinute]:
        """The usage minutes starting in [start, end), by minute then org and site."""
        ...

    def usage_totals(self) -> dict[tuple[str, str], int]: ...
    def agents_seen(self, context_since: float) -> list[tuple[str, str, str, float, bytes | None]]:
        """(org, site, agent, last stored result's arrival, newest `context` result body
        measured since `context_since` or None) of every agent with a watermark."""
        ...

    def bodies(
        self, probe: str, role: str, since: float, until: float = ...
    ) -> Iterator[tuple[str, bytes]]: ...

    # what readiness reads
    def latest(self, probe: str, since: float) -> list[tuple[str, str, str, float, bytes]]:
        """The newest successful result of `probe` per agent measured since `since`:
        (org, site, agent, ts, body)."""
        ...

    def measurements(
        self, probes: Iterable[str], since: float, until: float
    ) -> Iterator[Measurement]:
        """Results of `probes` measured in [since, until) with their agent, streamed."""
        ...

    def probe_figures(self, since: float, until: float) -> Iterator[ProbeFigures]:
        """Latency results to the DUI and the gateway, HTTP results to the DUI and bandwidth
        results measured in [since, until), streamed in one scan, with the few body fields
        readiness needs extracted."""
        ...

    # the hash chain
    def add_evidence(
        self, kind: str, records: list[Any], received_at: float
    ) -> list[tuple[Entry, bool]]: ...
    def evidence(self, kind: str, contract: str) -> list[Any]: ...
    def add_void(
        self, kind: str, contract: str, record_id: str, reason: str, at: float
    ) -> tuple[Entry, bool]: ...
    def voided(self, contract: str) -> list[Voided]: ...
    def add_note(self, note: Note) -> Entry: ...
    def notes(self, contract: str) -> list[Note]: ...
    def add_maintenance(self, record: MaintenanceRecord) -> tuple[Entry, bool]: ...
    def maintenance(self, contract: str) -> list[MaintenanceRecord]: ...
    def chain_config_windows(
        self, contract: str, windows: list[MaintenanceRecord], at: float
    ) -> int: ...
    def config_windows(self, contract: str) -> list[MaintenanceRecord]: ...
    def frozen_month(self, contract: str, month: str) -> dict[str, Any] | None: ...
    def freeze_month(
        self, contract: str, month: str, document: dict[str, Any], at: float
    ) -> Entry: ...
    def chain_head(self) -> str: ...
    def verify_chain(self) -> str | None: ...
    def integrity(self) -> str | None: ...

    # minutes counted in dui_sla_seconds_total
    def last_counted_minute(self, contract: str) -> int | None: ...
    def count_minutes(self, contract: str, states: list[tuple[int, str]]) -> None: ...
    def counted(self, contract: str) -> dict[str, int]: ...

    def close(self) -> None: ...


def open_ledger(path: str | Path, *, read_only: bool = False) -> Ledger:
    """The backend for a ledger path (SQLite today; `ledger.url` already names it);
    LedgerError names the file and why when it cannot be opened."""
    from collector.ledger.sqlite import SqliteLedger

    return SqliteLedger(path, read_only=read_only)


def __getattr__(name: str) -> Any:
    """The backend is imported when asked for, so the pure SLA core, which imports this
    package's typed rows, never loads it."""
    if name in ("LedgerError", "SqliteLedger"):
        from collector.ledger import sqlite

        return getattr(sqlite, name)
    raise AttributeError(name)
