"""The contract engine while the collector runs: each contract's current period is
evaluated again (late data included) from minute records read once and then only where
results arrived; minutes that became final are counted once, for good, for
dui_sla_seconds_total; months past `close_after` are frozen into the hash chain."""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import threading
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from collector.config import CollectorConfig, Contract
from collector.ledger import Ledger
from collector.ledger.types import ResultRow
from collector.periods import (
    Part,
    read_part,
    read_period,
    read_records,
    site_names,
    span_of,
    touched_minutes,
    with_breakdown,
)
from collector.render.document import period_document
from collector.sla.daily import day_starts
from collector.sla.engine import DAY, STATES, SiteMinute
from collector.sla.now import RECENT_MINUTES, LiveReport, live_report, loss_ratios, sites_now
from collector.sla.period import PeriodReport, month_bounds
from collector.sla.records import CONTRACT_PROBES
from collector.sla.sites import DurationsReader
from runtime.logs import Throttle, fields

log = logging.getLogger("dui.collector.sla")


PART_MINUTES = 60  # the live per-site figures are read again an hour at a time


@dataclass
class _Parts:
    first: int  # the period's first minute
    parts: dict[int, Part]  # first minute of an hour-long part → its rows
    upto: int  # the first minute not evaluated at the last read
    seen: float  # newest received_at read


class _Split:
    """The hour-long parts of a period up to `upto`, and a durations reader for each, so
    that the first scan of the month's records fills them too."""

    def __init__(self, starts: list[int], first: int, upto: int) -> None:
        self.starts, self.first, self.upto = starts, first, upto
        self.bounds = [
            m
            for day, nxt in zip(starts, [*starts[1:], upto], strict=True)
            for m in range(day, min(nxt, upto), PART_MINUTES)
        ]
        self.readers = {b: DurationsReader(starts, first, upto) for b in self.bounds}
        self.used = False  # whether a scan went through add()

    def add(self, row: ResultRow) -> None:
        if self.first <= row.minute < self.upto:
            bound = self.bounds[bisect.bisect_right(self.bounds, row.minute) - 1]
            self.readers[bound].add(row)


@dataclass
class _Cache:
    first: int  # the period's first minute
    records: dict[int, dict[str, SiteMinute]]
    seen: float  # newest received_at read


