"""The readiness answer as typed values: checks with their evidence, threshold and verdict,
per workstation and per site, and the pilot sites' weekly follow-up (docs/readiness.md).
Every output (report, JSON, CSV, metrics) reads these; none recomputes a verdict.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["pass", "fail", "unknown"]


def combine(verdicts: Iterable[Verdict]) -> Verdict:
    """fail if any fails, else unknown if any is unknown, else pass."""
    found = set(verdicts)
    return "fail" if "fail" in found else "unknown" if "unknown" in found else "pass"


@dataclass(frozen=True)
class Check:
    """One prerequisite: what was measured, against what, and the verdict; `detail` says
    where the evidence comes from or why it is missing, in English for the logs and the
    JSON; `note` says the same as a code the report translates: wired / all / wifi (whose
    results), no_data, no_users, no_agent, no_wifi, link_unknown."""

    id: str
    evidence: Any
    threshold: Any
    verdict: Verdict
    detail: str = ""
    note: str = ""


@dataclass(frozen=True)
class WorkstationReadiness:
    """One agent's checks and the facts of its newest inventory (and context for the link)."""

    agent: str
    site: str
    checks: list[Check] = field(default_factory=list)
    org: str = ""
    os_name: str | None = None
    os_version: str | None = None
    os_maintained: bool | None = None
    model: str | None = None
    age_seconds: float | None = None
    ram_bytes: int | None = None
    link: str | None = None  # wired | wifi | unknown, as the agent reports it
    wifi_signal_percent: int | None = None
    inventory_ts: float = 0.0

    @property
    def verdict(self) -> Verdict:
        """fail if any check fails, else unknown if any is unknown, else pass."""
        return combine(c.verdict for c in self.checks)


@dataclass(frozen=True)
class PilotWeek:
    """Week k of a pilot site since go-live: [start, end) in the site's zone (the last week
    ends at the evaluation time). None where nothing was measured; `reason` says why a
    figure is missing (no contract, no usage data)."""

    start: dt.datetime
    end: dt.datetime
    p95_seconds: float | None
    requests: int
    errors: int
    error_ratio: float | None
    local_fault_seconds: int | None
    workstations_in_use_peak: int | None
    usage_minutes_per_day: float | None
    reasons: tuple[str, ...] = ()


def wifi_links(stations: Iterable[WorkstationReadiness]) -> tuple[int, int]:
    """(workstations on Wi-Fi, workstations reporting their link)."""
    links = [w.link for w in stations if w.link in ("wired", "wifi")]
    return links.count("wifi"), len(links)


@dataclass(frozen=True)
class SiteReadiness:
    org: str
    site: str
    name: str
    pilot: bool
    go_live: dt.date | None
    users: int | None
    workstations: list[WorkstationReadiness]
    checks: list[Check]
    verdict: Verdict
    weeks: list[PilotWeek] = field(default_factory=list)

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def met(self, check_id: str) -> bool | None:
        """True/False for a decided check; None when unknown or not configured."""
        found = self.check(check_id)
        if found is None or found.verdict == "unknown":
            return None
        return found.verdict == "pass"

    @property
    def wifi_share(self) -> float | None:
        """Share of the workstations on Wi-Fi among those reporting their link."""
        wifi, known = wifi_links(self.workstations)
        return wifi / known if known else None


@dataclass(frozen=True)
class Readiness:
    """Every site's readiness as of `as_of`, measured over [since, as_of)."""

    as_of: float
    since: float
    sites: list[SiteReadiness]
