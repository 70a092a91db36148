"""The contract engine on hand-built minute records, one rule at a time (docs/sla.md)."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from fractions import Fraction

from collector.sla.calendar import ServiceCalendar
from collector.sla.engine import (
    PenaltyTerms,
    SiteMinute,
    Window,
    availability,
    counts,
    evaluate,
    exact,
    incidents,
    minute_state,
    penalty,
    rto_breach,
)

HALF = Fraction(1, 2)
DAY = 1440
OK = SiteMinute(results=2, bad=0)
FAILED = SiteMinute(results=2, bad=2)


def minute_of(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) // 60


def test_quorum_edges_in_exact_arithmetic() -> None:
    assert minute_state({"a": "ok", "b": "failed"}, HALF, 1) == "down"  # 1 ≥ 0.5 × 2
    assert minute_state({"a": "ok", "b": "ok", "c": "failed"}, HALF, 1) == "degraded"
    assert minute_state({"a": "ok", "b": "failed", "c": "failed"}, HALF, 1) == "down"
    two_thirds = Fraction(2, 3)
    assert minute_state({"a": "ok", "b": "failed", "c": "failed"}, two_thirds, 1) == "down"
    assert minute_state({"a": "ok", "b": "ok", "c": "failed"}, two_thirds, 1) == "degraded"
    assert minute_state({"a": "ok"}, HALF, 2) == "unknown"  # fewer voters than min_sites
    assert minute_state({"a": "local", "b": "ok"}, HALF, 2) == "unknown"
    assert minute_state({}, HALF, 1) == "unknown"
    assert minute_state({"a": "ok", "b": None}, HALF, 1) == "up"


def test_site_vote_needs_more_than_half_bad() -> None:
    m = 1000
    ev = evaluate([m], {m: {"a": SiteMinute(results=4, bad=2)}}, quorum=HALF, min_sites=1)
    assert ev.states[m] == "up"  # exactly half is not more than half
    ev = evaluate([m], {m: {"a": SiteMinute(results=4, bad=3)}}, quorum=HALF, min_sites=1)
    assert ev.states[m] == "down"


def test_local_fault_when_a_valid_reference_failed_too() -> None:
    m = 100_000
    site_down_lan = SiteMinute(results=2, bad=2, references={"gateway": (10, 10)})
    ev = evaluate([m], {m: {"a": site_down_lan, "b": OK}}, quorum=HALF, min_sites=1)
    assert ev.states[m] == "up" and m in ev.local_minutes  # site a does not vote
    internet_down = SiteMinute(results=2, bad=2, references={"internet": (10, 6)})
    ev = evaluate([m], {m: {"a": internet_down}}, quorum=HALF, min_sites=1)
    assert ev.states[m] == "unknown"
    reference_fine = SiteMinute(results=2, bad=2, references={"gateway": (10, 0)})
    ev = evaluate([m], {m: {"a": reference_fine}}, quorum=HALF, min_sites=1)
    assert ev.states[m] == "down"  # the LAN worked: the vendor failed


def test_a_reference_that_never_answers_proves_nothing() -> None:
    start = 200_000
    records = {
        start + i: {"a": SiteMinute(references={"gateway": (10, 10)})} for i in range(600)
    }  # gateway silent for 10 hours before
    m = start + 600
    records[m] = {"a": SiteMinute(results=2, bad=2, references={"gateway": (10, 10)})}
    ev = evaluate([m], records, quorum=HALF, min_sites=1)
    assert ev.states[m] == "down", "an invalid reference cannot excuse the vendor"
    # a few hours of gateway outage in an otherwise healthy day keep it valid
    healthy = {
        start + i: {"a": SiteMinute(references={"gateway": (10, 0)})} for i in range(-1200, 0)
    }
    healthy.update(
        {start + i: {"a": SiteMinute(references={"gateway": (10, 10)})} for i in range(0, 600)}
    )
    healthy[m] = records[m]
    ev = evaluate([m], healthy, quorum=HALF, min_sites=1)
    assert ev.states[m] == "unknown" and m in ev.local_minutes


def test_holiday_and_service_hours_with_dst() -> None:
    cal = ServiceCalendar(
        "Europe/Paris", (("mon-fri", "07:00-20:00"), ("sat", "08:00-12:00")), "fr"
    )
    assert not cal.in_service(minute_of("2026-11-11T10:00:00+01:00"))  # Armistice, Wednesday
    assert cal.in_service(minute_of("2026-11-12T10:00:00+01:00"))
    assert not cal.in_service(minute_of("2026-11-12T20:00:00+01:00"))
    assert cal.in_service(minute_of("2026-11-14T11:59:00+01:00"))  # Saturday morning
    assert not cal.in_service(minute_of("2026-11-15T10:00:00+01:00"))  # Sunday
    # Monday 30 March 2026, the day after the spring change: 07:00 local is 05:00 UTC
    assert cal.in_service(minute_of("2026-03-30T05:00:00+00:00"))
    assert not cal.in_service(minute_of("2026-03-30T04:59:00+00:00"))
    always = ServiceCalendar()
    for day, expected in (("2026-03-29", 23 * 60), ("2026-10-25", 25 * 60)):
        start = dt.datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=always.zone)
        end = start + dt.timedelta(days=1)
        minutes = (int(end.timestamp()) - int(start.timestamp())) // 60
        assert minutes == expected, f"{day} has {expected // 60} hours in Paris"
    moselle = ServiceCalendar(holidays="fr-alsace-moselle")
    assert not moselle.in_service(minute_of("2026-12-26T10:00:00+01:00"))  # Saint-Étienne
    assert ServiceCalendar(holidays="fr").in_service(minute_of("2026-12-26T10:00:00+01:00"))


def test_maintenance_announced_one_hour_too_late_counts() -> None:
    notice = 5 * DAY
    start = minute_of("2026-11-28T20:00:00+01:00")
    on_time = Window(start, start + 180, start - notice)
    late = Window(start, start + 180, start - notice + 60)
    records = {start + i: {"a": FAILED} for i in range(180)}
    minutes = range(start, start + 180)
    ev = evaluate(minutes, records, quorum=HALF, min_sites=1, windows=[on_time], notice=notice)
    assert counts(ev.states)["excluded"] == 180
    ev = evaluate(minutes, records, quorum=HALF, min_sites=1, windows=[late], notice=notice)
    assert counts(ev.states)["down"] == 180


def test_unknown_policies_and_zero_evaluated_minutes() -> None:
    minutes = {"up": 90, "degraded": 5, "down": 5, "unknown": 100, "excluded": 10}
    assert availability(minutes, "excluded") == Fraction(95, 100)
    assert availability(minutes, "up") == Fraction(195, 200)
    assert availability(minutes, "down") == Fraction(95, 200)
    none = {"up": 0, "degraded": 0, "down": 0, "unknown": 3, "excluded": 7}
    assert availability(none) is None
    assert penalty(None, PenaltyTerms(Decimal(1500))) is None


def test_one_site_contract() -> None:
    records = {m: {"only": FAILED if m % 2 else OK} for m in range(10)}
    ev = evaluate(range(10), records, quorum=HALF, min_sites=1)
    assert counts(ev.states) == {"up": 5, "degraded": 0, "down": 5, "unknown": 0, "excluded": 0}


def test_incidents_merge_and_excluded_minutes_neither_split_nor_extend() -> None:
    states = {}
    states.update(dict.fromkeys(range(0, 10), "down"))
    states.update(dict.fromkeys(range(10, 13), "up"))  # 3-minute gap < merge 5: joined
    states.update(dict.fromkeys(range(13, 20), "down"))
    states.update(dict.fromkeys(range(20, 80), "excluded"))  # night: neither split nor extend
    states.update(dict.fromkeys(range(80, 90), "down"))
    states.update(dict.fromkeys(range(90, 100), "up"))  # 10 minutes: a new incident after
    states.update(dict.fromkeys(range(100, 102), "down"))
    states.update(dict.fromkeys(range(102, 110), "excluded"))
    failed = {m: ["a"] for m, s in states.items() if s == "down"}
    found = incidents(states, failed, merge=5)
    assert [(i.start, i.end, i.down_minutes) for i in found] == [(0, 90, 27), (100, 102, 2)]
    assert found[0].sites == ["a"]


def test_rto_on_both_clocks() -> None:
    found = incidents({m: "down" for m in range(0, 300)}, {}, merge=5)
    (incident,) = found
    in_service = {m: m < 200 for m in range(300)}  # 100 minutes fall outside service hours
    assert rto_breach(incident, 240, "wall")  # 300 min > 4 h
    assert not rto_breach(incident, 240, "service_hours", in_service)  # 200 min ≤ 4 h
    assert not rto_breach(incident, None, "wall")


def test_penalty_where_float_arithmetic_is_off_by_a_step() -> None:
    terms = PenaltyTerms(
        Decimal(1500),
        below=exact(0.995),
        step=exact(0.001),
        percent_of_fee=Decimal(2),
        cap_percent=Decimal(20),
    )
    a = exact(0.994)
    assert math.ceil((0.995 - 0.994) / 0.001) == 2, "floats would owe two steps"
    result = penalty(a, terms)
    assert (result.steps, result.amount, result.capped) == (1, Decimal("30.00"), False)
    completed = PenaltyTerms(
        Decimal(1500),
        below=exact(0.995),
        step=exact(0.001),
        percent_of_fee=Decimal(2),
        rounding="completed",
    )
    assert penalty(Fraction(9935, 10000), completed).steps == 1  # 1.5 steps: one completed
    assert penalty(Fraction(9935, 10000), terms).steps == 2  # a step begun is owed
    assert penalty(exact(0.995), terms).amount == Decimal("0.00")


def test_penalty_cap_applied_last_and_half_up_cents() -> None:
    terms = PenaltyTerms(
        Decimal("1234.56"),
        below=exact(0.995),
        step=exact(0.001),
        percent_of_fee=Decimal(2),
        per_rto_breach_percent=Decimal(5),
        cap_percent=Decimal(20),
    )
    result = penalty(exact(0.990), terms, rto_breaches=2)  # 5 steps × 2 % + 2 × 5 % = 20 %
    assert result.amount == Decimal("246.91") and not result.capped  # 246.912 → .91
    capped = penalty(exact(0.980), terms, rto_breaches=2)  # 30 % + 10 % > 20 %
    assert (capped.amount, capped.capped, capped.steps) == (Decimal("246.91"), True, 15)
    half = PenaltyTerms(
        Decimal("0.25"), below=exact(0.995), step=exact(0.001), percent_of_fee=Decimal(10)
    )
    assert penalty(exact(0.994), half).amount == Decimal("0.03")  # 0.025 rounds half up
