"""The contract report as a COPIL reads it: the report JSON document turned into the
sections of templates/report.html (verdict sentence, figures, per-site table,
incidents, charts; the clauses and the penalty come from terms.py). Every figure is
formatted by `formats`; a field an older (frozen) document lacks leaves its section
out or says "not available", never fails."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup

from collector.render import charts, formats
from collector.render.terms import clauses, penalty

STATES = ("up", "degraded", "down", "unknown", "excluded")
ATTRIBUTIONS = ("vendor", "local", "unknown")


def _zone(doc: dict[str, Any]) -> dt.tzinfo:
    """The contract's zone; an older document without `timezone` keeps its offset."""
    name = doc.get("timezone")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    offset = dt.datetime.fromisoformat(doc["period"]["from"]).utcoffset()
    return dt.timezone(offset or dt.timedelta(0))


def _kind(doc: dict[str, Any], start: dt.datetime, end: dt.datetime) -> str:
    if doc.get("kind") in ("month", "period"):
        return doc["kind"]
    # each bound in its own offset: a month may cross a DST change
    first_of_next = (start.date().replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    midnights = start.time() == end.time() == dt.time(0)
    whole_month = midnights and start.day == 1 and end.date() == first_of_next
    return "month" if whole_month else "period"


def _period_text(kind: str, start: dt.datetime, end: dt.datetime, zone, t, lang) -> str:
    if kind == "month":
        return formats.month(start.date(), lang)
    if start.time() == end.time() == dt.time(0):  # whole days: the last one is inclusive
        last = end.date() - dt.timedelta(days=1)
        return t["whole_days"].format(
            start=formats.day(start.date(), lang), end=formats.day(last, lang)
        )
    return t["from_to"].format(
        start=formats.moment(start, zone, lang), end=formats.moment(end, zone, lang)
    )


def _fig(text: str) -> Markup:
    """A figure inside a sentence, never broken across two lines (`99,500 %`)."""
    return Markup('<span class="fig">{}</span>').format(text)


def _say(template: str, **figures: Any) -> Markup:
    return Markup.escape(template).format(**figures)


def sentence(doc: dict[str, Any], kind: str, period: str, zone, t, lang) -> tuple[Markup, str]:
    """The verdict in one sentence (escaped HTML), and its class (pass, fail, none)."""
    lead = t["vsr_lead" if kind == "period" else "month_lead"].format(period=period)
    lead = lead[:1].upper() + lead[1:]  # `novembre 2026 :` opens a sentence
    pct = partial(formats.percent, lang=lang)
    if doc.get("verdict_reason") == "coverage":
        minimum = (doc.get("terms") or {}).get("min_coverage")
        text = _say(
            t["say_coverage"], coverage=_fig(pct(doc.get("coverage"))), minimum=_fig(pct(minimum))
        )
        klass = "none"
    elif doc.get("verdict") is None:
        text, klass = _say(t["say_no_minute"]), "none"
    else:
        klass = doc["verdict"]
        failed = [c["label"] for c in clauses(doc, t, lang) if c["verdict"] == "fail"]
        text = _say(
            t[f"say_{klass}"],
            failed=", ".join(failed),
            availability=_fig(pct(doc.get("availability"))),
            objective=_fig(pct(doc.get("objective"))),
        )
    if doc.get("complete") is False:
        until = _fig(formats.moment(doc.get("evaluated_to"), zone, lang))
        text += Markup(" ") + _say(t["say_provisional"], until=until)
    return Markup.escape(lead) + Markup(" ") + text, klass


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def sites(doc: dict[str, Any], lang: str) -> list[dict[str, str]] | None:
    given = doc.get("sites")
    if not isinstance(given, dict) or not given:
        return None
    num = partial(formats.number, lang=lang)
    rows = []
    for site, s in sorted(given.items()):
        rows.append(
            {
                "site": s.get("name") or site,
                "id": site,
                "p50": num(s.get("p50_seconds"), digits=2),
                "p95": num(s.get("p95_seconds"), digits=2),
                "rtt": num(_ms(s.get("rtt_seconds")), digits=1),
                "gateway_rtt": num(_ms(s.get("gateway_rtt_seconds")), digits=1),
                "loss": formats.percent(s.get("loss_ratio"), lang, 1),
                "gateway_loss": formats.percent(s.get("gateway_loss_ratio"), lang, 1),
                "local_fault": formats.duration(s.get("local_fault_seconds"), lang),
                "results": num(s.get("results")),
            }
        )
    return rows


def incidents(doc: dict[str, Any], zone, t, lang) -> list[dict[str, Any]]:
    evaluated = (doc.get("terms") or {}).get("rto_seconds") is not None or (
        "terms" not in doc and (doc.get("clauses") or {}).get("rto") is not None
    )
    names = {k: (v or {}).get("name") or k for k, v in (doc.get("sites") or {}).items()}
    rows = []
    for i in doc.get("incidents", []):
        if not evaluated:
            rto, klass = t["rto_not_evaluated"], "none"
        elif i.get("rto_breach"):
            rto, klass = t["rto_breached"], "fail"
        else:
            rto, klass = t["rto_met"], "pass"
        rows.append(
            {
                "start": formats.moment(i["start"], zone, lang),
                "end": formats.moment(i["end"], zone, lang),
                "duration": formats.duration(i["duration_seconds"], lang),
                "sites": ", ".join(names.get(s, s) for s in i.get("sites", [])),
                "attribution": t.get(f"attr_{i.get('attribution')}", i.get("attribution")),
                "rto": rto,
                "rto_class": klass,
                "notes": [
                    {
                        "cause": n.get("cause") or "",
                        "ticket": n.get("vendor_ticket"),
                        "status": t.get(f"note_{n.get('status')}") if n.get("status") else None,
                        "by": t["note_by"].format(
                            author=n.get("author") or formats.DASH,
                            at=formats.moment(n.get("at"), zone, lang),
                        ),
                    }
                    for n in i.get("notes") or []
                ],
            }
        )
    return rows


def _frozen(doc: dict[str, Any], zone: dt.tzinfo, t: dict[str, str], lang: str) -> str | None:
    """When a frozen month was chained (`frozen_at` is Unix time)."""
    at = doc.get("frozen_at")
    if not doc.get("frozen") or not isinstance(at, int | float):
        return None
    return t["frozen"].format(at=formats.moment(dt.datetime.fromtimestamp(at, dt.UTC), zone, lang))


def view(doc: dict[str, Any], t: dict[str, str], lang: str) -> dict[str, Any]:
    """Everything report.html shows, formatted, from the report document."""
    zone = _zone(doc)
    start = dt.datetime.fromisoformat(doc["period"]["from"])
    end = dt.datetime.fromisoformat(doc["period"]["to"])
    kind = _kind(doc, start, end)
    period = _period_text(kind, start.astimezone(zone), end.astimezone(zone), zone, t, lang)
    said, klass = sentence(doc, kind, period, zone, t, lang)
    minutes = doc.get("minutes") or {}
    terms = doc.get("terms") or {}
    maintenance = doc.get("maintenance") or []
    availability, budget = doc.get("availability"), doc.get("error_budget_remaining_ratio")
    below = availability is not None and availability < doc["objective"]
    return {
        "title": doc.get("vendor") or doc["contract"],
        "frozen": _frozen(doc, zone, t, lang),
        "availability_class": "fail" if below else ("pass" if availability is not None else ""),
        "budget": budget,
        "budget_spent": budget is not None and budget < 0,
        "voided": doc.get("voided") or [],
        "ignored": doc.get("evidence_ignored") or [],
        "chain": doc.get("evidence_chain_head"),
        "zone": formats.zone_name(zone, start, lang, until=end),
        "zone_tz": zone,
        "kind": kind,
        "period": period,
        "sentence": said,
        "verdict_class": klass,
        "minutes": [(s, minutes.get(s)) for s in STATES],
        "minutes_total": sum(v for v in minutes.values() if v),
        "downtime": [(a, (doc.get("downtime_seconds") or {}).get(a)) for a in ATTRIBUTIONS],
        "min_coverage": terms.get("min_coverage"),
        "sites": sites(doc, lang),
        "incidents": incidents(doc, zone, t, lang),
        "clauses": clauses(doc, t, lang),
        "penalty": penalty(doc, t, lang),
        "after_the_fact": [m for m in maintenance if m.get("declared_after_the_fact")],
        "notes_unmatched": doc.get("notes_unmatched") or [],
        "charts": charts.report_charts(doc, zone, start, end, t, lang),
    }
