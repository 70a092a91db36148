"""Usage per site and local day, from the ledger's per-site minutes (`Ledger.usage`):
minutes of use and peak of workstations in use. Pure: rows
in, days out; the readiness report and the pilot follow-up read it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.ledger.types import UsageMinute


@dataclass(frozen=True)
class DayUsage:
    """One site's usage on one local day (a DST day has 23 or 25 hours of minutes)."""

    day: dt.date
    minutes: int  # workstation-minutes in use: one per usage result saying in use
    peak_in_use: int  # the most workstations in use in one minute


def usage_days(
    rows: Iterable[UsageMinute], zone: ZoneInfo
) -> dict[tuple[str, str], list[DayUsage]]:
    """Per (org, site), its days with usage results, in order; a minute belongs to the
    local day (in `zone`) of its start."""
    days: dict[tuple[str, str], dict[dt.date, list[int]]] = {}
    for row in rows:
        day = dt.datetime.fromtimestamp(row.minute * 60, zone).date()
        totals = days.setdefault((row.org, row.site), {}).setdefault(day, [0, 0])
        totals[0] += row.in_use
        totals[1] = max(totals[1], row.in_use)
    return {
        key: [DayUsage(day, *per_day[day]) for day in sorted(per_day)]
        for key, per_day in days.items()
    }
