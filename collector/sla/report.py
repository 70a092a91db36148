"""The contract report's figures (DESIGN.md §9): the ledger's raw results of a period
turned into minute records, evaluated by the engine, shaped as the report JSON.

Backup and restore-test clauses come with the evidence work; until then their
fields are null and `clauses_not_evaluated` says so.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import time
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from collector import chain, evidence
from collector.config import Contract
from collector.evidence import check_backups, check_restore_tests
from collector.sla.calendar import ServiceCalendar
from collector.sla.engine import (
    DAY,
    NO_REFERENCES,
    Evaluation,
    PenaltyTerms,
    SiteMinute,
    Window,
    availability,
    counts,
    evaluate,
    exact,
    incidents,
    penalty,
    rto_breach,
)

CONTRACT_PROBES = ("http", "scenario")  # what a contract's targets are judged on


def month_bounds(month: str, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    """[first day 00:00, next month's first day 00:00) in the contract's time zone."""
    from zoneinfo import ZoneInfo

    year, number = map(int, month.split("-"))
    zone = ZoneInfo(timezone)
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def parse_bound(text: str, timezone: str) -> dt.datetime:
    """An ISO date (midnight in the contract's zone) or a date-time with an offset."""
    from zoneinfo import ZoneInfo

    if len(text) == 10:
        return dt.datetime.combine(
            dt.date.fromisoformat(text), dt.time(), tzinfo=ZoneInfo(timezone)
        )
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, e.g. 2026-11-23T10:00:00Z")
    return value


def records(
    db: sqlite3.Connection, contract: Contract, start: int, end: int, history: int = DAY
) -> dict[int, dict[str, SiteMinute]]:
    """Minute records from raw results, from `history` minutes before `start` (24 h by
    default: reference validity looks back that far)."""
    slow = float(contract.availability.slow_threshold)
    targets = list(contract.targets)
    marks = ",".join("?" * len(targets))
    # streamed, not fetched: a month is millions of rows
    rows = db.execute(
        "SELECT CAST(ts / 60 AS INTEGER), site, target, role, probe, success, duration"
        " FROM results WHERE ts >= ? AND ts < ? AND ((target IN (" + marks + ") AND probe IN"
        " ('http', 'scenario')) OR role IN ('gateway', 'internet'))",
        ((start - history) * 60, end * 60, *targets),
    )
    raw: dict[int, dict[str, list[Any]]] = {}
    for minute, site, target, role, probe, success, duration in rows:
        entry = raw.setdefault(minute, {}).setdefault(site, [0, 0, None])
        if target in targets and probe in CONTRACT_PROBES:
            entry[0] += 1
            entry[1] += 0 if success and (duration or 0.0) <= slow else 1
        elif role in ("gateway", "internet"):
            if entry[2] is None:
                entry[2] = {}
            total, failed = entry[2].get(role, (0, 0))
            entry[2][role] = (total + 1, failed + (0 if success else 1))
    return {
        m: {
            s: _site_minute(e[0], e[1], tuple(sorted(e[2].items())) if e[2] else ())
            for s, e in sites.items()
        }
        for m, sites in raw.items()
    }


@lru_cache(maxsize=1 << 16)
def _site_minute(results: int, bad: int, references: tuple) -> SiteMinute:
    """Shared instances: most minutes of most sites look alike, and a month holds
    minutes × sites of them."""
    refs = MappingProxyType(dict(references)) if references else NO_REFERENCES
    return SiteMinute(results, bad, refs)


def _iso(minute: int, zone: Any) -> str:
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC).astimezone(zone).isoformat()


def _windows(db: sqlite3.Connection, contract: Contract) -> list[Window]:
    """The config's windows and those recorded by `maintenance add` or the API."""
    spans = [(w.start, w.end, w.announced_at.timestamp()) for w in contract.maintenance.windows]
    for entry in chain.entries(db, "maintenance", contract.id):
        data = json.loads(entry.record)
        spans.append(
            (
                dt.datetime.fromisoformat(data["start"]),
                dt.datetime.fromisoformat(data["end"]),
                entry.received_at,
            )
        )
    return [
        Window(int(s.timestamp()) // 60, -(-int(e.timestamp()) // 60), int(a) // 60)
        for s, e, a in spans
    ]


def _terms(contract: Contract) -> PenaltyTerms | None:
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


def touched_minutes(
    db: sqlite3.Connection, contract: Contract, received_after: float
) -> tuple[set[int], float]:
    """Minutes that received results for the contract since `received_after`, and the
    newest receive time seen (for the next call). One writer stores groups one after the
    other, each stamped when it starts, so a later group never carries an older stamp."""
    targets = list(contract.targets)
    marks = ",".join("?" * len(targets))
    rows = db.execute(
        "SELECT CAST(ts / 60 AS INTEGER), received_at FROM results WHERE received_at > ? AND"
        " ((target IN (" + marks + ") AND probe IN ('http', 'scenario')) OR role IN"
        " ('gateway', 'internet'))",
        (received_after, *targets),
    ).fetchall()
    newest = max((r[1] for r in rows), default=received_after)
    return {r[0] for r in rows}, newest


def frozen(db: sqlite3.Connection, contract_id: str, month: str) -> dict[str, Any] | None:
    """The report of a frozen month as it was chained, or None."""
    row = db.execute(
        "SELECT record FROM chain WHERE kind = 'month' AND contract = ? AND key = ?",
        (contract_id, month),
    ).fetchone()
    return json.loads(row[0]) if row else None


def _when(value: dt.datetime | None, zone: Any) -> str | None:
    return value.astimezone(zone).isoformat() if value else None


def _evidence(db: sqlite3.Connection, kind: str, contract: str) -> list[Any]:
    return [evidence.parse(kind, e.record.encode()) for e in chain.entries(db, kind, contract)]


def report(
    db: sqlite3.Connection,
    contract: Contract,
    start: dt.datetime,
    end: dt.datetime,
    now: float | None = None,
) -> dict[str, Any]:
    """The report of a period; `now` bounds the backup checks of a period not over yet."""
    return evaluate_period(db, contract, start, end, now)[0]


def evaluate_period(
    db: sqlite3.Connection,
    contract: Contract,
    start: dt.datetime,
    end: dt.datetime,
    now: float | None = None,
    known: dict[int, dict[str, SiteMinute]] | None = None,
) -> tuple[dict[str, Any], Evaluation]:
    calendar = ServiceCalendar.of(contract.service_hours)
    zone = calendar.zone
    first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
    minutes = range(first, last)
    in_service = {m: calendar.in_service(m) for m in minutes}
    ev = evaluate(
        minutes,
        known if known is not None else records(db, contract, first, last),
        quorum=exact(contract.availability.quorum),
        min_sites=contract.availability.min_sites,
        in_service=in_service,
        windows=_windows(db, contract),
        notice=int(contract.maintenance.notice) // 60,
    )
    n = counts(ev.states)
    ratio = availability(n, contract.availability.unknown)
    found = incidents(ev.states, ev.failed_sites, int(contract.availability.incident_merge) // 60)
    rto = int(contract.rto) // 60 if contract.rto is not None else None
    breaches = [rto_breach(i, rto, contract.rto_clock, in_service) for i in found]
    at = min(end, dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC))
    plan = contract.backups
    backups = check_backups(
        _evidence(db, "backup", contract.id),
        at,
        contract.rpo,
        plan.every if plan else None,
        plan.retention if plan else None,
    )
    restores = check_restore_tests(
        _evidence(db, "restore_test", contract.id),
        at,
        plan.restore_test_every if plan else None,
        contract.rto,
    )
    terms = _terms(contract)
    owed = (
        penalty(ratio, terms, rto_breaches=sum(breaches), rpo_breaches=backups.rpo_breaches)
        if terms
        else None
    )
    serving = sum(in_service.values())
    evidenced = sum(1 for m in ev.evidenced if in_service[m])
    objective = exact(contract.availability.objective)
    clauses = {
        "availability": None if ratio is None else ratio >= objective,
        "rto": None if rto is None else not any(breaches),
        "rpo": backups.rpo_compliant,
        "backup_frequency": backups.frequency_compliant,
        "retention": backups.retention_compliant,
        "restore_test": restores.compliant,
    }
    verdict = None
    if ratio is not None:
        verdict = "pass" if all(v is not False for v in clauses.values()) else "fail"
    document = {
        "contract": contract.id,
        "vendor": contract.vendor,
        "period": {
            "from": start.astimezone(zone).isoformat(),
            "to": end.astimezone(zone).isoformat(),
        },
        "objective": float(objective),
        "availability": float(ratio) if ratio is not None else None,
        "availability_exact": f"{ratio.numerator}/{ratio.denominator}" if ratio else None,
        "availability_reason": None
        if ratio is not None
        else "no minute was evaluated: no site voted in service hours (see coverage)",
        "verdict": verdict,
        "minutes": n,
        "coverage": evidenced / serving if serving else None,
        "downtime_seconds": {
            "vendor": n["down"] * 60,
            "local": sum(1 for m in ev.local_minutes if in_service.get(m)) * 60,
            "unknown": sum(1 for m, s in ev.states.items() if s == "unknown") * 60,
        },
        "incidents": [
            {
                "start": _iso(i.start, zone),
                "end": _iso(i.end, zone),
                "duration_seconds": i.wall_minutes() * 60,
                "sites": i.sites,
                "attribution": "vendor",
                "rto_breach": breach,
                "notes": [],
            }
            for i, breach in zip(found, breaches, strict=True)
        ],
        "backups": {
            "rpo_compliant": backups.rpo_compliant,
            "largest_gap_seconds": backups.largest_gap_seconds,
            "rpo_breaches": backups.rpo_breaches,
            "frequency_compliant": backups.frequency_compliant,
            "retention_compliant": backups.retention_compliant,
            "last_success": _when(backups.last_success, zone),
            "oldest_restore_point": _when(backups.oldest_restore_point, zone),
        },
        "restore_tests": {
            "compliant": restores.compliant,
            "last_success": _when(restores.last_success, zone),
            "last_duration_seconds": restores.last_duration_seconds,
        },
        "clauses": clauses,
        "clauses_not_evaluated": sorted(k for k, v in clauses.items() if v is None),
        "penalty": None
        if owed is None
        else {
            "amount": str(owed.amount),
            "currency": contract.penalties.currency if contract.penalties else "EUR",
            "steps": owed.steps,
            "capped": owed.capped,
        },
        "evidence_chain_head": chain.head(db),
    }
    return document, ev


def to_csv(document: dict[str, Any]) -> str:
    """One `field,value` row per JSON leaf (dotted path, list items indexed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["field", "value"])

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            if not value and path:
                writer.writerow([path, ""])
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            if not value:
                writer.writerow([path, ""])
            for i, item in enumerate(value):
                walk(item, f"{path}.{i}")
        else:
            writer.writerow(
                [
                    path,
                    ""
                    if value is None
                    else json.dumps(value)
                    if isinstance(value, bool)
                    else value,
                ]
            )

    walk(document, "")
    return out.getvalue()


def _pct(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    text = f"{value * 100:.3f} %"
    return text.replace(".", ",") if lang == "fr" else text


def _num(value: float, lang: str) -> str:
    text = f"{value:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def _money(penalty: dict[str, Any] | None, lang: str) -> str:
    if penalty is None:
        return "—"
    amount = Decimal(penalty["amount"])
    text = f"{amount:,.2f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return f"{text} {'€' if penalty['currency'] == 'EUR' else penalty['currency']}"


def to_html(document: dict[str, Any], lang: str = "fr") -> str:
    """A plain printable page of the same figures (charts come with the report work)."""
    from collector.http import STRINGS, _templates

    return _templates.get_template("report.html").render(
        r=document,
        t=STRINGS[lang],
        lang=lang,
        pct=lambda v: _pct(v, lang),
        num=lambda v: _num(v, lang),
        money=lambda p: _money(p, lang),
    )
