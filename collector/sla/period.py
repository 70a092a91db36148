"""One period of one contract, evaluated: typed inputs (minute records, maintenance,
evidence, the moment of judgement) in, one typed `PeriodReport` out. Pure: no clock, no
ledger; the report renderers, the contracts API and /metrics all read its result."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from collector.config import Contract
from collector.evidence import (
    Backup,
    BackupChecks,
    RestoreChecks,
    RestoreTest,
    check_backups,
    check_restore_tests,
)
from collector.ledger.types import MaintenanceRecord, Voided
from collector.sla.calendar import ServiceCalendar
from collector.sla.engine import (
    Evaluation,
    Penalty,
    PenaltyTerms,
    Records,
    Window,
    availability,
    counts,
    evaluate,
    exact,
    incidents,
    penalty,
    rto_breach,
)

CLAUSES = ("availability", "rto", "rpo", "backup_frequency", "retention", "restore_test")


def month_bounds(month: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[first day 00:00, next month's first day 00:00) in the contract's time zone."""
    year, number = map(int, month.split("-"))
    zone = ZoneInfo(timezone)
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def parse_bound(text: str, timezone: str) -> dt.datetime:
    """An ISO date (midnight in the contract's zone) or a date-time with an offset."""
    if len(text) == 10:
        return dt.datetime.combine(
            dt.date.fromisoformat(text), dt.time(), tzinfo=ZoneInfo(timezone)
        )
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. 2026-11-23T10:00:00Z")
    return value


