"""A period's inputs read from the ledger, then evaluated by the pure SLA core: the glue
between storage and collector.sla, shared by `report` and the live evaluation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.config import CollectorConfig, Contract
from collector.ledger import Ledger, ResultRow
from collector.sla.daily import daily, day_starts
from collector.sla.engine import DAY, REFERENCE_ROLES, Records
from collector.sla.period import PeriodInputs, PeriodReport, evaluate_period
from collector.sla.records import CONTRACT_PROBES, minute_records
from collector.sla.sites import (
    Durations,
    DurationsReader,
    Sums,
    add_sums,
    collect_durations,
    latency_sums,
    site_figures,
)


def read_records(
    ledger: Ledger,
    contract: Contract,
    first: int,
    last: int,
    history: int = DAY,
    also: Callable[[ResultRow], None] | None = None,
) -> Records:
    """Minute records of minutes [first, last), from `history` minutes before `first`
    (24 h by default: reference validity looks back that far); `also` takes the
    contract's rows of the same scan."""
    rows = ledger.results(
        contract.targets, CONTRACT_PROBES, REFERENCE_ROLES, (first - history) * 60, last * 60
    )
    if also is not None:
        rows = _tee(rows, set(contract.targets), also)
    return minute_records(rows, contract.targets, float(contract.availability.slow_threshold))


def _tee(
    rows: Iterable[ResultRow], targets: set[str], take: Callable[[ResultRow], None]
) -> Iterator[ResultRow]:
    for row in rows:
        if row.target in targets and row.probe in CONTRACT_PROBES:
            take(row)
        yield row


def last_final(now: float, finalize_after: float) -> dt.datetime:
    """The end of the last final minute: a minute is final `finalize_after` after its end."""
    return dt.datetime.fromtimestamp(int((now - finalize_after) // 60) * 60, dt.UTC)


def touched_minutes(
    ledger: Ledger, contract: Contract, received_after: float
) -> tuple[set[int], float]:
    return ledger.touched_minutes(
        contract.targets, CONTRACT_PROBES, REFERENCE_ROLES, received_after
    )


@dataclass
class Part:
    """The rows of a span of a period the per-site figures and days are made of."""

    durations: Durations
    dui: Sums
    gateway: Sums


def read_part(
    ledger: Ledger,
    contract: Contract,
    starts: list[int],
    first: int,
    upto: int,
    span: range,
    durations: Durations | None = None,
) -> Part:
    """Minutes `span` (within [first, upto)) of the period whose days begin at `starts`;
    `durations` when already taken from another scan."""
    a, b = span.start * 60, span.stop * 60
    if durations is None:
        rows = ledger.results(contract.targets, CONTRACT_PROBES, (), a, b)
        durations = collect_durations(rows, starts, first, upto)
    return Part(
        durations,
        latency_sums(ledger.bodies("latency", "dui", a, b)),
        latency_sums(ledger.bodies("latency", "gateway", a, b)),
    )


def with_breakdown(
    report: PeriodReport, parts: Iterable[Part], names: Mapping[str, str]
) -> PeriodReport:
    """The report with its per-site figures and days, from the parts of its rows up to
    `evaluated_to`."""
    durations = Durations()
    parts = list(parts)
    for part in parts:
        durations.add(part.durations)
    sites = site_figures(
        durations,
        add_sums(p.dui for p in parts),
        add_sums(p.gateway for p in parts),
        report.evaluation.local_by_site,
        names,
    )
    upto = span_of(report)[1]
    days = daily(
        day_starts(report.start, report.end, report.zone),
        report.evaluation.states,
        upto,
        durations,
        report.contract.availability.unknown,
    )
    return dataclasses.replace(report, sites=sites, days=days)


def span_of(report: PeriodReport) -> tuple[int, int]:
    """The period's first minute and the first minute not evaluated."""
    first = int(report.start.timestamp()) // 60
    return first, max(first, int(report.evaluated_to.timestamp()) // 60)


def read_breakdown(
    ledger: Ledger, report: PeriodReport, names: Mapping[str, str], durations: Durations
) -> PeriodReport:
    """The whole period (a report): the durations taken from the records' scan, the
    latency runs read here."""
    first, upto = span_of(report)
    a, b = first * 60, upto * 60
    part = Part(
        durations,
        latency_sums(ledger.bodies("latency", "dui", a, b)),
        latency_sums(ledger.bodies("latency", "gateway", a, b)),
    )
    return with_breakdown(report, [part], names)


def contract_zone(config: CollectorConfig, default: str) -> ZoneInfo:
    """The zone pages and reports speak in: the first contract's service hours, else
    `default`."""
    return ZoneInfo(config.contracts[0].service_hours.timezone if config.contracts else default)


def site_names(config: CollectorConfig) -> dict[str, str]:
    """site id → its name in the config (the id when it has none)."""
    return {site: s.name or site for site, s in config.sites.items()}


def read_period(
    ledger: Ledger,
    contract: Contract,
    start: dt.datetime,
    end: dt.datetime,
    now: float,
    records: Records | None = None,
    evaluated_to: dt.datetime | None = None,
    names: Mapping[str, str] | None = None,
) -> PeriodReport:
    """The report of [start, end), evaluated up to `evaluated_to` (default: the end);
    `now` bounds the backup checks of a period not over. With `names` (site id → name),
    the per-site figures and days are read too."""
    evaluated_to = end if evaluated_to is None else evaluated_to
    first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    upto = max(first, min(last, int(evaluated_to.timestamp()) // 60))
    zone = ZoneInfo(contract.service_hours.timezone)
    reader = DurationsReader([m for _, m in day_starts(start, end, zone)], first, upto)
    if records is None:
        records = read_records(ledger, contract, first, last, also=reader.add)
    elif names is not None:  # records given (cached): the durations are read on their own
        for row in ledger.results(contract.targets, CONTRACT_PROBES, (), first * 60, upto * 60):
            reader.add(row)
    report = evaluate_period(
        PeriodInputs(
            contract=contract,
            start=start,
            end=end,
            evaluated_to=evaluated_to,
            records=records,
            maintenance=ledger.maintenance(contract.id),
            backups=ledger.evidence("backup", contract.id),
            restore_tests=ledger.evidence("restore_test", contract.id),
            at=min(end, dt.datetime.fromtimestamp(now, dt.UTC)),
            chain_head=ledger.chain_head(),
            config_windows=ledger.config_windows(contract.id),
            voided=ledger.voided(contract.id),
            notes=ledger.notes(contract.id),
        )
    )
    if names is None:
        return report
    return read_breakdown(ledger, report, names, reader.durations)