class LiveSla:
    """Uses its own ledger connection; one evaluation at a time."""

    def __init__(self, config: CollectorConfig, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self.finalize_after = float(config.ledger.finalize_after)
        self.reports: dict[str, LiveReport] = {}
        self._lock = threading.Lock()  # one evaluation at a time; stop() waits for it
        self._stopped = False
        self._cache: dict[str, _Cache] = {}
        self._parts: dict[str, _Parts] = {}
        self._errors = Throttle(
            600.0
        )  # per contract: a new error at once, the same one every 10 min

    def stop(self) -> None:
        """No evaluation after this returns (the one in progress is finished first)."""
        with self._lock:
            self._stopped = True

    def tick(self, now: float) -> list[str]:
        """Freeze what is due and evaluate every contract; the contracts that failed."""
        failed = []
        for contract in self.config.contracts:
            try:
                with self._lock:
                    if self._stopped:
                        break
                    self._freeze(contract, now)
                    self.reports[contract.id] = self._evaluate(contract, now, count=True)
                self._errors.forget(contract.id)
            except Exception as exc:
                failed.append(contract.id)
                if self._errors.due(contract.id, f"{type(exc).__name__}: {exc}") is not None:
                    log.exception("contract evaluation failed", extra=fields(contract=contract.id))
        return failed

    def evaluate(self, contract: Contract, now: float) -> LiveReport:
        """The contract now, for the API: the same evaluation, without counting minutes
        (only the SLA rounds write)."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("the collector is stopping")
            return self._evaluate(contract, now, count=False)

    def _freeze(self, contract: Contract, now: float) -> None:
        """Freeze the months that ended more than `close_after` ago: their report goes
        into the hash chain and late data no longer changes it."""
        zone = contract.service_hours.timezone
        local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
        year, month = local.year, local.month
        for _ in range(2):  # the last two months, in case the collector was down
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            name = f"{year}-{month:02d}"
            start, end = month_bounds(name, zone)
            if end.timestamp() + float(self.config.ledger.close_after) > now:
                continue
            if self.ledger.frozen_month(contract.id, name) is not None:
                continue
            document = period_document(
                read_period(
                    self.ledger,
                    contract,
                    start,
                    end,
                    end.timestamp(),
                    names=site_names(self.config),
                )
            )
            document.update(frozen=True, frozen_at=now)
            entry = self.ledger.freeze_month(contract.id, name, document, now)
            log.info(
                "month frozen",
                extra=fields(contract=contract.id, month=name, chain_hash=entry.hash),
            )

    def _evaluate(self, contract: Contract, now: float, count: bool) -> LiveReport:
        zone = contract.service_hours.timezone
        local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
        start, month_end = month_bounds(f"{local.year}-{local.month:02d}", zone)
        current_minute = int(now // 60)
        # the state now: through the last minute, final or not (late data may change it)
        upto = min(month_end, dt.datetime.fromtimestamp(current_minute * 60, dt.UTC))
        first, last = int(start.timestamp()) // 60, int(month_end.timestamp()) // 60
        split = _Split(
            [m for _, m in day_starts(start, month_end, ZoneInfo(zone))],
            first,
            max(first, min(last, current_minute)),
        )
        period = read_period(
            self.ledger,
            contract,
            start,
            month_end,
            now,
            records=self._records(contract, start, month_end, split),
            evaluated_to=upto,
        )
        period = self._breakdown(contract, period, split)
        since = current_minute - RECENT_MINUTES
        recent = self.ledger.results(contract.targets, CONTRACT_PROBES, (), since * 60, now + 1)
        sites = sites_now(
            recent,
            loss_ratios(self.ledger.bodies("latency", "dui", since * 60)),
            period.evaluation.last_votes,
            since,
            site_names(self.config),
        )
        if count:
            self._count_final(contract, period.evaluation.states, now)
        counted = dict.fromkeys(STATES, 0) | self.ledger.counted(contract.id)
        return live_report(period, now, sites, counted)

    def _records(
        self, contract: Contract, start: dt.datetime, end: dt.datetime, split: _Split
    ) -> dict[int, dict[str, SiteMinute]]:
        """The period's minute records: read once (the per-site parts' durations taken from
        the same scan), then only the minutes that received results since the last
        evaluation are read again (late data included)."""
        first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
        cached = self._cache.get(contract.id)
        if cached is None or cached.first != first:
            seen = self.ledger.newest_received()
            records = read_records(self.ledger, contract, first, last, also=split.add)
            split.used = True
            cached = _Cache(first, records, seen)
        else:
            touched, cached.seen = touched_minutes(self.ledger, contract, cached.seen)
            for minute in touched:
                if first - DAY <= minute < last:
                    fresh = read_records(self.ledger, contract, minute, minute + 1, history=0)
                    cached.records.pop(minute, None)
                    if minute in fresh:
                        cached.records[minute] = fresh[minute]
        self._cache[contract.id] = cached
        return cached.records

    def _breakdown(self, contract: Contract, period: PeriodReport, split: _Split) -> PeriodReport:
        """The per-site figures and days, from hour-long parts of the period's rows read
        once, then again only where results arrived or the evaluation moved on."""
        first, upto = span_of(period)
        starts, bounds = split.starts, split.bounds
        cached = self._parts.get(contract.id)
        if cached is None or cached.first != first:
            cached = _Parts(first, {}, upto, self.ledger.newest_received())
        else:
            touched, cached.seen = self.ledger.touched_minutes(
                contract.targets, CONTRACT_PROBES, ("dui", "gateway"), cached.seen
            )
            moved = range(min(cached.upto, upto) - 1, upto) if upto > cached.upto else range(0)
            for minute in {*touched, *moved}:
                if first <= minute < upto:
                    cached.parts.pop(bounds[bisect.bisect_right(bounds, minute) - 1], None)
            cached.upto = upto
        for i, start in enumerate(bounds):
            if start not in cached.parts:
                stop = bounds[i + 1] if i + 1 < len(bounds) else upto
                cached.parts[start] = read_part(
                    self.ledger,
                    contract,
                    starts,
                    first,
                    upto,
                    range(start, stop),
                    split.readers[start].durations if split.used else None,
                )
        self._parts[contract.id] = cached
        return with_breakdown(period, [cached.parts[b] for b in bounds], site_names(self.config))

    def _count_final(self, contract: Contract, states: dict[int, str], now: float) -> None:
        """Count each minute once, when it is final, from the first start on."""
        final = int((now - self.finalize_after) // 60)  # minutes < final are final
        last = self.ledger.last_counted_minute(contract.id)
        since = last + 1 if last is not None else final - 1
        first = min(states, default=since)
        if since < first:  # last period's closing minutes turned final after the rollover
            previous = read_period(
                self.ledger,
                contract,
                dt.datetime.fromtimestamp(since * 60, dt.UTC),
                dt.datetime.fromtimestamp(first * 60, dt.UTC),
                now,
            )
            states = {**previous.evaluation.states, **states}
        self.ledger.count_minutes(
            contract.id, [(m, states[m]) for m in range(since, final) if m in states]
        )
