"""The report JSON document (docs/sla.md field names) and the contracts API's, built
from the typed PeriodReport / LiveReport, and the CSV rendering of any document."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from collector.config import Contract
from collector.ledger.types import Note
from collector.notes import holds
from collector.sla.daily import Day
from collector.sla.now import LiveReport
from collector.sla.period import IncidentReport, PeriodReport, WindowReport, month_bounds

AVAILABILITY_REASON = "no minute was evaluated: no site voted in service hours (see coverage)"


def _iso(minute: int, zone: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC).astimezone(zone).isoformat()


def _when(value: dt.datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    try:
        return value.astimezone(zone).isoformat()
    except OverflowError:  # year 1 or 9999 moved across midnight: shown as given
        return value.isoformat()


def _note(n: Note, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "author": n.author,
        "at": _stamp(n.at, zone),
        "cause": n.cause,
        "vendor_ticket": n.vendor_ticket,
        "status": n.status,
        "recorded_by": n.recorded_by,
    }


def attach_notes(
    document: dict[str, Any], notes: Sequence[Note], zone: ZoneInfo, since: int | None = None
) -> None:
    """Each note on the incident whose [start, end) holds its minute (the open incident
    too), in time order; `since`, when the period starts inside an incident, is that
    incident's real start: its notes from before the period go to the clipped incident.
    The period's other notes, whose incident late data moved, go to `notes_unmatched`:
    never dropped. Also run on a frozen month's document at report time: notes are
    chained entries of their own, the frozen figures do not move."""

    def minute(text: str) -> int:
        return int(dt.datetime.fromisoformat(text).timestamp()) // 60

    period = document["period"]
    first, end = (minute(period[k]) for k in ("from", "to"))
    shown = [i for i in [*document["incidents"], document.get("open_incident")] if i]
    spans = [(minute(i["start"]), minute(i.get("end") or i["start"])) for i in shown]
    for incident in shown:
        incident["notes"] = []
    document["notes_unmatched"] = []
    for n in sorted(notes, key=lambda n: (n.incident, n.at)):
        at = first if since is not None and since <= n.incident < first else n.incident
        held = [i for i, (s, e) in zip(shown, spans, strict=True) if holds(s, e, at)]
        for incident in held:  # the open incident is also the period's last one
            incident["notes"].append(_note(n, zone))
        if not held and first <= n.incident < end:
            document["notes_unmatched"].append(
                {"incident": _iso(n.incident, zone), **_note(n, zone)}
            )
    for incident in shown:
        incident["notes"].sort(key=lambda n: n["at"])


def _incident(i: IncidentReport, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": _iso(i.start, zone),
        "end": _iso(i.end, zone),
        "duration_seconds": i.duration_seconds,
        "sites": i.sites,
        "attribution": i.attribution,
        "rto_breach": i.rto_breach,
        "notes": [],
    }


def _stamp(ts: float | None, zone: ZoneInfo) -> str | None:
    return None if ts is None else dt.datetime.fromtimestamp(ts, zone).isoformat()


def _window(w: WindowReport, zone: ZoneInfo) -> dict[str, Any]:
    r = w.record
    return {
        "start": _when(r.start, zone),
        "end": _when(r.end, zone),
        "source": r.source,
        "reason": r.reason,
        "announced_at": _stamp(r.announced_at, zone),
        "recorded_at": _stamp(r.recorded_at, zone),
        "excluded": w.in_time and w.in_config,
        "declared_after_the_fact": w.after_the_fact,
        "in_config": w.in_config,
    }


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _kind(r: PeriodReport) -> str:
    """month: exactly one calendar month in the contract's zone; period otherwise."""
    local = r.start.astimezone(r.zone)
    if (local.day, local.time()) != (1, dt.time()):
        return "period"
    bounds = month_bounds(f"{local.year}-{local.month:02d}", r.contract.service_hours.timezone)
    return "month" if (r.start, r.end) == bounds else "period"


