"""The period day by day (the report's `daily`, which its charts are drawn from): each
local calendar day's minutes by state, availability (the period's rule) and p95 by
site. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from zoneinfo import ZoneInfo

from collector.sla.engine import availability, counts
from collector.sla.sites import Durations, p95


def day_starts(start: dt.datetime, end: dt.datetime, zone: ZoneInfo) -> list[tuple[dt.date, int]]:
    """(local date, UTC minute its part of the period begins) of each day of [start, end)."""
    first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    day = start.astimezone(zone).date()
    out = [(day, first)]
    while True:
        day += dt.timedelta(days=1)
        minute = int(dt.datetime.combine(day, dt.time(), tzinfo=zone).timestamp()) // 60
        if minute >= last:
            return out
        out.append((day, minute))


@dataclass(frozen=True)
class Day:
    date: dt.date
    minutes: dict[str, int]
    availability: Fraction | None
    p95_seconds: dict[str, float | None]


def daily(
    starts: Sequence[tuple[dt.date, int]],
    states: Mapping[int, str],
    upto: int,
    durations: Durations,
    unknown: str,
) -> list[Day]:
    """One Day per day begun before `upto` (the first minute not evaluated)."""
    sites = sorted({site for _, site in durations.by_day})
    out = []
    for index, (date, first) in enumerate(starts):
        if first >= upto:
            break
        end = starts[index + 1][1] if index + 1 < len(starts) else upto
        n = counts({m: states[m] for m in range(first, min(end, upto)) if m in states})
        out.append(
            Day(
                date=date,
                minutes=n,
                availability=availability(n, unknown),
                p95_seconds={s: p95(durations.by_day.get((index, s), [])) for s in sites},
            )
        )
    return out
