"""One period of one contract, evaluated: typed inputs (minute records, maintenance,
evidence, the moment of judgement) in, one typed `PeriodReport` out. Pure: no clock, no
ledger; the report renderers, the contracts API and /metrics all read its result."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
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
from collector.ledger.types import MaintenanceRecord, Note, Voided
from collector.sla.calendar import ServiceCalendar
from collector.sla.daily import Day
from collector.sla.engine import (
    Evaluation,
    Penalty,
    PenaltyTerms,
    Records,
    Window,
    availability,
    clock_minutes,
    counts,
    evaluate,
    exact,
    incidents,
    penalty,
    rto_breach,
)
from collector.sla.sites import SiteFigures

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


@dataclass(frozen=True)
class WindowReport:
    """A maintenance window as the report shows it."""

    record: MaintenanceRecord
    in_time: bool  # announced at least `notice` before its start: its minutes are excluded
    after_the_fact: bool  # recorded (chained) after its start: the OG's announced_at stands
    in_config: bool  # a config window still in the config file (False: edited or removed)


def _key(r: MaintenanceRecord) -> tuple:
    return (r.start.timestamp(), r.end.timestamp(), r.announced_at, r.reason)


def config_records(contract: Contract) -> list[MaintenanceRecord]:
    """The config file's windows of a contract (announced_at is the OG's word)."""
    return [
        MaintenanceRecord(
            contract.id, w.start, w.end, w.announced_at.timestamp(), w.reason, source="config"
        )
        for w in contract.maintenance.windows
    ]


def maintenance_windows(
    contract: Contract,
    recorded: Sequence[MaintenanceRecord],
    chained_config: Sequence[MaintenanceRecord] = (),
) -> list[WindowReport]:
    """The windows of the config file (with when they were chained, if they were) and
    those recorded by `maintenance add` or the API; config windows chained once and no
    longer in the file are kept, as a trace, but exclude nothing."""
    chained = {_key(r): r.recorded_at for r in chained_config}
    current = [
        dataclasses.replace(r, recorded_at=chained.get(_key(r))) for r in config_records(contract)
    ]
    kept = {_key(r) for r in current}
    notice = float(contract.maintenance.notice)
    out = []
    for r, in_config in [
        *((r, True) for r in [*current, *recorded]),
        *((r, False) for r in chained_config if _key(r) not in kept),
    ]:
        start = r.start.timestamp()
        out.append(
            WindowReport(
                record=r,
                in_time=r.announced_at <= start - notice,
                after_the_fact=r.recorded_at is not None and r.recorded_at > start,
                in_config=in_config,
            )
        )
    return out


def windows(reports: Sequence[WindowReport]) -> list[Window]:
    """The windows that may exclude minutes, as UTC minutes (start down, end up)."""
    return [
        Window(
            int(w.record.start.timestamp()) // 60,
            -(-int(w.record.end.timestamp()) // 60),
            int(w.record.announced_at) // 60,
        )
        for w in reports
        if w.in_config
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
    evaluated_to: dt.datetime  # the end, or the last final minute of a period not over
    records: Records  # from 24 h before `start` (reference validity looks back that far)
    maintenance: Sequence[MaintenanceRecord]  # recorded by `maintenance add` or the API
    backups: Sequence[Backup]
    restore_tests: Sequence[RestoreTest]
    at: dt.datetime  # when the backup clauses are judged: the period's end, or now if sooner
    chain_head: str
    config_windows: Sequence[MaintenanceRecord] = ()  # the config's windows as chained
    voided: Sequence[Voided] = ()  # evidence withdrawn (already left out of the lists above)
    notes: Sequence[Note] = ()  # incident notes, matched to incidents by the renderer


@dataclass(frozen=True)
class IncidentReport:
    start: int  # first down minute (UTC minute number)
    end: int  # minute after the last down minute
    sites: list[str]
    rto_breach: bool
    attribution: str = "vendor"
    clock_seconds: int = 0  # its duration as the contract's RTO clock counts it

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
    evaluated_to: dt.datetime
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
    maintenance: list[WindowReport]  # the windows overlapping the period
    service_minutes: int  # of the whole period, elapsed or not: the error budget's base
    voided: Sequence[Voided] = ()
    at: dt.datetime | None = None  # when the backup and restore clauses were judged
    sites: Mapping[str, SiteFigures] = dataclasses.field(default_factory=dict)
    days: Sequence[Day] = ()  # filled by collector.periods from the ledger's rows
    notes: Sequence[Note] = ()

    @property
    def complete(self) -> bool:
        return self.evaluated_to >= self.end

    @property
    def verdict_reason(self) -> str | None:
        """Why there is no verdict: `coverage` below `availability.min_coverage` (a report
        never says pass on a few minutes of evidence), or no minute evaluated."""
        if (self.coverage or 0.0) < self.contract.availability.min_coverage:
            return "coverage"
        if self.availability is None:
            return "no_evaluated_minute"
        return None

    @property
    def verdict(self) -> str | None:
        """pass or fail; provisional while the period is not complete."""
        if self.verdict_reason is not None:
            return None
        return "pass" if all(v is not False for v in self.clauses.values()) else "fail"

    @property
    def rto_breaches(self) -> int:
        return sum(i.rto_breach for i in self.incidents)

    @property
    def error_budget_remaining_ratio(self) -> float:
        """Calendar-aligned, like the contract: 1 − bad minutes / ((1 − objective) × every
        service minute of the period, elapsed or not); bad = down, plus unknown when the
        contract counts unknown as down. Below 0 once the budget is overspent."""
        bad = self.minutes["down"]
        if self.contract.availability.unknown == "down":
            bad += self.minutes["unknown"]
        budget = (1 - self.objective) * self.service_minutes
        if budget == 0:
            return 0.0 if bad else 1.0
        return float(1 - bad / budget)


def evaluate_period(inputs: PeriodInputs) -> PeriodReport:
    contract = inputs.contract
    calendar = ServiceCalendar.of(contract.service_hours)
    first, last = int(inputs.start.timestamp()) // 60, int(inputs.end.timestamp()) // 60
    upto = max(first, min(last, int(inputs.evaluated_to.timestamp()) // 60))
    minutes = range(first, upto)  # minutes that have not happened are not counted at all
    in_service = {m: calendar.in_service(m) for m in minutes}
    declared = maintenance_windows(contract, inputs.maintenance, inputs.config_windows)
    spans = windows(declared)
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
        IncidentReport(
            i.start,
            i.end,
            i.sites,
            rto_breach(i, rto, contract.rto_clock, in_service),
            clock_seconds=60 * clock_minutes(i, contract.rto_clock, in_service),
        )
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
        # no evaluated minute: no evidence either way, so no "met" (nor "breached")
        "rto": None if rto is None or ratio is None else not breaches,
        "rpo": backups.rpo_compliant,
        "backup_frequency": backups.frequency_compliant,
        "retention": backups.retention_compliant,
        "restore_test": restores.compliant,
    }
    return PeriodReport(
        contract=contract,
        start=inputs.start,
        end=inputs.end,
        evaluated_to=min(inputs.end, inputs.evaluated_to),
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
        maintenance=[
            w for w in declared if w.record.start < inputs.end and w.record.end > inputs.start
        ],
        service_minutes=serving + sum(calendar.in_service(m) for m in range(upto, last)),
        voided=inputs.voided,
        at=inputs.at,
        notes=inputs.notes,
    )