def windows(contract: Contract, recorded: Sequence[MaintenanceRecord]) -> list[Window]:
    """The config's maintenance windows and those recorded by `maintenance add` or the
    API, as UTC minutes (start rounded down, end up)."""
    spans = [(w.start, w.end, w.announced_at.timestamp()) for w in contract.maintenance.windows]
    spans += [(r.start, r.end, r.announced_at) for r in recorded]
    return [
        Window(int(s.timestamp()) // 60, -(-int(e.timestamp()) // 60), int(a) // 60)
        for s, e, a in spans
    ]


def penalty_terms(contract: Contract) -> PenaltyTerms | None:
    p = contract.penalties
    if p is None:
        return None
    step = p.per_step
    return PenaltyTerms(
        monthly_fee=Decimal(repr(p.monthly_fee)),
        below=exact(step.below) if step else None,
        step=exact(step.step) if step else None,
        percent_of_fee=Decimal(repr(step.percent_of_fee)) if step else Decimal(0),
        rounding=step.rounding if step else "started",
        per_rto_breach_percent=Decimal(repr(p.per_rto_breach_percent)),
        per_rpo_breach_percent=Decimal(repr(p.per_rpo_breach_percent)),
        cap_percent=Decimal(repr(p.cap_percent)) if p.cap_percent is not None else None,
    )


@dataclass(frozen=True)
class PeriodInputs:
    """Everything a period's evaluation reads, fetched beforehand from the ledger."""

    contract: Contract
    start: dt.datetime
    end: dt.datetime
    records: Records  # from 24 h before `start` (reference validity looks back that far)
    maintenance: Sequence[MaintenanceRecord]
    backups: Sequence[Backup]
    restore_tests: Sequence[RestoreTest]
    at: dt.datetime  # when the backup clauses are judged: the period's end, or now if sooner
    chain_head: str
    voided: Sequence[Voided] = ()  # evidence withdrawn (already left out of the lists above)


@dataclass(frozen=True)
class IncidentReport:
    start: int  # first down minute (UTC minute number)
    end: int  # minute after the last down minute
    sites: list[str]
    rto_breach: bool
    attribution: str = "vendor"

    @property
    def duration_seconds(self) -> int:
        return (self.end - self.start) * 60


@dataclass(frozen=True)
class Downtime:
    """Seconds, as the report's `downtime_seconds`: vendor = down minutes; local = minutes
    in service hours in which some site was in local fault; unknown = unknown minutes."""

    vendor: int
    local: int
    unknown: int


@dataclass(frozen=True)
class PeriodReport:
    contract: Contract
    start: dt.datetime
    end: dt.datetime
    zone: ZoneInfo
    objective: Fraction
    availability: Fraction | None
    minutes: dict[str, int]  # state → minutes, every state present
    coverage: float | None  # minutes with evidence / minutes in service hours
    downtime: Downtime
    incidents: list[IncidentReport]
    backups: BackupChecks
    restore_tests: RestoreChecks
    clauses: dict[str, bool | None]  # CLAUSES, None when not evaluated
    penalty: Penalty | None
    chain_head: str
    evaluation: Evaluation
    windows: list[Window]
    voided: Sequence[Voided] = ()

    @property
    def verdict(self) -> str | None:
        if self.availability is None:
            return None
        return "pass" if all(v is not False for v in self.clauses.values()) else "fail"

    @property
    def rto_breaches(self) -> int:
        return sum(i.rto_breach for i in self.incidents)

    @property
    def error_budget_remaining_ratio(self) -> float:
        """1 − down minutes / the budget the objective allows over the evaluated minutes."""
        m = self.minutes
        evaluated = m["up"] + m["degraded"] + m["down"]
        if evaluated == 0:
            return 1.0
        allowed = (1 - float(self.objective)) * evaluated
        if not allowed:
            return 0.0 if m["down"] else 1.0
        return 1 - m["down"] / allowed


def evaluate_period(inputs: PeriodInputs) -> PeriodReport:
    contract = inputs.contract
    calendar = ServiceCalendar.of(contract.service_hours)
    first, last = int(inputs.start.timestamp()) // 60, int(inputs.end.timestamp()) // 60
    minutes = range(first, last)
    in_service = {m: calendar.in_service(m) for m in minutes}
    spans = windows(contract, inputs.maintenance)
    ev = evaluate(
        minutes,
        inputs.records,
        quorum=exact(contract.availability.quorum),
        min_sites=contract.availability.min_sites,
        in_service=in_service,
        windows=spans,
        notice=int(contract.maintenance.notice) // 60,
    )
    n = counts(ev.states)
    ratio = availability(n, contract.availability.unknown)
    found = incidents(ev.states, ev.failed_sites, int(contract.availability.incident_merge) // 60)
    rto = int(contract.rto) // 60 if contract.rto is not None else None
    plan = contract.backups
    backups = check_backups(
        inputs.backups,
        inputs.at,
        contract.rpo,
        plan.every if plan else None,
        plan.retention if plan else None,
        since=inputs.start,  # RPO breaches charged to this period only
    )
    restores = check_restore_tests(
        inputs.restore_tests,
        inputs.at,
        plan.restore_test_every if plan else None,
        contract.rto,
    )
    reports = [
        IncidentReport(i.start, i.end, i.sites, rto_breach(i, rto, contract.rto_clock, in_service))
        for i in found
    ]
    terms = penalty_terms(contract)
    breaches = sum(i.rto_breach for i in reports)
    owed = (
        penalty(ratio, terms, rto_breaches=breaches, rpo_breaches=backups.rpo_breaches)
        if terms
        else None
    )
    serving = sum(in_service.values())
    evidenced = sum(1 for m in ev.evidenced if in_service[m])
    objective = exact(contract.availability.objective)
    clauses: dict[str, bool | None] = {
        "availability": None if ratio is None else ratio >= objective,
        "rto": None if rto is None else not breaches,
        "rpo": backups.rpo_compliant,
        "backup_frequency": backups.frequency_compliant,
        "retention": backups.retention_compliant,
        "restore_test": restores.compliant,
    }
    return PeriodReport(
        contract=contract,
        start=inputs.start,
        end=inputs.end,
        zone=calendar.zone,
        objective=objective,
        availability=ratio,
        minutes=n,
        coverage=evidenced / serving if serving else None,
        downtime=Downtime(
            vendor=n["down"] * 60,
            local=sum(1 for m in ev.local_minutes if in_service.get(m)) * 60,
            unknown=n["unknown"] * 60,
        ),
        incidents=reports,
        backups=backups,
        restore_tests=restores,
        clauses=clauses,
        penalty=owed,
        chain_head=inputs.chain_head,
        evaluation=ev,
        windows=spans,
        voided=inputs.voided,
    )
