"""A period's inputs read from the ledger, then evaluated by the pure SLA core: the glue
between storage and collector.sla, shared by `report` and the live evaluation."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

from collector.config import CollectorConfig, Contract
from collector.ledger import Ledger
from collector.sla.daily import daily, day_starts
from collector.sla.engine import DAY, REFERENCE_ROLES, Records
from collector.sla.period import PeriodInputs, PeriodReport, evaluate_period
from collector.sla.records import CONTRACT_PROBES, minute_records
from collector.sla.sites import collect_durations, site_figures


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


def read_breakdown(ledger: Ledger, report: PeriodReport, names: Mapping[str, str]) -> PeriodReport:
    """The report with its per-site figures and days, from the period's rows up to
    `evaluated_to`."""
    contract = report.contract
    first = int(report.start.timestamp()) // 60
    upto = max(first, int(report.evaluated_to.timestamp()) // 60)
    starts = day_starts(report.start, report.end, report.zone)
    rows = ledger.results(contract.targets, CONTRACT_PROBES, (), first * 60, upto * 60)
    durations = collect_durations(rows, [m for _, m in starts], first, upto)
    sites = site_figures(
        durations,
        ledger.bodies("latency", "dui", first * 60, upto * 60),
        ledger.bodies("latency", "gateway", first * 60, upto * 60),
        report.evaluation.local_by_site,
        names,
    )
    days = daily(starts, report.evaluation.states, upto, durations, contract.availability.unknown)
    return dataclasses.replace(report, sites=sites, days=days)


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
        )
    )
    return report if names is None else read_breakdown(ledger, report, names)
