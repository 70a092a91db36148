"""The readiness report (`dui-collector readiness`): the Readiness answer as a JSON document
(docs/readiness.md#the-report), the go-live sentence of each site, and the HTML page made
from that document, so every figure on the page is the JSON's, formatted by `formats`."""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from collector.readiness.evaluate import (
    THRESHOLD_UNITS,
    UNITS,
    WINDOW,
    WORKSTATION_CHECKS,
    years,
)
from collector.readiness.model import Check, PilotWeek, Readiness, SiteReadiness
from collector.render import formats
from collector.render.html import STRINGS, render

RTT_CHECKS = ("dui_rtt", "gateway_rtt")
# Workstations named in a check's note at most; the workstations table lists them all
# (a site of 2,000 PCs with 1,333 below the RAM bar made the checklist pages long).
NOTE_AGENTS = 10


def _iso(ts: float | dt.datetime | None, zone: dt.tzinfo) -> str | None:
    if ts is None:
        return None
    moment = ts if isinstance(ts, dt.datetime) else dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.astimezone(zone).isoformat()


# -- figures as people read them ------------------------------------------------------------
def figure(check_id: str, value: Any, lang: str, threshold: bool = False) -> str:
    """A check's evidence (or threshold) in its unit: `0,4 Mbit/s`, `20 ms`, `1,0 %`."""
    t = STRINGS[lang]
    if value is None:
        return t["rd_maintained"] if threshold and check_id == "os_maintained" else formats.DASH
    dec = partial(formats.decimal, lang=lang)
    if isinstance(value, dict) and "failing" in value:  # a workstation check at the site
        if not value["of"]:
            return formats.DASH
        num = partial(formats.number, lang=lang)
        one = "_one" if value["of"] == 1 else ""  # "sur 1 poste", "sur 3 postes"
        of = num(value["of"])
        text = t[f"rd_failing_of{one}"].format(failing=num(value["failing"]), of=of)
        if value.get("unknown"):
            text += ", " + t[f"rd_unknown_of{one}"].format(unknown=num(value["unknown"]), of=of)
        return text
    if check_id == "max_age":
        return t["rd_years"].format(n=dec(value, digits=1))
    if check_id == "min_ram":
        return t["rd_gb"].format(n=dec(value / 1e9, digits=1))
    if check_id == "browsers":
        return ", ".join(f"{name} ≥ {least}" for name, least in value.items())
    unit = UNITS[check_id]
    if unit == "workstations":
        key = "rd_n_workstations_one" if value == 1 else "rd_n_workstations"
        return t[key].format(n=formats.number(value, lang))
    if unit == "bytes_per_second":
        return f"{dec(value * 8 / 1e6)} Mbit/s"
    if check_id in RTT_CHECKS:
        return f"{dec(value * 1000, digits=1)} ms"
    if unit == "seconds":
        return f"{dec(value)} s"
    if unit == "ratio":
        return formats.percent(value, lang, 1)
    return formats.percent(value / 100, lang, 0)  # percent


def _failed(check: dict[str, Any], t: dict[str, str], lang: str) -> str:
    label = t[f"rd_label_{check['id']}"]
    evidence = figure(check["id"], check["evidence"], lang)
    if check["id"] in WORKSTATION_CHECKS:
        return t["rd_item_fail_ws"].format(label=label, evidence=evidence)
    threshold = figure(check["id"], check["threshold"], lang, threshold=True)
    return t["rd_item_fail"].format(label=label, evidence=evidence, threshold=threshold)


def _missing(checks: list[dict[str, Any]], t: dict[str, str], lang: str) -> list[str]:
    """What keeps the unknown checks undecided, grouped by reason."""
    items: list[str] = []
    by_reason: dict[str, list[str]] = {}
    for c in checks:
        label = t[f"rd_label_{c['id']}"]
        if c["id"] in WORKSTATION_CHECKS and c["evidence"]["of"]:
            evidence = figure(c["id"], c["evidence"], lang)
            items.append(t["rd_item_unknown_ws"].format(label=label, evidence=evidence))
            continue
        note = c["note"] if c["note"] in ("no_users", "no_agent", "link_unknown") else "no_data"
        by_reason.setdefault(note, []).append(label)
    for note in ("no_agent", "link_unknown", "no_users", "no_data"):
        if note in by_reason:
            labels = t["rd_list_sep"].join(by_reason[note])
            items.append(t[f"rd_item_{note}"].format(labels=labels))
    return items


