"""The status page `/` for a person without Grafana: sites and agents, fr/en."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from collector.config import CollectorConfig
from collector.render.html import render
from collector.state import State


def _zone(config: CollectorConfig) -> ZoneInfo:
    """The zone the page speaks in: the first contract's, as its report does; else UTC."""
    name = config.contracts[0].service_hours.timezone if config.contracts else "UTC"
    return ZoneInfo(name)


def _when(ts: float, zone: ZoneInfo) -> str:
    """A time with its zone named, as the report gives it: `2026-11-23 18:55:00 Europe/Paris`."""
    if not ts:
        return "—"
    return f"{dt.datetime.fromtimestamp(ts, zone):%Y-%m-%d %H:%M:%S} {zone.key}"


def status_page(state: State, config: CollectorConfig, lang: str, now: float) -> str:
    zone = _zone(config)
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
                "last_seen": _when(view.last_seen, zone),
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
        s["last"] = _when(s["last_ts"], zone)
    return render(
        "status.html",
        lang,
        other="en" if lang == "fr" else "fr",
        now=_when(now, zone),
        agents=agents,
        sites=sorted(sites.values(), key=lambda s: s["name"]),
    )
