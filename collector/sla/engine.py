"""Minute states, availability, incidents, RTO and penalties (docs/sla.md), as pure
functions over per-minute records. Exact arithmetic: Fraction for ratios, Decimal
(half-up, to the cent) for money."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from types import MappingProxyType

REFERENCE_ROLES = ("gateway", "internet")
DAY = 1440  # minutes


NO_REFERENCES: Mapping[str, tuple[int, int]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)  # a month holds minutes × sites of these
class SiteMinute:
    """One site's evidence in one minute."""

    results: int = 0  # results of the contract's targets (all the site's agents)
    bad: int = 0  # of which failed or slower than slow_threshold
    # reference role → (results, failures)
    references: Mapping[str, tuple[int, int]] = field(default_factory=lambda: NO_REFERENCES)


Records = Mapping[int, Mapping[str, SiteMinute]]  # UTC minute → site → evidence


class ReferenceValidity:
    """A reference (a site's gateway or internet target) proves something only when no
    more than half of its results failed over the previous 24 h."""

    def __init__(self, records: Records) -> None:
        events: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        for minute in sorted(records):
            for site, evidence in records[minute].items():
                for role, (total, failed) in evidence.references.items():
                    events.setdefault((site, role), []).append((minute, total, failed))
        # per reference: its minutes, and running sums of results and failures, so a
        # 24 h window is two binary searches
        self._index: dict[tuple[str, str], tuple[list[int], list[int], list[int]]] = {}
        for key, rows in events.items():
            minutes = [m for m, _, _ in rows]
            totals = list(itertools.accumulate((t for _, t, _ in rows), initial=0))
            failures = list(itertools.accumulate((f for _, _, f in rows), initial=0))
            self._index[key] = (minutes, totals, failures)

    def valid(self, site: str, role: str, minute: int) -> bool:
        index = self._index.get((site, role))
        if index is None:
            return True
        minutes, totals, failures = index
        lo = bisect.bisect_left(minutes, minute - DAY)
        hi = bisect.bisect_left(minutes, minute)
        total = totals[hi] - totals[lo]
        failed = failures[hi] - failures[lo]
        return total == 0 or failed * 2 <= total


def site_vote(
    site: str, minute: int, evidence: SiteMinute, validity: ReferenceValidity
) -> str | None:
    """`ok`, `failed`, `local` (failed, but one of its valid references failed too) or
    None when the site has no result for the contract's targets this minute."""
    if evidence.results == 0:
        return None
    if evidence.bad * 2 <= evidence.results:
        return "ok"
    for role in REFERENCE_ROLES:
        total, failed = evidence.references.get(role, (0, 0))
        if total and failed * 2 > total and validity.valid(site, role, minute):
            return "local"
    return "failed"


def minute_state(votes: Mapping[str, str | None], quorum: Fraction, min_sites: int) -> str:
    """up, degraded, down or unknown from the sites' votes."""
    voting = [v for v in votes.values() if v in ("ok", "failed")]
    if len(voting) < min_sites or not voting:
        return "unknown"
    failed = sum(v == "failed" for v in voting)
    if failed >= quorum * len(voting):
        return "down"
    return "degraded" if failed else "up"


@dataclass(frozen=True)
class Window:
    """A maintenance window (UTC minutes, end exclusive) and when it was announced."""

    start: int
    end: int
    announced: int


def excluded(minute: int, in_service: bool, windows: Iterable[Window], notice: int) -> bool:
    """Outside service hours, or inside a window announced at least `notice` minutes
    before its start (a window announced late counts like any other time)."""
    if not in_service:
        return True
    return any(w.start <= minute < w.end and w.announced <= w.start - notice for w in windows)


@dataclass
class Evaluation:
    states: dict[int, str]  # minute → up, degraded, down, unknown, excluded
    failed_sites: dict[int, list[str]]
    local_minutes: set[int]  # minutes in which some site was in local fault
    evidenced: set[int] = field(default_factory=set)  # enough sites voted (excluded or not)
    last_votes: dict[str, tuple[int, str]] = field(default_factory=dict)  # site → (minute, vote)
    local_by_site: dict[str, int] = field(default_factory=dict)  # in-service local minutes


def evaluate(
    minutes: Iterable[int],
    records: Records,
    *,
    quorum: Fraction,
    min_sites: int,
    in_service: Mapping[int, bool] | None = None,
    windows: Iterable[Window] = (),
    notice: int = 0,
) -> Evaluation:
    validity = ReferenceValidity(records)
    windows = list(windows)
    ev = Evaluation({}, {}, set())
    for minute in minutes:
        votes = {
            site: site_vote(site, minute, e, validity)
            for site, e in records.get(minute, {}).items()
        }
        for site, vote in votes.items():
            if vote is not None:
                ev.last_votes[site] = (minute, vote)
        serving = True if in_service is None else in_service.get(minute, True)
        if any(v == "local" for v in votes.values()):
            ev.local_minutes.add(minute)
            if serving:
                for site, vote in votes.items():
                    if vote == "local":
                        ev.local_by_site[site] = ev.local_by_site.get(site, 0) + 1
        state = minute_state(votes, quorum, min_sites)
        if state != "unknown":
            ev.evidenced.add(minute)
        if excluded(minute, serving, windows, notice):
            ev.states[minute] = "excluded"
            continue
        ev.states[minute] = state
        if state in ("down", "degraded"):
            ev.failed_sites[minute] = sorted(s for s, v in votes.items() if v == "failed")
    return ev


