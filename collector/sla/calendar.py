"""Service hours of a contract: weekly spans in its time zone (DST-correct) and French
public holidays (`holidays: fr | fr-alsace-moselle`). Minutes are UTC minute numbers
(Unix time // 60)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _expand(days: str) -> list[int]:
    first, _, last = days.partition("-")
    a = DAYS.index(first)
    b = DAYS.index(last) if last else a
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def _minutes(span: str) -> tuple[int, int]:
    start, end = span.strip().split("-")
    h1, m1 = map(int, start.split(":"))
    h2, m2 = map(int, end.split(":"))
    return h1 * 60 + m1, h2 * 60 + m2


@dataclass(frozen=True)
class ServiceCalendar:
    timezone: str = "Europe/Paris"
    weekly: str | tuple[tuple[str, str], ...] = "always"
    holidays: str = "none"

    @classmethod
    def of(cls, hours: object) -> ServiceCalendar:
        weekly = getattr(hours, "weekly", "always")
        if isinstance(weekly, dict):
            weekly = tuple(sorted(weekly.items()))
        return cls(
            getattr(hours, "timezone", "Europe/Paris"), weekly, getattr(hours, "holidays", "none")
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _spans(self) -> dict[int, list[tuple[int, int]]]:
        return _spans(self.weekly)

    def minutes_per_week(self) -> int:
        """Service minutes in a week, holidays aside (spans crossing midnight count nothing,
        as in `in_service`)."""
        if self.weekly == "always":
            return 7 * 24 * 60
        return sum(max(0, b - a) for day in self._spans().values() for a, b in day)

    def is_holiday(self, day: dt.date) -> bool:
        return self.holidays != "none" and day in _holidays(self.holidays, day.year)

    @lru_cache(maxsize=1 << 18)  # noqa: B019 - a few calendars, a month of minutes each
    def in_service(self, minute: int) -> bool:
        """Whether UTC minute `minute` is inside the contract's service hours."""
        local = dt.datetime.fromtimestamp(minute * 60, dt.UTC).astimezone(self.zone)
        if self.is_holiday(local.date()):
            return False
        if self.weekly == "always":
            return True
        of_day = local.hour * 60 + local.minute
        return any(a <= of_day < b for a, b in self._spans().get(local.weekday(), []))


@lru_cache(maxsize=64)
def _spans(weekly: str | tuple[tuple[str, str], ...]) -> dict[int, list[tuple[int, int]]]:
    if weekly == "always":
        return {}
    spans: dict[int, list[tuple[int, int]]] = {}
    for days, hours in weekly:  # type: ignore[misc]
        for day in _expand(days):
            spans.setdefault(day, []).extend(_minutes(s) for s in hours.split(","))
    return spans


@lru_cache(maxsize=64)
def _holidays(kind: str, year: int) -> frozenset[dt.date]:
    import holidays

    if kind == "fr-alsace-moselle":
        days = holidays.France(subdiv="57", years=year)
    else:
        days = holidays.France(years=year)
    return frozenset(days)
