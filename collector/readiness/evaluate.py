"""Site readiness from what the ledger holds: each agent's newest inventory, and one pass over
the last 7 days of latency, HTTP and bandwidth results; the pilot sites' weeks since go-live.
The decisions are the pure functions of this module and workstation.py (docs/readiness.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector.config import CollectorConfig, Prerequisites, SiteConfig, SitePrerequisites
from collector.ledger import Ledger
from collector.readiness.limits import SiteLimits, site_limits
from collector.readiness.model import (
    Check,
    Readiness,
    SiteReadiness,
    Verdict,
    WorkstationReadiness,
    combine,
    wifi_links,
)
from collector.readiness.pilot import with_weeks
from collector.readiness.workstation import YEAR_DAYS, Inventory, check_workstation
from collector.sla.sites import number, p95

WINDOW = 7 * 86400  # site checks read the last 7 days before `now`
WORKSTATION_CHECKS = ("max_age", "min_ram", "os_maintained", "browsers")
# How each check's evidence and threshold are measured (the JSON's `unit`).
UNITS = {
    "workstations": "workstations",
    **{check: "workstations" for check in WORKSTATION_CHECKS},  # {"failing", "of", "unknown"}
    "download_per_user": "bytes_per_second",
    "dui_rtt": "seconds",
    "dui_loss": "ratio",
    "gateway_rtt": "seconds",
    "gateway_loss": "ratio",
    "wifi_loss": "ratio",
    "wifi_signal": "percent",
    "dui_p95": "seconds",
}
CHECK_IDS = tuple(UNITS)
# How each check's threshold reads (the JSON's `threshold_unit`): a workstation check's
# evidence counts workstations, its threshold is the workstation prerequisite.
THRESHOLD_UNITS: dict[str, str | None] = {
    **UNITS,
    "max_age": "years",
    "min_ram": "bytes",
    "os_maintained": None,  # each OS has its own end of support
    "browsers": "major_versions",  # {browser: least major version}
}
SiteKey = tuple[str, str]  # org, site
_NO_PREREQ = Prerequisites()
NO_USERS = "users not declared for the site"

_decode = msgspec.json.Decoder(dict).decode


@dataclass
class Runs:
    """One agent's latency runs to one role in the window: their mean RTTs, and the probes
    sent and lost over all of them."""

    # 8 bytes a run in an array, not 32 in a list of floats: a week of 40 agents' runs held
    # 178 MB at the round's peak (bench/readiness_bench.py)
    rtts: array[float] = field(default_factory=lambda: array("d"))
    sent: float = 0.0
    lost: float = 0.0

    def add(self, rtt: object, sent: object, received: object, loss_ratio: object) -> None:
        value = number(rtt)
        if value is not None:
            self.rtts.append(value)
        n, got = number(sent), number(received)
        if n is None or got is None:  # no counts: the ratio alone, as one probe
            loss = number(loss_ratio)
            n, got = (0.0, 0.0) if loss is None else (1.0, 1.0 - loss)
        self.sent += n
        self.lost += n - got


@dataclass
class Window:
    """What one site measured in the window, per agent where the checks need it."""

    latency: dict[str, dict[str, Runs]] = field(default_factory=dict)  # role → agent → runs
    http: dict[str, array[float]] = field(default_factory=dict)  # agent → durations ok, dui
    download: list[float] = field(default_factory=list)  # bytes/s of the bandwidth runs


def read_window(ledger: Ledger, since: float, until: float) -> dict[SiteKey, Window]:
    """One pass over the window's latency, HTTP and bandwidth results."""
    out: dict[SiteKey, Window] = {}
    for org, site, agent, probe, role, ok, duration, value, sent, got, loss in ledger.probe_figures(
        since, until
    ):
        window = out.get((org, site)) or out.setdefault((org, site), Window())
        if probe == "latency":
            by_agent = window.latency.get(role) or window.latency.setdefault(role, {})
            runs = by_agent.get(agent) or by_agent.setdefault(agent, Runs())
            runs.add(value, sent, got, loss)
        elif probe == "http":
            if role == "dui" and ok and duration is not None:
                durations = window.http.get(agent)
                if durations is None:
                    durations = window.http[agent] = array("d")
                durations.append(duration)
        elif ok and (rate := number(value)) is not None:
            window.download.append(rate)
    return out