def _terms(c: Contract) -> dict[str, Any]:
    plan = c.backups
    return {
        "objective": float(c.availability.objective),
        "min_coverage": float(c.availability.min_coverage),
        "rto_seconds": _seconds(c.rto),
        "rto_clock": c.rto_clock,
        "rpo_seconds": _seconds(c.rpo),
        "backup_every_seconds": _seconds(plan.every) if plan else None,
        "retention_seconds": _seconds(plan.retention) if plan else None,
        "restore_test_every_seconds": _seconds(plan.restore_test_every) if plan else None,
        "notice_seconds": _seconds(c.maintenance.notice),
    }


def _clause_figures(r: PeriodReport) -> dict[str, dict[str, Any]]:
    """Each clause's measured figure, the contractual value it was compared with, its
    verdict (the figures the engine's checks read)."""
    terms, b, t, c = _terms(r.contract), r.backups, r.restore_tests, r.clauses
    longest = max((i.clock_seconds for i in r.incidents), default=None)
    return {
        "availability": {
            "figure": float(r.availability) if r.availability is not None else None,
            "target": terms["objective"],
            "compliant": c["availability"],
        },
        "rto": {
            "figure": longest,
            "target": terms["rto_seconds"],
            "compliant": c["rto"],
            "breaches": r.rto_breaches,
        },
        "rpo": {
            "figure": b.largest_gap_seconds,
            "target": terms["rpo_seconds"],
            "compliant": c["rpo"],
            "breaches": b.rpo_breaches,
        },
        "backup_frequency": {
            "figure": b.frequency_gap_seconds,
            "target": terms["backup_every_seconds"],
            "compliant": c["backup_frequency"],
        },
        "retention": {
            "figure": b.retention_seconds,
            "target": terms["retention_seconds"],
            "compliant": c["retention"],
        },
        "restore_test": {
            "figure": t.age_seconds,
            "target": terms["restore_test_every_seconds"],
            "compliant": c["restore_test"],
            "duration_seconds": t.last_duration_seconds,
            "duration_target": terms["rto_seconds"],
        },
    }


def _dec(value: Decimal) -> str:
    """A contract's decimal as written, without trailing zeros (1500, 2, 0.5)."""
    return format(value.normalize(), "f")


def _penalty(r: PeriodReport) -> dict[str, Any] | None:
    p, written = r.penalty, r.contract.penalties
    if p is None:
        return None
    step, terms = written.per_step if written else None, p.terms
    return {
        "amount": str(p.amount),
        "currency": written.currency if written else "EUR",
        "steps": p.steps,
        "capped": p.capped,
        "monthly_fee": _dec(terms.monthly_fee),
        "below": step.below if step else None,
        "step": step.step if step else None,
        "rounding": terms.rounding,
        "percent_per_step": _dec(terms.percent_of_fee),
        "rto_breaches": p.rto_breaches,
        "per_rto_breach_percent": _dec(terms.per_rto_breach_percent),
        "rpo_breaches": p.rpo_breaches,
        "per_rpo_breach_percent": _dec(terms.per_rpo_breach_percent),
        "percent": _dec(p.percent),
        "cap_percent": None if terms.cap_percent is None else _dec(terms.cap_percent),
        "uncapped_amount": str(p.uncapped_amount),
    }


def _day(d: Day) -> dict[str, Any]:
    return {
        "date": d.date.isoformat(),
        "minutes": dict(d.minutes),
        "availability": float(d.availability) if d.availability is not None else None,
        "p95_seconds": dict(d.p95_seconds),
    }