def sentence(site: dict[str, Any], lang: str) -> str:
    """The site's verdict in one sentence, naming what fails (or what is missing)."""
    t = STRINGS[lang]
    checks = site["checks"]
    if not checks:
        return t["rd_say_none"].format(name=site["name"])
    if site["verdict"] == "pass":
        key = "rd_say_pass_one" if len(checks) == 1 else "rd_say_pass"
        return t[key].format(name=site["name"], n=len(checks))
    if site["verdict"] == "fail":
        items = [_failed(c, t, lang) for c in checks if c["verdict"] == "fail"]
    else:
        items = _missing([c for c in checks if c["verdict"] == "unknown"], t, lang)
    return t[f"rd_say_{site['verdict']}"].format(
        name=site["name"], items=t["rd_item_sep"].join(items)
    )


# -- the JSON document ----------------------------------------------------------------------
def _check(c: Check, lang: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "label": STRINGS[lang][f"rd_label_{c.id}"],
        "evidence": c.evidence,
        "threshold": c.threshold,
        "unit": UNITS.get(c.id),
        "threshold_unit": THRESHOLD_UNITS.get(c.id),
        "verdict": c.verdict,
        "detail": c.detail,
        "note": c.note,
    }


def _week(n: int, w: PilotWeek, zone: dt.tzinfo) -> dict[str, Any]:
    return {
        "week": n,
        "start": _iso(w.start, zone),
        "end": _iso(w.end, zone),
        "p95_seconds": w.p95_seconds,
        "requests": w.requests,
        "errors": w.errors,
        "error_ratio": w.error_ratio,
        "local_fault_seconds": w.local_fault_seconds,
        "workstations_in_use_peak": w.workstations_in_use_peak,
        "usage_minutes_per_day": w.usage_minutes_per_day,
        "reasons": list(w.reasons),
    }


def _site(s: SiteReadiness, as_of: float, zone: dt.tzinfo, lang: str) -> dict[str, Any]:
    today = dt.datetime.fromtimestamp(as_of, zone).date()
    doc: dict[str, Any] = {
        "org": s.org,
        "site": s.site,
        "name": s.name,
        "pilot": s.pilot,
        "go_live": s.go_live.isoformat() if s.go_live else None,
        "started": (s.go_live <= today) if s.go_live else None,
        "users": s.users,
        "verdict": s.verdict,
        "sentence": "",
        "wifi_share": s.wifi_share,
        "checks": [_check(c, lang) for c in s.checks],
        "workstations": [
            {
                "agent": w.agent,
                "verdict": w.verdict,
                "model": w.model,
                "os_name": w.os_name,
                "os_version": w.os_version,
                "os_maintained": w.os_maintained,
                "age_seconds": w.age_seconds,
                "ram_bytes": w.ram_bytes,
                "link": w.link,
                "wifi_signal_percent": w.wifi_signal_percent,
                "inventory_at": _iso(w.inventory_ts, zone),
                "checks": [
                    {
                        "id": c.id,
                        "evidence": c.evidence,
                        "threshold": c.threshold,
                        "verdict": c.verdict,
                        "detail": c.detail,
                    }
                    for c in w.checks
                ],
            }
            for w in s.workstations
        ],
        "weeks": [_week(i, w, zone) for i, w in enumerate(s.weeks, 1)],
    }
    doc["sentence"] = sentence(doc, lang)
    return doc


def readiness_document(r: Readiness, zone: ZoneInfo, lang: str = "fr") -> dict[str, Any]:
    """The report's JSON (extend, don't rename): labels and sentences in `lang`."""
    return {
        "as_of": _iso(r.as_of, zone),
        "since": _iso(r.since, zone),
        "window_seconds": WINDOW,
        "timezone": zone.key,
        "lang": lang,
        "sites": [_site(s, r.as_of, zone, lang) for s in r.sites],
    }


# -- the HTML page --------------------------------------------------------------------------
def _agents_at(site: dict[str, Any], check_id: str, verdict: str) -> list[str]:
    return [
        w["agent"]
        for w in site["workstations"]
        if any(c["id"] == check_id and c["verdict"] == verdict for c in w["checks"])
    ]


def _names(agents: list[str], t: dict[str, str], lang: str) -> str:
    """The first NOTE_AGENTS names, then how many more."""
    shown = ", ".join(agents[:NOTE_AGENTS])
    if len(agents) <= NOTE_AGENTS:
        return shown
    return t["rd_note_more"].format(agents=shown, n=formats.number(len(agents) - NOTE_AGENTS, lang))


def _note(check: dict[str, Any], site: dict[str, Any], t: dict[str, str], lang: str) -> str:
    """Whose results, or why unknown; the workstations outside the bar by name."""
    if check["id"] in WORKSTATION_CHECKS and check["note"] != "no_agent":
        parts = []
        for verdict, key in (("fail", "rd_note_failing"), ("unknown", "rd_note_unknown")):
            agents = _agents_at(site, check["id"], verdict)
            if agents:
                parts.append(t[key].format(agents=_names(agents, t, lang)))
        return " · ".join(parts)
    return t[f"rd_note_{check['note']}"] if check["note"] else ""