def read_workstations(
    ledger: Ledger, config: CollectorConfig, now: float
) -> dict[SiteKey, list[WorkstationReadiness]]:
    """Agents whose newest inventory is within the raw retention, with their checks; the
    link and Wi-Fi signal from their newest context when it is newer."""
    since = now - float(config.ledger.raw_retention)
    prereq = (config.prerequisites or _NO_PREREQ).workstation
    contexts = {(o, s, a): (ts, body) for o, s, a, ts, body in ledger.latest("context", since)}
    on = dt.datetime.fromtimestamp(now, dt.UTC).date()
    out: dict[SiteKey, list[WorkstationReadiness]] = {}
    for org, site, agent, ts, body in sorted(ledger.latest("inventory", since)):
        inv = Inventory.from_body(agent, site, body, org=org, ts=ts)
        context = contexts.get((org, site, agent))
        if context is not None and context[0] > ts:
            doc = _decode(context[1])
            if doc.get("link") is not None:
                signal = doc.get("wifi_signal_percent")
                signal = signal if isinstance(signal, int) else None
                inv = dataclasses.replace(inv, link=doc["link"], wifi_signal_percent=signal)
        out.setdefault((org, site), []).append(check_workstation(inv, prereq, on))
    return out


def median(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def workstation_check(check_id: str, threshold: Any, stations: list[WorkstationReadiness]) -> Check:
    """A workstation prerequisite at the site: pass when every workstation passes it."""
    found = [(w.agent, c) for w in stations for c in w.checks if c.id == check_id]
    failing = sorted(a for a, c in found if c.verdict == "fail")
    unknown = sorted(a for a, c in found if c.verdict == "unknown")
    evidence = {"failing": len(failing), "of": len(found), "unknown": len(unknown)}
    parts = [f"failing: {', '.join(failing)}"] if failing else []
    parts += [f"unknown: {', '.join(unknown)}"] if unknown else []
    verdict: Verdict = (
        "fail" if failing else "unknown" if unknown or not found else "pass"  # none: unknown
    )
    detail = "; ".join(parts) or ("no workstation inventory" if not found else "")
    return Check(check_id, evidence, threshold, verdict, detail, "" if found else "no_agent")


def count_check(stations: int, users: int | None, per_user: float) -> Check:
    """Workstations running dui-agent against ceil(users × per_user)."""
    if users is None:
        return Check("workstations", stations, None, "unknown", NO_USERS, "no_users")
    # 1/3 × 30 = 10 and 0.5 × 20 = 10 exactly, never 11 by a float's last bit
    needed = math.ceil(round(users * per_user, 9))
    if stations == 0:  # agents not deployed yet says nothing of the PCs there
        detail = "no workstation runs dui-agent"
        return Check("workstations", 0, needed, "unknown", detail, "no_agent")
    verdict: Verdict = "pass" if stations >= needed else "fail"
    return Check(
        "workstations", stations, needed, verdict, f"{users} users × {per_user:g} per user"
    )


def _measured(value: float | None, threshold: float, at_most: bool) -> Verdict:
    if value is None:
        return "unknown"
    return "pass" if (value <= threshold if at_most else value >= threshold) else "fail"


def download_check(rates: list[float], users: int | None, minimum: float) -> Check:
    if not rates:
        detail = "no bandwidth result"
        return Check("download_per_user", None, minimum, "unknown", detail, "no_data")
    rate = statistics.median(rates)
    if not users:
        return Check("download_per_user", None, minimum, "unknown", NO_USERS, "no_users")
    per_user = rate / users
    detail = f"median of {len(rates)} runs {rate:.0f} B/s over {users} users"
    return Check(
        "download_per_user", per_user, minimum, _measured(per_user, minimum, False), detail
    )


def _source(runs: dict[str, Runs], wired: set[str]) -> tuple[list[Runs], str, str]:
    """The wired workstations' runs when the site has some, else every run (a Wi-Fi fault
    then shows here too, and the detail and note say so)."""
    from_wired = [r for agent, r in runs.items() if agent in wired]
    if from_wired:
        return from_wired, f"runs of {len(from_wired)} wired workstations", "wired"
    why = "no wired workstation measured" if wired else "no wired workstation"
    return list(runs.values()), f"runs of every workstation ({why})", "all"


def rtt_check(check_id: str, runs: dict[str, Runs], wired: set[str], limit: float) -> Check:
    """Median of the runs' mean RTTs."""
    chosen, detail, note = _source(runs, wired)
    value = median(rtt for r in chosen for rtt in r.rtts)
    if value is None:
        return Check(check_id, None, limit, "unknown", "no latency run with an RTT", "no_data")
    return Check(check_id, value, limit, _measured(value, limit, True), detail, note)


def loss_ratio(runs: Iterable[Runs]) -> float | None:
    """Lost / sent over every run: a long run weighs what it sent."""
    runs = list(runs)
    sent = sum(r.sent for r in runs)
    return sum(r.lost for r in runs) / sent if sent else None


def loss_check(check_id: str, runs: list[Runs], limit: float, detail: str, note: str = "") -> Check:
    value = loss_ratio(runs)
    if value is None:
        return Check(check_id, None, limit, "unknown", "no latency run", "no_data")
    return Check(check_id, value, limit, _measured(value, limit, True), detail, note)


def _wifi_share_text(stations: list[WorkstationReadiness]) -> str:
    wifi, known = wifi_links(stations)
    return f"{wifi} of {known} workstations on Wi-Fi"


def _no_wifi(
    check_id: str, limit: Any, stations: list[WorkstationReadiness], links_known: bool
) -> Check:
    """A Wi-Fi check of a site without Wi-Fi workstations: pass when every link is known
    (nothing Wi-Fi can spoil), unknown when some link is not reported."""
    verdict: Verdict = "pass" if links_known else "unknown"
    why = "no workstation on Wi-Fi" if links_known else "link not reported"
    note = "no_wifi" if links_known else "link_unknown" if stations else "no_agent"
    return Check(check_id, None, limit, verdict, f"{why} ({_wifi_share_text(stations)})", note)


def wifi_checks(
    stations: list[WorkstationReadiness],
    gateway_runs: dict[str, Runs],
    max_loss: float | None,
    min_signal: int | None,
) -> list[Check]:
    """Loss to the gateway from the Wi-Fi workstations, and their median signal. With every
    link known and none on Wi-Fi there is nothing Wi-Fi can spoil: pass, said in the detail."""
    wifi = {w.agent for w in stations if w.link == "wifi"}
    links_known = bool(stations) and all(w.link in ("wired", "wifi") for w in stations)
    share = _wifi_share_text(stations)
    checks = []
    if max_loss is not None:
        runs = [r for agent, r in gateway_runs.items() if agent in wifi]
        if not wifi:
            checks.append(_no_wifi("wifi_loss", max_loss, stations, links_known))
        else:
            detail = f"gateway runs of {len(runs)} Wi-Fi workstations ({share})"
            checks.append(loss_check("wifi_loss", runs, max_loss, detail, "wifi"))
    if min_signal is not None:
        signals = [w.wifi_signal_percent for w in stations if w.agent in wifi]
        value = median(s for s in signals if s is not None)
        if not wifi:
            checks.append(_no_wifi("wifi_signal", min_signal, stations, links_known))
        elif value is None:
            detail = f"no Wi-Fi signal reported ({share})"
            checks.append(Check("wifi_signal", None, min_signal, "unknown", detail, "no_data"))
        else:
            verdict = _measured(value, min_signal, False)
            checks.append(Check("wifi_signal", value, min_signal, verdict, share))
    return checks


def p95_check(durations: Mapping[str, Sequence[float]], wired: set[str], limit: float) -> Check:
    """Nearest-rank p95 of the DUI's successful HTTP response times pooled over the
    wired workstations when they measured some, else over every workstation (as for RTT)."""
    from_wired = [d for a, ds in durations.items() if a in wired for d in ds]
    values = from_wired or [d for ds in durations.values() for d in ds]
    value = p95(values)
    if value is None:
        return Check(
            "dui_p95", None, limit, "unknown", "no successful HTTP result to the DUI", "no_data"
        )
    who = "wired workstations" if from_wired else "every workstation"
    verdict = _measured(value, limit, True)
    detail = f"{len(values)} results, {who}"
    return Check("dui_p95", value, limit, verdict, detail, "wired" if from_wired else "all")


def site_checks(
    site: SiteConfig | None,
    prereq: SitePrerequisites,
    limits: SiteLimits,
    stations: list[WorkstationReadiness],
    window: Window,
    configured: Mapping[str, Any],
) -> list[Check]:
    """The configured checks of one site, in CHECK_IDS order. Pure. The numeric limits
    are `limits`, read like the pilot dashboard's lines and the pilot alerts' (evaluate()
    drops max_dui_p95 without `prerequisites:`, where those still draw and use the
    contracts' slow_threshold); the statistics compared to them differ
    (docs/readiness.md)."""
    users = site.users if site else None
    wired = {w.agent for w in stations if w.link == "wired"}
    per_user = (site.min_workstations_per_user if site else None) or (
        prereq.min_workstations_per_user
    )
    checks: list[Check] = []
    if per_user is not None:
        checks.append(count_check(len(stations), users, per_user))
    checks += [workstation_check(c, limit, stations) for c, limit in configured.items()]
    if limits.min_download_per_user is not None:
        checks.append(download_check(window.download, users, limits.min_download_per_user))
    dui = window.latency.get("dui", {})
    gateway = window.latency.get("gateway", {})
    if limits.max_dui_rtt is not None:
        checks.append(rtt_check("dui_rtt", dui, wired, limits.max_dui_rtt))
    if limits.max_loss is not None:
        runs, detail, note = _source(dui, wired)
        checks.append(loss_check("dui_loss", runs, limits.max_loss, detail, note))
    if limits.max_gateway_rtt is not None:
        checks.append(rtt_check("gateway_rtt", gateway, wired, limits.max_gateway_rtt))
    if limits.max_loss is not None:
        runs, detail, note = _source(gateway, wired)
        checks.append(loss_check("gateway_loss", runs, limits.max_loss, detail, note))
    checks += wifi_checks(stations, gateway, limits.max_loss, prereq.min_wifi_signal)
    # max_dui_p95, else the strictest contract's slow_threshold, as the pilot alerts
    if limits.max_dui_p95 is not None:
        checks.append(p95_check(window.http, wired, limits.max_dui_p95))
    return checks


def configured_workstation_checks(config: CollectorConfig) -> dict[str, Any]:
    """The configured workstation checks and their threshold at the site, as the
    workstations' checks give it (`os_maintained`: each OS has its own end, so none)."""
    w = (config.prerequisites or _NO_PREREQ).workstation
    wanted = {
        "max_age": (w.max_age is not None, years(w.max_age)),
        "min_ram": (w.min_ram is not None, None if w.min_ram is None else int(w.min_ram)),
        "os_maintained": (w.os_maintained, None),
        "browsers": (bool(w.browsers), w.browsers),
    }
    return {c: limit for c, (on, limit) in wanted.items() if on}


def evaluate(
    config: CollectorConfig,
    ledger: Ledger,
    now: float,
    *,
    site: str | None = None,
    pilot: bool = True,
) -> Readiness:
    """Every site's readiness as of `now` (config `sites:` and any site in the ledger);
    `site` keeps that one; `pilot=False` skips the weekly follow-up (the metrics round)."""
    since = now - WINDOW
    stations = read_workstations(ledger, config, now)
    windows = read_window(ledger, since, now)
    prereq = (config.prerequisites or _NO_PREREQ).site
    configured = configured_workstation_checks(config)
    keys = set(stations) | set(windows)
    seen_sites = {s for _, s in keys}
    keys |= {("", s) for s in config.sites if s not in seen_sites}
    out = []
    for org, site_id in sorted(keys, key=lambda k: (k[1], k[0])):
        if site is not None and site_id != site:
            continue
        conf = config.sites.get(site_id)
        here = stations.get((org, site_id), [])
        limits = site_limits(config, site_id)
        if config.prerequisites is None:
            # No `prerequisites:` at all: the contracts' slow_threshold alone (the pilot
            # alerts' fallback) would make a site "ready" on its DUI response time, with
            # nothing of the go-live checklist checked (the trial's config did).
            limits = dataclasses.replace(limits, max_dui_p95=None)
        checks = site_checks(
            conf,
            prereq,
            limits,
            here,
            windows.get((org, site_id), Window()),
            configured,
        )
        out.append(
            SiteReadiness(
                org=org,
                site=site_id,
                name=(conf.name if conf else None) or site_id,
                pilot=bool(conf and conf.pilot),
                go_live=conf.go_live if conf else None,
                users=conf.users if conf else None,
                workstations=here,
                checks=checks,
                verdict=combine(c.verdict for c in checks) if checks else "unknown",
            )
        )
    if pilot:
        out = with_weeks(out, config, ledger, now)
    return Readiness(as_of=now, since=since, sites=out)


def years(seconds: float | None) -> float | None:
    """An age in years as the config's `y` counts them (2 decimals, as the checks give it)."""
    return None if seconds is None else round(seconds / 86400 / YEAR_DAYS, 2)
