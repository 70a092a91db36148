"""The contract right now: the current period's report plus the state of the last
evaluated minute, the open incident, each site's recent figures and the minutes counted
for good. Pure: the clock and the ledger's rows are arguments."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from collector.ledger.types import ResultRow
from collector.sla.period import IncidentReport, PeriodReport
from collector.sla.sites import latency_runs, p95

RECENT_MINUTES = 60  # a site's figures are over the last hour


@dataclass(frozen=True)
class SiteNow:
    p95_seconds: float | None  # of the contract's successful results
    loss_ratio: float | None  # mean loss of the latency runs to the DUI
    state: str  # the site's last vote: ok, failed, local (its own network) or unknown
    name: str = ""  # the config's name, or the id


@dataclass(frozen=True)
class OpenIncident:
    incident: IncidentReport
    duration_seconds: float  # from its first down minute to now


@dataclass(frozen=True)
class LiveReport:
    period: PeriodReport
    state: str  # of the last evaluated minute
    open_incident: OpenIncident | None
    sites: dict[str, SiteNow]
    evaluated_at: float
    maintenance_active: bool
    counted: dict[str, int]  # minutes counted for good in dui_sla_seconds_total, by state
    backup_age_seconds: float | None = None  # now − the last good backup's restore point


def loss_ratios(bodies: Iterable[tuple[str, bytes]]) -> Iterator[tuple[str, float]]:
    """(site, loss_ratio) of latency results as the agents sent them."""
    for site, _, loss in latency_runs(bodies):
        if loss is not None:
            yield site, loss


def sites_now(
    recent: Iterable[ResultRow],
    losses: Iterable[tuple[str, float]],
    last_votes: Mapping[str, tuple[int, str]],
    since_minute: int,
    names: Mapping[str, str] | None = None,
) -> dict[str, SiteNow]:
    """Per site with contract results since `since_minute`: p95, loss to the DUI and its
    last vote (the engine's site vote, the one rule)."""
    durations: dict[str, list[float]] = {}
    for row in recent:
        values = durations.setdefault(row.site, [])
        if row.success and row.duration is not None:
            values.append(row.duration)
    loss: dict[str, list[float]] = {}
    for site, ratio in losses:
        loss.setdefault(site, []).append(ratio)
    out = {}
    for site in sorted(durations):
        minute, vote = last_votes.get(site, (since_minute - 1, "unknown"))
        out[site] = SiteNow(
            p95_seconds=p95(durations[site]),
            loss_ratio=sum(loss[site]) / len(loss[site]) if site in loss else None,
            state=vote if minute >= since_minute else "unknown",
            name=(names or {}).get(site) or site,
        )
    return out


def live_report(
    period: PeriodReport,
    now: float,
    sites: dict[str, SiteNow],
    counted: dict[str, int],
) -> LiveReport:
    current = int(now // 60)
    states = period.evaluation.states
    last_state = states.get(current - 1, "unknown")
    open_incident = None
    if period.incidents and last_state == "down":
        latest = period.incidents[-1]
        open_incident = OpenIncident(latest, now - latest.start * 60)
    point = period.backups.latest_restore_point
    return LiveReport(
        period=period,
        state=last_state,
        open_incident=open_incident,
        sites=sites,
        evaluated_at=now,
        maintenance_active=any(w.start <= current < w.end for w in period.windows),
        counted=counted,
        backup_age_seconds=None if point is None else now - point.timestamp(),
    )
