"""RPO breaches against a hand-computed truth: a gap is one breach, charged to the period
holding the moment it exceeded the RPO (previous restore point + RPO), never twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from collector import evidence
from collector.config import parse
from collector.sla.engine import SiteMinute
from collector.sla.period import PeriodInputs, evaluate_period, month_bounds

CONTRACT = parse(
    {
        "contracts": [
            {
                "id": "c",
                "targets": ["dui-login"],
                "availability": {"objective": 0.995},
                "service_hours": {"timezone": "UTC"},
                "rpo": "24h",
                "backups": {"every": "24h"},
                "penalties": {"monthly_fee": 1234.5, "per_rpo_breach_percent": 3},
            }
        ]
    }
).contracts[0]
UP = {"site-a": SiteMinute(results=2)}


def daily(days: list[dt.date]) -> list[evidence.Backup]:
    """A successful backup at 01:00 UTC on each day."""
    out = []
    for d in days:
        point = dt.datetime(d.year, d.month, d.day, 1, tzinfo=dt.UTC).isoformat()
        out.append(
            evidence.parse(
                "backup",
                {"contract": "c", "id": f"bk-{d}", "status": "success", "started_at": point,
                 "completed_at": point, "restore_point_at": point},
            )
        )  # fmt: skip
    return out


def month(name: str, backups: list[evidence.Backup]):
    start, end = month_bounds(name, "UTC")
    first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    return evaluate_period(
        PeriodInputs(
            contract=CONTRACT,
            start=start,
            end=end,
            evaluated_to=end,
            records=dict.fromkeys(range(first, last), UP),
            maintenance=[],
            backups=backups,
            restore_tests=[],
            at=end,
            chain_head="",
        )
    )


def days(first: dt.date, last: dt.date, skip: set[dt.date] = frozenset()) -> list[dt.date]:
    n = (last - first).days + 1
    return [d for d in (first + dt.timedelta(i) for i in range(n)) if d not in skip]


OCT1, NOV30 = dt.date(2026, 10, 1), dt.date(2026, 11, 30)


def test_an_october_gap_is_octobers_only() -> None:
    # 10 Oct 01:00 → 13 Oct 01:00: 3 days; it exceeded the 24 h RPO on 11 Oct 01:00
    backups = daily(days(OCT1, NOV30, skip={dt.date(2026, 10, 11), dt.date(2026, 10, 12)}))
    october, november = month("2026-10", backups), month("2026-11", backups)
    assert october.backups.rpo_breaches == 1 and october.backups.rpo_compliant is False
    assert october.backups.largest_gap_seconds == 3 * 86400
    assert october.backups.frequency_compliant is False
    assert october.penalty.amount == Decimal("37.04")  # 1234.50 × 3 % = 37.035, half-up
    assert november.backups.rpo_breaches == 0 and november.backups.rpo_compliant is True
    assert november.backups.largest_gap_seconds == 86400
    assert november.backups.frequency_compliant is True
    assert november.penalty.amount == Decimal("0.00")


def test_a_gap_that_exceeds_the_rpo_in_november_is_novembers() -> None:
    # 31 Oct 01:00 → 3 Nov 01:00: exceeded on 1 Nov 01:00, in November
    backups = daily(days(OCT1, NOV30, skip={dt.date(2026, 11, 1), dt.date(2026, 11, 2)}))
    october, november = month("2026-10", backups), month("2026-11", backups)
    assert october.backups.rpo_breaches == 0 and october.backups.rpo_compliant is True
    assert october.backups.largest_gap_seconds == 86400
    assert october.penalty.amount == Decimal("0.00")
    assert november.backups.rpo_breaches == 1 and november.backups.rpo_compliant is False
    assert november.backups.largest_gap_seconds == 3 * 86400
    assert november.penalty.amount == Decimal("37.04")


def test_an_open_gap_is_charged_once() -> None:
    # the last backup on 30 Oct 01:00, none since: exceeded on 31 Oct 01:00 (October);
    # November still shows the gap but does not charge it again
    backups = daily(days(OCT1, dt.date(2026, 10, 30)))
    october, november = month("2026-10", backups), month("2026-11", backups)
    assert october.backups.rpo_breaches == 1
    assert november.backups.rpo_breaches == 0 and november.backups.rpo_compliant is False
    assert november.backups.largest_gap_seconds == (31 + 1) * 86400 - 3600