def _week_view(w: dict[str, Any], zone: dt.tzinfo, t: dict[str, str], lang: str) -> dict:
    start = dt.datetime.fromisoformat(w["start"]).astimezone(zone)
    last = (dt.datetime.fromisoformat(w["end"]) - dt.timedelta(microseconds=1)).astimezone(zone)
    num = partial(formats.number, lang=lang)
    return {
        "week": t["rd_week_n"].format(
            n=w["week"], start=formats.day(start.date(), lang), end=formats.day(last.date(), lang)
        ),
        "p95": figure("dui_p95", w["p95_seconds"], lang),
        "requests": num(w["requests"]),
        "errors": num(w["errors"]),
        "error_ratio": formats.percent(w["error_ratio"], lang, 1),
        "local_fault": formats.duration(w["local_fault_seconds"], lang),
        "in_use_peak": num(w["workstations_in_use_peak"]),
        "minutes_per_day": num(w["usage_minutes_per_day"], digits=0),
    }


def _os(w: dict[str, Any]) -> str:
    """The table's name for a decided OS (it holds the version), else name and version."""
    if w["os_maintained"] is not None:
        return w["os_name"] or formats.DASH
    return " ".join(x for x in (w["os_name"], w["os_version"]) if x) or formats.DASH


def _link(link: str | None) -> str:
    return link if link in ("wired", "wifi") else "unknown"


def view(doc: dict[str, Any], lang: str) -> dict[str, Any]:
    """Every text of the page, formatted from the document."""
    t = STRINGS[lang]
    zone = ZoneInfo(doc["timezone"])
    as_of = dt.datetime.fromisoformat(doc["as_of"])
    sites = []
    for i, s in enumerate(doc["sites"]):
        reasons = sorted({r for w in s["weeks"] for r in w["reasons"]})
        sites.append(
            {
                "anchor": f"site-{i}",
                "doc": s,
                "verdict_label": t[f"rd_{s['verdict']}"],
                "users": t["rd_users"].format(n=formats.number(s["users"], lang))
                if s["users"] is not None
                else t["rd_users_none"],
                "wifi_share": formats.percent(s["wifi_share"], lang, 0),
                "checks": [
                    {
                        "id": c["id"],
                        "label": t[f"rd_label_{c['id']}"],
                        "evidence": figure(c["id"], c["evidence"], lang),
                        "threshold": figure(c["id"], c["threshold"], lang, threshold=True),
                        "verdict": c["verdict"],
                        "verdict_label": t[f"rd_check_{c['verdict']}"],
                        "note": _note(c, s, t, lang),
                    }
                    for c in s["checks"]
                ],
                "workstations": [
                    {
                        "agent": w["agent"],
                        "model": formats.printable(w["model"]) or formats.DASH,
                        "os": formats.printable(_os(w)),
                        "os_state": t[
                            {True: "rd_os_yes", False: "rd_os_no", None: "rd_os_unknown"}[
                                w["os_maintained"]
                            ]
                        ],
                        "age": t["rd_years"].format(
                            n=formats.decimal(years(w["age_seconds"]), lang, 1)
                        )
                        if w["age_seconds"] is not None
                        else formats.DASH,
                        "ram": figure("min_ram", w["ram_bytes"], lang),
                        "link": t[f"rd_link_{_link(w['link'])}"],
                        "signal": formats.percent(
                            None
                            if w["wifi_signal_percent"] is None
                            else w["wifi_signal_percent"] / 100,
                            lang,
                            0,
                        ),
                        "verdict": w["verdict"],
                        "verdict_label": t[f"rd_{w['verdict']}"],
                    }
                    for w in s["workstations"]
                ],
                "go_live": formats.day(s["go_live"], lang) if s["go_live"] else None,
                "weeks": [_week_view(w, zone, t, lang) for w in s["weeks"]],
                "reasons": [t[f"rd_reason_{r}"] for r in reasons],
            }
        )
    return {
        "as_of": t["rd_as_of"].format(when=formats.moment(as_of, zone, lang)),
        "zone": t["rd_zone"].format(zone=formats.zone_name(zone, as_of, lang)),
        "sites": sites,
    }


def readiness_html(doc: dict[str, Any], lang: str = "fr") -> str:
    """The go-live checklist page: self-contained, printable on A4."""
    return render("readiness.html", lang, r=doc, v=view(doc, lang))