def period_document(r: PeriodReport) -> dict[str, Any]:
    zone, ratio, b, t = r.zone, r.availability, r.backups, r.restore_tests
    contract = r.contract
    document = {
        "contract": contract.id,
        "vendor": contract.vendor,
        "period": {
            "from": r.start.astimezone(zone).isoformat(),
            "to": r.end.astimezone(zone).isoformat(),
        },
        "timezone": contract.service_hours.timezone,
        "kind": _kind(r),
        "terms": _terms(contract),
        "complete": r.complete,
        "evaluated_to": r.evaluated_to.astimezone(zone).isoformat(),
        "objective": float(r.objective),
        "availability": float(ratio) if ratio is not None else None,
        "availability_exact": f"{ratio.numerator}/{ratio.denominator}" if ratio else None,
        "availability_reason": None if ratio is not None else AVAILABILITY_REASON,
        "verdict": r.verdict,
        "verdict_reason": r.verdict_reason,
        "error_budget_remaining_ratio": r.error_budget_remaining_ratio,
        "minutes": dict(r.minutes),
        "coverage": r.coverage,
        "downtime_seconds": {
            "vendor": r.downtime.vendor,
            "local": r.downtime.local,
            "unknown": r.downtime.unknown,
        },
        "incidents": [_incident(i, zone) for i in r.incidents],
        "backups": {
            "rpo_compliant": b.rpo_compliant,
            "largest_gap_seconds": b.largest_gap_seconds,
            "rpo_breaches": b.rpo_breaches,
            "frequency_compliant": b.frequency_compliant,
            "retention_compliant": b.retention_compliant,
            "last_success": _when(b.last_success, zone),
            "oldest_restore_point": _when(b.oldest_restore_point, zone),
        },
        "restore_tests": {
            "compliant": t.compliant,
            "last_success": _when(t.last_success, zone),
            "last_duration_seconds": t.last_duration_seconds,
        },
        "clauses": dict(r.clauses),
        "clauses_not_evaluated": sorted(k for k, v in r.clauses.items() if v is None),
        "clause_figures": _clause_figures(r),
        "penalty": _penalty(r),
        "maintenance": [_window(w, zone) for w in r.maintenance],
        "evidence_chain_head": r.chain_head,
        "voided": [
            {"kind": v.kind, "id": v.id, "reason": v.reason, "at": _stamp(v.at, zone)}
            for v in r.voided
        ],
        "evidence_ignored": [
            {"kind": kind, "id": record_id, "reason": why}
            for kind, ignored in (("backup", b.ignored), ("restore_test", t.ignored))
            for record_id, why in ignored
        ],
        "sites": {site: dataclasses.asdict(f) for site, f in r.sites.items()},
        "daily": [_day(d) for d in r.days],
    }
    attach_notes(document, r.notes, zone)
    return document


def live_document(live: LiveReport) -> dict[str, Any]:
    """`GET /api/v1/contracts/{id}`: the current period's report plus the state now."""
    doc = period_document(live.period)
    opened = live.open_incident
    contract = live.period.contract
    doc.update(
        state=live.state,
        open_incident=None
        if opened is None
        else {
            **_incident(opened.incident, live.period.zone),
            "duration_seconds": opened.duration_seconds,
        },
        period_sites=doc["sites"],
        sites={
            site: {
                "name": s.name,
                "p95_seconds": s.p95_seconds,
                "loss_ratio": s.loss_ratio,
                "state": s.state,
            }
            for site, s in live.sites.items()
        },
        backup_age_seconds=live.backup_age_seconds,
        evaluated_at=live.evaluated_at,
        maintenance_active=live.maintenance_active,
        rto_seconds=contract.rto,
        rpo_seconds=contract.rpo,
        minutes_counted=dict(live.counted),
    )
    attach_notes(doc, live.period.notes, live.period.zone)
    return doc


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what Excel and LibreOffice read as a formula


def to_csv(document: dict[str, Any]) -> str:
    """One `field,value` row per JSON leaf (dotted path, list items indexed); a text that a
    spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`) gets a leading `'`."""
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
        elif value is None:
            writer.writerow([path, ""])
        elif isinstance(value, bool):
            writer.writerow([path, json.dumps(value)])
        elif isinstance(value, str) and value.startswith(_FORMULA):
            writer.writerow([path, "'" + value])  # a spreadsheet must not run a note as a formula
        else:
            writer.writerow([path, value])

    walk(document, "")
    return out.getvalue()
