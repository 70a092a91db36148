"""The status page `/` for a person without Grafana: sites and agents, fr/en."""

from __future__ import annotations

import datetime as dt

from collector.config import CollectorConfig
from collector.render.html import render
from collector.state import State


def _when(ts: float) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def status_page(state: State, config: CollectorConfig, lang: str, now: float) -> str:
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
                "site": site,
                "agent": agent,
                "up": up,
                "last_seen": _when(view.last_seen),
                "version": view.version or "—",
                "spool": view.spool_results if view.spool_results is not None else "—",
                "targets": sorted(targets.values(), key=lambda t: t["name"]),
            }
        )
        name = config.sites[site].name if site in config.sites and config.sites[site].name else site
        s = sites.setdefault(
            site, {"name": name, "up": 0, "total": 0, "ok": 0, "failing": 0, "last_ts": 0.0}
        )
        s["total"] += 1
        s["up"] += up
        s["last_ts"] = max(s["last_ts"], last)
        for t in targets.values():
            if t["role"] == "dui":
                s["ok" if t["success"] else "failing"] += 1
    for s in sites.values():
        s["last"] = _when(s["last_ts"])
    return render(
        "status.html",
        lang,
        other="en" if lang == "fr" else "fr",
        now=_when(now),
        agents=agents,
        sites=sorted(sites.values(), key=lambda s: s["name"]),
    )
