"""The ledger's typed rows: what ingest stores and what the SLA reads back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

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


class ResultRow(NamedTuple):
    """One stored result as the SLA reads it (a month streams millions of these)."""

    minute: int  # UTC minute of the corrected measurement time
    site: str
    target: str
    role: str
    probe: str
    success: bool
    duration: float | None


class Measurement(NamedTuple):
    """One stored result with its agent, as the pilot weeks read them (an HTTP result's
    duration is enough: no body)."""

    org: str
    site: str
    agent: str
    ts: float
    probe: str
    role: str
    success: bool
    duration: float | None


class ProbeFigures(NamedTuple):
    """The figures readiness reads of one latency, HTTP or bandwidth result, taken out of
    its body by the ledger (millions a week: no JSON decoded in Python)."""

    org: str
    site: str
    agent: str
    probe: str
    role: str
    success: bool
    duration: float | None
    value: object  # latency: rtt_seconds.avg; bandwidth: download_bytes_per_second
    sent: object  # latency only, as the agent sent them (checked by the reader)
    received: object
    loss_ratio: object


@dataclass(frozen=True)
class UsageResult:
    """What ingest keeps of one usage result: its site's minute and whether it said in
    use. The seq only settles it for dedup; the agent id goes no further (never stored
    beside the minute or the value)."""

    key: EpochKey
    seq: int
    minute: int  # UTC minute of the corrected measurement time
    success: bool
    in_use: bool


class UsageMinute(NamedTuple):
    """One site's usage in one UTC minute: `reporting` successful usage results measured
    in it, `in_use` of them saying the workstation used the DUI (each result counts as
    one workstation-minute)."""

    minute: int
    org: str
    site: str
    reporting: int
    in_use: int


@dataclass(frozen=True)
class MaintenanceRecord:
    """A maintenance window. From the API or `maintenance add`, `announced_at` is the
    server's receive time; from the config file it is the OG's word, and `recorded_at` is
    when the collector first chained it."""

    contract: str
    start: dt.datetime
    end: dt.datetime
    announced_at: float
    reason: str | None = None
    source: str = "api"  # api (maintenance add, POST /api/v1/maintenance) or config
    recorded_at: float | None = None  # when chained; for the API, the announcement itself


@dataclass(frozen=True)
class Voided:
    """A chained voiding entry: evidence `id` of `kind` no longer counts, for `reason`;
    `at` is the server's time when it was voided."""

    kind: str
    id: str
    reason: str
    at: float


@dataclass(frozen=True)
class Note:
    """An incident note (collector/notes.py), as chained."""

    contract: str
    incident: int  # the incident's first down minute (UTC minute number)
    author: str
    at: float  # the server's time when it was recorded
    cause: str
    vendor_ticket: str | None = None
    status: str | None = None
    recorded_by: str | None = None  # who recorded it when known (the API's Basic auth user)
