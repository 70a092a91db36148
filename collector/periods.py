"""A period's inputs read from the ledger, then evaluated by the pure SLA core: the glue
between storage and collector.sla, shared by `report` and the live evaluation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from collector.config import CollectorConfig, Contract
from collector.ledger import Ledger
from collector.sla.daily import daily, day_starts
from collector.sla.engine import DAY, REFERENCE_ROLES, Records
from collector.sla.period import PeriodInputs, PeriodReport, evaluate_period
from collector.sla.records import CONTRACT_PROBES, minute_records
from collector.sla.sites import (
    Durations,
    Sums,
    add_sums,
    collect_durations,
    latency_sums,
    site_figures,
)


def read_records(
    ledger: Ledger, contract: Contract, first: int, last: int, history: int = DAY
) -> Records:
    """Minute records of minutes [first, last), from `history` minutes before `first`
    (24 h by default: reference validity looks back that far)."""
    rows = ledger.results(
        contract.targets, CONTRACT_PROBES, REFERENCE_ROLES, (first - history) * 60, last * 60
    )
    return minute_records(rows, contract.targets, float(contract.availability.slow_threshold))


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
    ledger: Ledger, contract: Contract, starts: list[int], first: int, upto: int, span: range
) -> Part:
    """Minutes `span` (within [first, upto)) of the period whose days begin at `starts`."""
    a, b = span.start * 60, span.stop * 60
    rows = ledger.results(contract.targets, CONTRACT_PROBES, (), a, b)
    return Part(
        collect_durations(rows, starts, first, upto),
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


def read_breakdown(ledger: Ledger, report: PeriodReport, names: Mapping[str, str]) -> PeriodReport:
    """The whole period's rows read once (a report)."""
    first, upto = span_of(report)
    starts = [m for _, m in day_starts(report.start, report.end, report.zone)]
    part = read_part(ledger, report.contract, starts, first, upto, range(first, upto))
    return with_breakdown(report, [part], names)


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
    if records is None:
        first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
        records = read_records(ledger, contract, first, last)
    report = evaluate_period(
        PeriodInputs(
            contract=contract,
            start=start,
            end=end,
            evaluated_to=end if evaluated_to is None else evaluated_to,
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
    return report if names is None else read_breakdown(ledger, report, names)