STATES = ("up", "degraded", "down", "unknown", "excluded")


def counts(states: Mapping[int, str]) -> dict[str, int]:
    out = dict.fromkeys(STATES, 0)
    for state in states.values():
        out[state] += 1
    return out


def availability(minutes: Mapping[str, int], unknown: str = "excluded") -> Fraction | None:
    """(up + degraded) / (up + degraded + down), unknown minutes as the policy says;
    None when no minute was evaluated."""
    good = minutes["up"] + minutes["degraded"]
    bad = minutes["down"]
    if unknown == "up":
        good += minutes["unknown"]
    elif unknown == "down":
        bad += minutes["unknown"]
    if good + bad == 0:
        return None
    return Fraction(good, good + bad)


@dataclass
class Incident:
    start: int  # first down minute
    end: int  # minute after the last down minute
    sites: list[str]
    down_minutes: int

    def wall_minutes(self) -> int:
        return self.end - self.start


def incidents(
    states: Mapping[int, str], failed_sites: Mapping[int, list[str]], merge: int
) -> list[Incident]:
    """Runs of down minutes; gaps shorter than `merge` minutes are joined; excluded
    minutes neither split nor extend an incident."""
    found: list[Incident] = []
    current: Incident | None = None
    last_down = None
    for minute in sorted(states):
        state = states[minute]
        if state == "excluded":
            continue
        if state == "down":
            if current is not None and last_down is not None:
                gap = sum(
                    1
                    for m in range(last_down + 1, minute)
                    if states.get(m) not in (None, "excluded", "down")
                )
                if gap >= merge:
                    found.append(current)
                    current = None
            if current is None:
                current = Incident(minute, minute + 1, [], 0)
            current.end = minute + 1
            current.down_minutes += 1
            current.sites = sorted(set(current.sites) | set(failed_sites.get(minute, [])))
            last_down = minute
    if current is not None:
        found.append(current)
    return found


def clock_minutes(
    incident: Incident, clock: str, in_service: Mapping[int, bool] | None = None
) -> int:
    """The incident's duration as the RTO clock counts it (wall or service-hour minutes)."""
    if clock == "service_hours" and in_service is not None:
        return sum(1 for m in range(incident.start, incident.end) if in_service.get(m, True))
    return incident.wall_minutes()


def rto_breach(
    incident: Incident,
    rto_minutes: int | None,
    clock: str,
    in_service: Mapping[int, bool] | None = None,
) -> bool:
    if rto_minutes is None:
        return False
    return clock_minutes(incident, clock, in_service) > rto_minutes


@dataclass(frozen=True)
class PenaltyTerms:
    monthly_fee: Decimal
    below: Fraction | None = None
    step: Fraction | None = None
    percent_of_fee: Decimal = Decimal(0)
    rounding: str = "started"
    per_rto_breach_percent: Decimal = Decimal(0)
    per_rpo_breach_percent: Decimal = Decimal(0)
    cap_percent: Decimal | None = None


@dataclass(frozen=True)
class Penalty:
    """The amount and the figures that made it (the report writes the calculation out)."""

    amount: Decimal
    steps: int
    capped: bool
    terms: PenaltyTerms = field(default_factory=lambda: PenaltyTerms(Decimal(0)))
    rto_breaches: int = 0
    rpo_breaches: int = 0
    percent: Decimal = Decimal(0)  # total percent of the fee, before the cap
    uncapped_amount: Decimal = Decimal(0)


def penalty(
    availability_ratio: Fraction | None,
    terms: PenaltyTerms,
    rto_breaches: int = 0,
    rpo_breaches: int = 0,
) -> Penalty | None:
    """steps = ⌈(below − A) / step⌉ (started) or ⌊…⌋ (completed), 0 when A ≥ below;
    amount = fee × (steps × percent + breaches × per-breach percents) / 100, capped,
    rounded half-up to the cent, the cap applied last. None without availability."""
    if availability_ratio is None:
        return None
    steps = 0
    if terms.below is not None and terms.step and availability_ratio < terms.below:
        ratio = (terms.below - availability_ratio) / terms.step
        steps = math.ceil(ratio) if terms.rounding == "started" else math.floor(ratio)
    percent = (
        steps * terms.percent_of_fee
        + rto_breaches * terms.per_rto_breach_percent
        + rpo_breaches * terms.per_rpo_breach_percent
    )
    amount = uncapped = (terms.monthly_fee * percent / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    capped = False
    if terms.cap_percent is not None:
        cap = (terms.monthly_fee * terms.cap_percent / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        if amount > cap:
            amount, capped = cap, True
    return Penalty(amount, steps, capped, terms, rto_breaches, rpo_breaches, percent, uncapped)


def exact(value: float) -> Fraction:
    """A config number as the decimal the person wrote (0.995, not its binary float)."""
    return Fraction(Decimal(repr(value)))
