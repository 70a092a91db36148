"""The pilot sites' follow-up since go-live, week by week: the DUI's experience there (p95,
errors, minutes in local fault as the SLA engine attributes them) beside the adoption
(workstations in use, minutes of use per day) (docs/readiness.md#pilot-follow-up).
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
from array import array
from zoneinfo import ZoneInfo

from collector.config import CollectorConfig
from collector.ledger import Ledger, LedgerError
from collector.periods import contract_zone, last_final, read_period, site_names
from collector.readiness.model import PilotWeek, SiteReadiness
from collector.readiness.usage import DayUsage, usage_days
from collector.sla.sites import p95

WEEK = dt.timedelta(days=7)
DEFAULT_ZONE = "Europe/Paris"


def zone_of(config: CollectorConfig) -> ZoneInfo:
    """The sites' zone: the first contract's service hours, else Europe/Paris."""
    return contract_zone(config, DEFAULT_ZONE)


Bounds = list[tuple[dt.datetime, dt.datetime]]


def week_bounds(go_live: dt.date, zone: ZoneInfo, now: float) -> Bounds:
    """Week k = [go_live + 7(k-1) d, + 7 d) from local midnight in `zone`, up to `now` (the
    current week ends at `now`); none before go-live."""
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    out = []
    day = go_live
    while True:
        start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
        if start >= at:
            return out
        end = dt.datetime.combine(day + WEEK, dt.time(), tzinfo=zone)
        out.append((start, min(end, at)))
        day += WEEK


class Experience:
    """The weeks' HTTP results to the DUI of one site, added as the scan streams them:
    the successful durations in arrays (8 bytes each), the counts as counts. A pilot's
    35 days of rows were held as Measurement objects before (bench/readiness_bench.py)."""

    def __init__(self, bounds: Bounds) -> None:
        self.starts = [a.timestamp() for a, _ in bounds]
        self.ends = [b.timestamp() for _, b in bounds]
        self.durations = [array("d") for _ in bounds]
        self.requests = [0] * len(bounds)
        self.errors = [0] * len(bounds)

    def add(self, ts: float, success: bool, duration: float | None) -> None:
        i = bisect.bisect_right(self.starts, ts) - 1
        if i < 0 or ts >= self.ends[i]:
            return
        self.requests[i] += 1
        if not success:
            self.errors[i] += 1
        elif duration is not None:
            self.durations[i].append(duration)

    def figures(self) -> list[tuple[float | None, int, int]]:
        """(p95 of successful durations, requests, errors) per week."""
        return [
            (p95(list(d)), n, e)
            for d, n, e in zip(self.durations, self.requests, self.errors, strict=True)
        ]


def adoption(
    days: list[DayUsage], start: dt.datetime, end: dt.datetime
) -> tuple[int | None, float | None]:
    """(peak of workstations in use, workstation-minutes of use per started local day) over
    the local days of [start, end); (None, None) when no workstation of the site sent its
    usage then. A day without use counts as a day: it is the week's average. Pure."""
    zone = start.tzinfo
    inside = [
        d
        for d in days
        if start.date() <= d.day and dt.datetime.combine(d.day, dt.time(), tzinfo=zone) < end
    ]
    if not inside:
        return None, None
    return max(d.peak_in_use for d in inside), sum(d.minutes for d in inside) / started_days(
        start, end
    )


def started_days(start: dt.datetime, end: dt.datetime) -> int:
    """Local days of `start`'s zone begun in [start, end), `start` a local midnight: 7 for a
    whole week (167 or 169 hours across a change of time), 1 at 08:30 on go-live day (a
    fraction of a day there made 300 minutes by 08:30 read 847 minutes per day). Pure."""
    last = end.astimezone(start.tzinfo)
    days = (last.date() - start.date()).days
    return max(1, days + (last.time() != dt.time()))


def _usage(
    ledger: Ledger, keys: set[tuple[str, str]], zone: ZoneInfo, first: float, now: float
) -> dict[tuple[str, str], list[DayUsage]] | None:
    """The pilot sites' usage days since `first`, or None on a ledger older than the
    usage table (opened read-only, it is not upgraded)."""
    try:
        # a site no agent measured from yet has no org: its usage is matched by site
        rows = [u for u in ledger.usage(first, now) if {(u.org, u.site), ("", u.site)} & keys]
    except LedgerError:
        return None
    return usage_days(rows, zone)


def with_weeks(
    sites: list[SiteReadiness], config: CollectorConfig, ledger: Ledger, now: float
) -> list[SiteReadiness]:
    """`sites` with the weeks of each pilot site that has a go-live date: one scan of the
    HTTP results since the earliest go-live, one period evaluation per distinct week."""
    zone = zone_of(config)
    contract = config.contracts[0] if config.contracts else None
    retained = now - float(config.ledger.raw_retention)
    bounds = {
        (s.org, s.site): week_bounds(s.go_live, zone, now) for s in sites if s.pilot and s.go_live
    }
    bounds = {key: b for key, b in bounds.items() if b}
    if not bounds:
        return sites
    first = min(b[0][0] for b in bounds.values()).timestamp()
    seen = {key: Experience(b) for key, b in bounds.items()}
    for row in ledger.measurements(("http",), max(first, retained), now):
        if row.role == "dui" and (found := seen.get((row.org, row.site))) is not None:
            found.add(row.ts, row.success, row.duration)
    usage = _usage(ledger, set(bounds), zone, first, now)
    local: dict[tuple[dt.datetime, dt.datetime], dict[str, int]] = {}  # per week, per site

    def local_fault(start: dt.datetime, end: dt.datetime, site: str) -> int | None:
        """The week's seconds of local fault, None when the SLA period holds nothing of the
        site to attribute (no contract result there that week): 0 would clear the site
        and hand the blame to the vendor, and unknown is never a pass."""
        if contract is None:
            return None
        if (start, end) not in local:
            upto = min(end, last_final(now, float(config.ledger.finalize_after)))
            report = read_period(
                ledger, contract, start, end, now, evaluated_to=upto, names=site_names(config)
            )
            local[start, end] = {
                s: f.local_fault_seconds
                for s, f in report.sites.items()
                if f.results or f.local_fault_seconds
            }
        return local[start, end].get(site)

    out = []
    for site in sites:
        weeks_of = bounds.get((site.org, site.site))
        if weeks_of is None:
            out.append(site)
            continue
        figures = seen[site.org, site.site].figures()
        days = (usage or {}).get((site.org, site.site)) or next(
            (d for (_, s), d in (usage or {}).items() if not site.org and s == site.site), []
        )
        weeks = []
        for (start, end), (q95, n, errors) in zip(weeks_of, figures, strict=True):
            in_use, minutes = adoption(days, start, end)
            fault = local_fault(start, end, site.site)
            reasons = []
            if usage is None:
                reasons.append("usage_unavailable")
            elif in_use is None:
                reasons.append("usage_off")
            if contract is None:
                reasons.append("no_contract")
            elif fault is None:
                reasons.append("no_sla_data")
            if start.timestamp() < retained:
                reasons.append("beyond_retention")
            weeks.append(
                PilotWeek(
                    start=start,
                    end=end,
                    p95_seconds=q95,
                    requests=n,
                    errors=errors,
                    error_ratio=errors / n if n else None,
                    local_fault_seconds=fault,
                    workstations_in_use_peak=in_use,
                    usage_minutes_per_day=minutes,
                    reasons=tuple(reasons),
                )
            )
        out.append(dataclasses.replace(site, weeks=weeks))
    return out
