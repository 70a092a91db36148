"""The status page `/` for a person without Grafana: per contract the state now, the
open incident against the RTO, availability against the objective, the error budget,
backup age against the RPO, the last incidents with their notes and each site's figures;
then sites and agents. fr/en. It reads the live evaluation the SLA rounds hold in the
state (never evaluates a month per request)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from collector.config import CollectorConfig, Contract
from collector.periods import contract_zone, site_names
from collector.render.document import live_document
from collector.render.formats import zone_name
from collector.render.html import render
from collector.sla.now import LiveReport
from collector.state import State

REFRESH_SECONDS = 60
RECENT_INCIDENTS = 5


def _at(ts: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC) if ts else None


def _incident(i: dict[str, Any], names: dict[str, str], open_start: str | None) -> dict:
    return {
        "open": i["start"] == open_start,
        "start": i["start"],
        "end": None if i["start"] == open_start else i["end"],
        "duration": i["duration_seconds"],
        "sites": [names.get(s, s) for s in i["sites"]],
        "attribution": i.get("attribution", "vendor"),
        "rto_breach": i["rto_breach"],
        "rto_left": None,
        "notes": i.get("notes") or [],
    }


def _backup(doc: dict[str, Any], rpo: float | None, now: float) -> dict | None:
    """The last good backup's age now against the RPO: from its restore point (the data
    a restore would bring back) when the evaluation gives it, else from its completion.
    None when the contract speaks of neither."""
    done = doc["backups"]["last_success"]
    if rpo is None and done is None:
        return None
    age, point = doc.get("backup_age_seconds"), None
    if age is not None:
        point = _at(doc["evaluated_at"] - age)
    elif done is not None:
        point = dt.datetime.fromisoformat(done)
    age = None if point is None else now - point.timestamp()
    return {
        "last": point,
        "restore_point": doc.get("backup_age_seconds") is not None,
        "age": age,
        "rpo": rpo,
        "late": rpo is not None and age is not None and age > rpo,
    }


def _contract(
    contract: Contract, live: LiveReport | None, names: dict[str, str], now: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": contract.id, "vendor": contract.vendor, "evaluated": False}
    if live is None:  # the first SLA round has not run yet
        return out | {"state": "unknown", "maintenance_active": False}
    doc = live_document(live)
    terms = doc.get("terms") or {}
    rto = terms.get("rto_seconds", doc["rto_seconds"])
    rpo = terms.get("rpo_seconds", doc["rpo_seconds"])
    objective = live.period.objective
    opened = doc["open_incident"]
    budget = float(1 - objective) * live.period.service_minutes * 60
    incidents = [_incident(i, names, opened and opened["start"]) for i in doc["incidents"]]
    now_open = None
    if opened is not None:
        age = opened["duration_seconds"]
        # on the wall clock the RTO is spent when the age reaches it; on the service-hours
        # clock only the engine knows (its verdict, at the last evaluated minute)
        left = rto - age if rto is not None and contract.rto_clock == "wall" else None
        now_open = {
            **_incident(opened, names, opened["start"]),
            "duration": age,
            "rto_left": left,
            "rto_breach": opened["rto_breach"] or (left is not None and left <= 0),
        }
        incidents = [now_open if i["end"] is None else i for i in incidents]
    out.update(
        evaluated=True,
        state=doc["state"],
        maintenance_active=doc["maintenance_active"],
        evaluated_at=_at(doc["evaluated_at"]),
        month=doc["period"]["from"],
        complete=doc["complete"],
        availability=doc["availability"],
        objective=float(terms.get("objective", doc["objective"])),
        met=doc["availability"] is not None and doc["availability"] >= float(objective),
        insufficient=doc["verdict_reason"] is not None,
        verdict_reason=doc["verdict_reason"],
        coverage=doc["coverage"],
        budget_ratio=doc["error_budget_remaining_ratio"],
        budget_left=doc["error_budget_remaining_ratio"] * budget,
        backup=_backup(doc, rpo, now),
        rto=rto,
        open=now_open,
        incidents=incidents[-RECENT_INCIDENTS:][::-1],
        incidents_total=len(incidents),
        sites=[
            {
                "name": s.get("name") or names.get(site, site),
                "state": s["state"],
                "p95": s["p95_seconds"],
                "loss": s["loss_ratio"],
            }
            for site, s in sorted(doc["sites"].items())
        ],
    )
    return out


def status_page(state: State, config: CollectorConfig, lang: str, now: float) -> str:
    zone = contract_zone(config, "UTC")  # the first contract's, as its report
    names = site_names(config)
    agents, sites = [], {}
    for (_org, site, agent), view in sorted(state.agents.items()):
        up = state.up(view, now)
        targets = {}
        last = 0.0
        for (target, role, _probe), (ts, result) in view.last.items():
            last = max(last, ts)
            if role == "workstation":
                continue
            entry = targets.setdefault(target, {"name": target, "success": True, "role": role})
            entry["success"] = entry["success"] and result.success
        agents.append(
            {
                "site": names.get(site, site),
                "agent": agent,
                "up": up,
                "last_seen": _at(view.last_seen),
                "version": view.version or "—",
                "spool": view.spool_results if view.spool_results is not None else "—",
                "targets": sorted(targets.values(), key=lambda t: t["name"]),
            }
        )
        s = sites.setdefault(
            site,
            {"name": names.get(site, site), "up": 0, "total": 0, "ok": 0, "failing": 0,
             "last_ts": 0.0},
        )  # fmt: skip
        s["total"] += 1
        s["up"] += up
        s["last_ts"] = max(s["last_ts"], last)
        for t in targets.values():
            if t["role"] == "dui":
                s["ok" if t["success"] else "failing"] += 1
    for s in sites.values():
        s["last"] = _at(s["last_ts"])
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    return render(
        "status.html",
        lang,
        other="en" if lang == "fr" else "fr",
        refresh=REFRESH_SECONDS,
        zone=zone,
        zone_name=zone_name(zone, at, lang),
        now=at,
        contracts=[_contract(c, state.sla.get(c.id), names, now) for c in config.contracts],
        agents=agents,
        sites=sorted(sites.values(), key=lambda s: s["name"]),
    )
