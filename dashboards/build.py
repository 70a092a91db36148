"""The Grafana dashboards, generated from the collector config: overview, site, fleet and
SLA evidence. Contracts, sites and targets are template variables; the config gives what
differs per contract or site (objective, RTO, RPO, backup cadence, currency, the site
prerequisites, the pilot sites) as thresholds and overrides, never as copied panels."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, Templating, Time

from collector.config import CollectorConfig, Contract
from collector.readiness.limits import pilot_limits, pilot_sites
from collector.readiness.pilot import zone_of
from collector.sla.engine import STATES
from collector.sla.records import CONTRACT_PROBES
from dashboards.panels import (
    Page,
    Query,
    Spec,
    by_name,
    datasource_variable,
    text,
    threshold_value,
    variable,
)

C = 'contract=~"$contract"'
S = 'site=~"$site"'
ST = 'site=~"$site", target=~"$target"'


def by_role(agg: str, metric: str, dui: str = "") -> str:
    """`metric` by site and role: the DUI for the chosen targets (and `dui` matchers) plus
    the gateway and internet references, never the other roles (dns, speedtest, …)."""
    return (
        f'{agg} by (site, role) ({metric}{{{ST}, role="dui"{dui}}})'
        f' or {agg} by (site, role) ({metric}{{{S}, role=~"gateway|internet"}})'
    )


STATE_CODES = {state: i + 1 for i, state in enumerate(STATES)}
STATE_COLORS = {
    "up": "green",
    "degraded": "orange",
    "down": "red",
    "unknown": "text",
    "excluded": "blue",
}
# 1 up … 5 excluded (0: nothing evaluated yet): one number per contract a timeline can draw
STATE_NOW = (
    "max by (contract) (\n  "
    + "\n  or ".join(
        f'dui_sla_service_state{{{C}, state="{state}"}} * {code}'
        for state, code in STATE_CODES.items()
    )
    + "\n)"
)


def _state_mappings(lang: str) -> tuple[dict[str, Any], ...]:
    options = {
        str(code): {"text": text(f"state.{state}", lang), "color": STATE_COLORS[state], "index": i}
        for i, (state, code) in enumerate(STATE_CODES.items())
    }
    options["0"] = {"text": text("state.none", lang), "color": "text", "index": len(options)}
    return ({"type": "value", "options": options},)


def _contract_overrides(
    contracts: list[Contract], steps_of: Any, line: bool = False
) -> tuple[dict[str, Any], ...]:
    """One threshold override per contract whose config gives the steps (legend = its id);
    `line` draws them on a time series."""
    return _overrides({c.id: c for c in contracts}, steps_of, line)


def _overrides(
    items: dict[str, Any], steps_of: Any, line: bool = False
) -> tuple[dict[str, Any], ...]:
    """One threshold override per item (a contract, a site) whose config gives the steps,
    matched by its legend (the item's id); `line` draws them on a time series."""
    out = []
    for name, item in items.items():
        pairs = steps_of(item)
        if pairs:
            style = {"custom.thresholdsStyle": {"mode": "line"}} if line else {}
            out.append(by_name(name, thresholds=threshold_value(*pairs), **style))
    return tuple(out)


def _age_steps(warn: float | None, limit: float | None) -> tuple[tuple[str, float | None], ...]:
    if limit is None:
        return ()
    pairs: list[tuple[str, float | None]] = [("green", None)]
    if warn is not None and warn < limit:
        pairs.append(("orange", float(warn)))
    pairs.append(("red", float(limit)))
    return tuple(pairs)


def overview(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    contracts = config.contracts
    page = Page(lang)
    page.row("overview.row_now")
    page.add(
        Spec(
            "overview.state",
            "stat",
            (Query(STATE_NOW, "{{contract}}"),),
            width=6,
            height=6,
            mappings=_state_mappings(lang),
            extra={"options": {"colorMode": "background"}},
        )
    )
    page.add(
        Spec(
            "overview.availability",
            "stat",
            (
                Query(f"dui_sla_availability_ratio{{{C}}}", "{{contract}}"),
                Query(
                    f"dui_sla_objective_ratio{{{C}}}",
                    "{{contract}} — " + text("legend.objective", lang),
                ),
            ),
            unit="percentunit",
            width=6,
            height=6,
            overrides=_contract_overrides(
                contracts,
                lambda c: (("red", None), ("green", c.availability.objective)),
            ),
            extra={"fieldConfig": {"defaults": {"decimals": 3}}},
        )
    )
    page.add(
        Spec(
            "overview.budget",
            "stat",
            (Query(f"dui_sla_error_budget_remaining_ratio{{{C}}}", "{{contract}}"),),
            unit="percentunit",
            width=6,
            height=6,
            thresholds=(("red", None), ("orange", 0.0), ("green", 0.25)),
        )
    )
    page.add(
        Spec(
            "overview.coverage",
            "stat",
            (Query(f"dui_sla_coverage_ratio{{{C}}}", "{{contract}}"),),
            unit="percentunit",
            width=6,
            height=6,
            overrides=_contract_overrides(
                contracts, lambda c: (("red", None), ("green", c.availability.min_coverage))
            ),
        )
    )
    page.add(
        Spec(
            "overview.incident",
            "timeseries",
            (
                Query(f"dui_sla_incident_duration_seconds{{{C}}}", "{{contract}}"),
                Query(f"dui_sla_rto_target_seconds{{{C}}}", "{{contract}} — RTO"),
            ),
            unit="s",
            overrides=_contract_overrides(
                contracts,
                lambda c: _age_steps(c.rto / 2 if c.rto else None, c.rto),
                line=True,
            ),
        )
    )
    page.add(
        Spec(
            "overview.backup",
            "timeseries",
            (
                Query(f"time() - dui_backup_last_success_timestamp_seconds{{{C}}}", "{{contract}}"),
                Query(f"dui_sla_rpo_target_seconds{{{C}}}", "{{contract}} — RPO"),
            ),
            unit="s",
            overrides=_contract_overrides(
                contracts,
                lambda c: _age_steps(c.backups.every if c.backups else None, c.rpo),
                line=True,
            ),
        )
    )
    page.row("overview.row_history")
    page.add(
        Spec(
            "overview.timeline",
            "timeline",
            (Query(STATE_NOW, "{{contract}}"),),
            width=24,
            mappings=_state_mappings(lang),
        )
    )
    page.add(
        Spec(
            "overview.budget_history",
            "timeseries",
            (Query(f"dui_sla_error_budget_remaining_ratio{{{C}}}", "{{contract}}"),),
            unit="percentunit",
            width=24,
            thresholds=(("red", None), ("orange", 0.0), ("green", 0.25)),
        )
    )
    contract_var = variable("contract", "label_values(dui_sla_objective_ratio, contract)", lang)
    return page, [contract_var]


def response_quantile(q: float, selector: str, window: str) -> str:
    """The `q` quantile of the DUI's successful responses per site over `window`, from the
    histogram."""
    return (
        f"histogram_quantile({q:g}, sum by (site, le) "
        f'(rate(dui_http_response_seconds_bucket{{{selector}, role="dui"}}[{window}])))'
    )


def _below(limit: float | None) -> tuple[tuple[str, float | None], ...]:
    return (("green", None), ("red", float(limit))) if limit is not None else ()


def _above(least: float | None) -> tuple[tuple[str, float | None], ...]:
    return (("red", None), ("green", float(least))) if least is not None else ()


def wifi_specs() -> tuple[Spec, Spec]:
    """The share of a site's workstations on Wi-Fi and each one's signal: on the site
    dashboard and on the workstations one."""
    return (
        Spec(
            "site.wifi_share",
            "timeseries",
            (
                Query(
                    f'avg by (site) (dui_agent_info{{{S}, link="wifi"}}'
                    f" or dui_agent_info{{{S}}} * 0)",
                    "{{site}}",
                ),
            ),
            unit="percentunit",
            width=8,
            minmax=(0, 1),
        ),
        Spec(
            "site.wifi_signal",
            "timeseries",
            (Query(f"dui_agent_wifi_signal_ratio{{{S}}}", "{{site}} {{agent}}"),),
            unit="percentunit",
            width=8,
            minmax=(0, 1),
            thresholds=(("red", None), ("orange", 0.4), ("green", 0.6)),
        ),
    )


def site(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    pre = config.prerequisites.site if config.prerequisites else None
    page = Page(lang)
    page.row("site.row_dui")

    def limit(value: float | None) -> tuple[tuple[str, float | None], ...]:
        return _below(value) or (("green", None),)

    page.add(
        Spec(
            "site.response",
            "timeseries",
            tuple(
                Query(
                    response_quantile(q, ST, "$__rate_interval"),
                    f"{{{{site}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
            unit="s",
            thresholds=limit(float(pre.max_dui_p95) if pre and pre.max_dui_p95 else None),
        )
    )
    page.add(
        Spec(
            "site.phases",
            "timeseries",
            (
                Query(
                    f'avg by (site, phase) (dui_http_duration_seconds{{{ST}, role="dui"}})',
                    "{{site}} {{phase}}",
                ),
            ),
            unit="s",
            stack=True,
        )
    )
    page.row("site.row_network")
    page.add(
        Spec(
            "site.success",
            "timeseries",
            # the DUI judged on what the contract counts (collector/sla/records.py)
            (
                Query(
                    by_role("avg", "dui_probe_success", f', probe=~"{"|".join(CONTRACT_PROBES)}"'),
                    "{{site}} {{role}}",
                ),
            ),
            unit="percentunit",
            width=24,
            minmax=(0, 1),
        )
    )
    page.add(
        Spec(
            "site.rtt",
            "timeseries",
            (
                Query(
                    by_role("avg", "dui_latency_rtt_avg_seconds"),
                    "{{site}} {{role}}",
                ),
            ),
            unit="s",
            width=8,
            thresholds=limit(float(pre.max_dui_rtt) if pre and pre.max_dui_rtt else None),
        )
    )
    page.add(
        Spec(
            "site.jitter",
            "timeseries",
            (
                Query(
                    by_role("avg", "dui_latency_jitter_seconds"),
                    "{{site}} {{role}}",
                ),
            ),
            unit="s",
            width=8,
        )
    )
    page.add(
        Spec(
            "site.loss",
            "timeseries",
            (Query(by_role("max", "dui_latency_loss_ratio"), "{{site}} {{role}}"),),
            unit="percentunit",
            width=8,
            thresholds=limit(pre.max_loss if pre else None),
        )
    )
    page.row("site.row_workstations")
    page.add(
        Spec(
            "site.bandwidth",
            "timeseries",
            (
                Query(
                    f"avg by (site, direction) (dui_bandwidth_bytes_per_second{{{S}}})",
                    "{{site}} {{direction}}",
                ),
            ),
            unit="Bps",
            width=8,
        )
    )
    for spec in wifi_specs():
        page.add(spec)
    pilots = pilot_sites(config)
    return page, [
        variable("site", "label_values(dui_probe_results_total, site)", lang, pilots or None),
        variable(
            "target",
            'label_values(dui_probe_results_total{site=~"$site", role="dui"}, target)',
            lang,
        ),
    ]


def fleet(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    page = Page(lang)
    page.row("fleet.row_agents")
    page.add(
        Spec(
            "fleet.online",
            "stat",
            (
                Query(f"sum(dui_agent_up{{{S}}})", text("legend.online", lang)),
                Query(f"count(dui_agent_up{{{S}}})", text("legend.known", lang)),
            ),
            width=6,
            height=6,
        )
    )
    page.add(
        Spec(
            "fleet.versions",
            "table",
            (Query(f"count by (version, os) (dui_agent_info{{{S}}})", "", instant=True),),
            width=6,
            height=6,
        )
    )
    page.add(
        Spec(
            "fleet.last_seen",
            "table",
            (Query(f"time() - dui_agent_last_seen_timestamp_seconds{{{S}}}", "", instant=True),),
            unit="s",
            width=12,
            height=6,
            thresholds=(("green", None), ("red", float(config.agents.stale_after))),
        )
    )
    page.row("fleet.row_delivery")
    page.add(
        Spec(
            "fleet.spool",
            "timeseries",
            (Query(f"dui_agent_spool_results{{{S}}}", "{{site}} {{agent}}"),),
            width=8,
        )
    )
    page.add(
        Spec(
            "fleet.lost",
            "timeseries",
            (
                Query(
                    f"increase(dui_agent_lost_results_total{{{S}}}[1h])",
                    "{{site}} {{agent}} " + text("legend.lost", lang),
                ),
                Query(
                    f"increase(dui_agent_dropped_results_total{{{S}}}[1h])",
                    "{{site}} {{agent}} " + text("legend.dropped", lang),
                ),
            ),
            width=8,
            thresholds=(("green", None), ("red", 1.0)),
        )
    )
    page.add(
        Spec(
            "fleet.clock",
            "timeseries",
            (Query(f"dui_agent_clock_offset_seconds{{{S}}}", "{{site}} {{agent}}"),),
            unit="s",
            width=8,
        )
    )
    page.row("fleet.row_collector")
    page.add(
        Spec(
            "fleet.messages",
            "timeseries",
            (
                Query(
                    "sum by (outcome) (rate(dui_collector_messages_total[$__rate_interval]))",
                    "{{outcome}}",
                ),
            ),
            unit="short",
            width=24,
        )
    )
    return page, [variable("site", "label_values(dui_agent_up, site)", lang)]


def evidence(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    contracts = config.contracts
    page = Page(lang)
    page.row("evidence.row_time")
    page.add(
        Spec(
            "evidence.period",
            "table",
            (Query(f"dui_sla_period_seconds{{{C}}}", "", instant=True),),
            unit="s",
            width=12,
            extra={
                "transformations": [
                    {
                        "id": "organize",
                        "options": {"excludeByName": {"Time": True, "__name__": True}},
                    }
                ]
            },
        )
    )
    page.add(
        Spec(
            "evidence.downtime",
            "table",
            (Query(f"dui_sla_downtime_seconds{{{C}}}", "", instant=True),),
            unit="s",
            width=12,
        )
    )
    page.add(
        Spec(
            "evidence.counted",
            "timeseries",
            (
                Query(
                    f"sum by (contract, state) (increase(dui_sla_seconds_total{{{C}}}[1h]))",
                    "{{contract}} {{state}}",
                ),
            ),
            unit="s",
            width=24,
            stack=True,
        )
    )
    page.row("evidence.row_incidents")
    page.add(
        Spec(
            "evidence.incidents_count",
            "stat",
            (
                Query(
                    f"dui_sla_incidents{{{C}}}", "{{contract}} " + text("legend.incidents", lang)
                ),
                Query(
                    f"dui_sla_rto_breaches{{{C}}}",
                    "{{contract}} " + text("legend.rto_breaches", lang),
                ),
                Query(f"dui_sla_incident_open{{{C}}}", "{{contract}} " + text("legend.open", lang)),
            ),
            width=12,
            height=6,
        )
    )
    page.add(
        Spec(
            "evidence.penalty",
            "stat",
            (Query(f"dui_sla_penalty_amount{{{C}}}", "{{contract}}"),),
            width=12,
            height=6,
            overrides=tuple(
                by_name(c.id, unit=f"currency{c.penalties.currency}")
                for c in contracts
                if c.penalties is not None
            ),
        )
    )
    page.row("evidence.row_clauses")
    page.add(
        Spec(
            "evidence.clauses",
            "stat",
            (Query(f"dui_sla_clause_compliant{{{C}}}", "{{contract}} {{clause}}"),),
            width=12,
            thresholds=(("red", None), ("green", 1.0)),
            mappings=(
                {
                    "type": "value",
                    "options": {
                        "0": {"text": text("clause.breached", lang), "color": "red", "index": 0},
                        "1": {"text": text("clause.met", lang), "color": "green", "index": 1},
                    },
                },
            ),
            extra={"options": {"colorMode": "background"}},
        )
    )
    page.add(
        Spec(
            "evidence.restore",
            "stat",
            (
                Query(
                    f"time() - dui_restore_test_last_success_timestamp_seconds{{{C}}}",
                    "{{contract}}",
                ),
            ),
            unit="s",
            width=12,
            overrides=_contract_overrides(
                contracts,
                lambda c: _age_steps(None, c.backups.restore_test_every if c.backups else None),
            ),
        )
    )
    return page, [variable("contract", "label_values(dui_sla_objective_ratio, contract)", lang)]


P = 'site=~"$site"'  # the pilot dashboard's one site (a single-valued variable)
# the DUI as the contract judges it (collector/sla/records.py): its http and scenario probes
DUI_CHECKS = f'role="dui", probe=~"{"|".join(CONTRACT_PROBES)}"'
WEEK = "1w"


def _met_mappings(lang: str, no: str, yes: str) -> tuple[dict[str, Any], ...]:
    return (
        {
            "type": "value",
            "options": {
                "0": {"text": text(no, lang), "color": "red", "index": 0},
                "1": {"text": text(yes, lang), "color": "green", "index": 1},
            },
        },
    )


def readiness(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    """ "Parc et prérequis": per site, maintained vs obsolete OS, median age, RAM, the
    prerequisite checks and the verdict; per workstation, its inventory; Wi-Fi."""
    pre = config.prerequisites.workstation if config.prerequisites else None
    max_age = float(pre.max_age) if pre and pre.max_age else None
    min_ram = float(pre.min_ram) if pre and pre.min_ram else None
    page = Page(lang)
    page.row("readiness.row_sites")
    page.add(
        Spec(
            "readiness.ready",
            "stat",
            (Query(f"dui_site_ready{{{S}}}", "{{site}}"),),
            width=6,
            height=6,
            thresholds=(("red", None), ("green", 1.0)),
            mappings=_met_mappings(lang, "readiness.not_ready", "readiness.is_ready"),
            extra={"options": {"colorMode": "background"}},
        )
    )
    page.add(
        Spec(
            "readiness.os",
            "table",
            (
                Query(
                    f"sum by (site, os_maintained) (dui_site_workstations{{{S}}})",
                    "",
                    instant=True,
                ),
            ),
            width=6,
            height=6,
            # one row per site, a column per "true" / "false" / "unknown"
            extra={
                "transformations": [
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "rowField": "site",
                            "columnField": "os_maintained",
                            "valueField": "Value",
                        },
                    }
                ]
            },
        )
    )
    page.add(
        Spec(
            "readiness.age",
            "stat",
            (
                Query(
                    f"quantile by (org, site) (0.5, dui_workstation_age_seconds{{{S}}})",
                    "{{site}}",
                ),
            ),
            unit="s",
            width=6,
            height=6,
            thresholds=(("green", None), *_below(max_age)[1:]),
        )
    )
    page.add(
        Spec(
            "readiness.ram",
            "stat",
            (
                Query(
                    f"min by (org, site) (dui_workstation_ram_bytes{{{S}}})",
                    "{{site}} " + text("legend.min", lang),
                ),
            ),
            unit="bytes",
            width=6,
            height=6,
            thresholds=_above(min_ram) or (("green", None),),
        )
    )
    page.add(
        Spec(
            "readiness.checks",
            "table",
            (Query(f"dui_prerequisite_met{{{S}}}", "", instant=True),),
            width=24,
            thresholds=(("red", None), ("green", 1.0)),
            # a row per site, a column per check: the go-live checklist at a glance
            extra={
                "transformations": [
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "rowField": "site",
                            "columnField": "check",
                            "valueField": "Value",
                        },
                    }
                ],
                # Grafana reads a table's mappings from the field defaults
                "fieldConfig": {
                    "defaults": {
                        "custom": {"cellOptions": {"type": "color-background"}},
                        "mappings": list(
                            _met_mappings(lang, "readiness.check_failed", "readiness.check_met")
                        ),
                    }
                },
            },
        )
    )
    page.row("readiness.row_workstations")
    page.add(
        Spec(
            "readiness.workstations",
            "table",
            (
                Query(f"dui_workstation_info{{{S}}}", "", instant=True),
                Query(f"dui_workstation_age_seconds{{{S}}}", "", instant=True),
                Query(f"dui_workstation_ram_bytes{{{S}}}", "", instant=True),
            ),
            width=24,
            height=10,
            overrides=(
                by_name(
                    "Value #B",
                    unit="s",
                    thresholds=threshold_value(("green", None), *_below(max_age)[1:]),
                ),
                by_name(
                    "Value #C",
                    unit="bytes",
                    thresholds=threshold_value(*(_above(min_ram) or (("green", None),))),
                ),
            ),
            extra={
                "transformations": [
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True, "__name__": True, "Value #A": True}
                        },
                    },
                ]
            },
        )
    )
    page.row("readiness.row_network")
    for spec in wifi_specs():
        page.add(spec)
    return page, [variable("site", "label_values(dui_site_workstations, site)", lang)]


def pilot(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    """The pilot sites since go-live: the experience (p95, errors, local faults, the link)
    beside the adoption (workstations in use, minutes of use per day), on the limits the
    pilot alerts use (collector.readiness.limits)."""
    limits = pilot_limits(config)
    page = Page(lang)
    page.row("pilot.row_experience")
    page.add(
        Spec(
            "pilot.p95",
            "timeseries",
            (Query(response_quantile(0.95, P, "$__rate_interval"), "{{site}}"),),
            unit="s",
            width=8,
            overrides=_overrides(limits, lambda lim: _below(lim.max_dui_p95), line=True),
        )
    )
    checks = f"dui_probe_results_total{{{P}, {DUI_CHECKS}"
    page.add(
        Spec(
            "pilot.errors",
            "timeseries",
            (
                Query(
                    # no failure yet: the failure series does not exist, the share is 0
                    f'(sum by (site) (rate({checks}, result="failure"}}[$__rate_interval]))'
                    f" or sum by (site) (rate({checks}}}[$__rate_interval])) * 0)"
                    f" / sum by (site) (rate({checks}}}[$__rate_interval]))",
                    "{{site}}",
                ),
            ),
            unit="percentunit",
            width=8,
            minmax=(0, 1),
        )
    )
    page.add(
        Spec(
            "pilot.download",
            "timeseries",
            (
                Query(
                    f'avg by (site) (dui_bandwidth_bytes_per_second{{{P}, direction="download"}})',
                    "{{site}}",
                ),
            ),
            unit="Bps",
            width=8,
            overrides=_overrides(limits, lambda lim: _above(lim.min_download), line=True),
        )
    )
    page.add(
        Spec(
            "pilot.gateway_rtt",
            "timeseries",
            (
                Query(
                    f'avg by (site) (dui_latency_rtt_avg_seconds{{{P}, role="gateway"}})',
                    "{{site}}",
                ),
            ),
            unit="s",
            overrides=_overrides(limits, lambda lim: _below(lim.max_gateway_rtt), line=True),
        )
    )
    page.add(
        Spec(
            "pilot.gateway_loss",
            "timeseries",
            (
                Query(
                    # the mean over the site's agents, as the pilot alert
                    f'avg by (site) (dui_latency_loss_ratio{{{P}, role="gateway"}})',
                    "{{site}}",
                ),
            ),
            unit="percentunit",
            overrides=_overrides(limits, lambda lim: _below(lim.max_loss), line=True),
        )
    )
    page.row("pilot.row_adoption")
    page.add(
        Spec(
            "pilot.in_use",
            "timeseries",
            (Query(f"sum by (site) (dui_site_workstations_in_use{{{P}}})", "{{site}}"),),
            width=8,
        )
    )
    page.add(
        Spec(
            "pilot.minutes",
            "timeseries",
            (
                Query(
                    f"sum by (site) (increase(dui_site_usage_minutes_total{{{P}}}[1d]))",
                    "{{site}}",
                ),
            ),
            unit="m",
            width=8,
        )
    )
    page.add(
        Spec(
            "pilot.ready",
            "stat",
            (Query(f"dui_site_ready{{{P}}}", "{{site}}"),),
            width=8,
            thresholds=(("red", None), ("green", 1.0)),
            mappings=_met_mappings(lang, "readiness.not_ready", "readiness.is_ready"),
            extra={"options": {"colorMode": "background"}},
        )
    )
    page.row("pilot.row_weeks")
    bars = {"drawStyle": "bars", "fillOpacity": 60}
    weekly = {"interval": WEEK, "fieldConfig": {"defaults": {"custom": bars}}}
    page.add(
        Spec(
            "pilot.week_p95",
            "timeseries",
            (Query(response_quantile(0.95, P, WEEK), "{{site}}"),),
            unit="s",
            overrides=_overrides(limits, lambda lim: _below(lim.max_dui_p95), line=True),
            extra=weekly,
        )
    )
    page.add(
        Spec(
            "pilot.week_minutes",
            "timeseries",
            (
                Query(
                    f"sum by (site) (increase(dui_site_usage_minutes_total{{{P}}}[{WEEK}])) / 7",
                    "{{site}}",
                ),
            ),
            unit="m",
            extra=weekly,
        )
    )
    pilots = pilot_sites(config)
    # only the pilot sites (all sites while none is declared), one at a time
    listed = f'{{site=~"{"|".join(pilots)}"}}' if pilots else ""
    return page, [
        variable(
            "site",
            f"label_values(dui_probe_results_total{listed}, site)",
            lang,
            pilots[:1] or None,
            multi=False,
        )
    ]


def pilot_time(config: CollectorConfig, today: dt.date) -> Time:
    """From the earliest pilot go-live (local midnight in the sites' zone, as the readiness
    report's weeks) once it has passed: the whole pilot so far; else the last 7 days."""
    days = [s.go_live for s in config.sites.values() if s.pilot and s.go_live is not None]
    start = min(days, default=None)
    if start is None or start > today:
        return Time("now-7d", "now")
    midnight = dt.datetime.combine(start, dt.time(), tzinfo=zone_of(config)).astimezone(dt.UTC)
    return Time(midnight.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "now")


BUILDERS = {
    "overview": overview,
    "site": site,
    "fleet": fleet,
    "evidence": evidence,
    "readiness": readiness,
    "pilot": pilot,
}
TIMES = {"pilot": pilot_time}  # the others show the last 24 hours


def build_dashboards(
    config: CollectorConfig, lang: str = "fr", today: dt.date | None = None
) -> dict[str, dict[str, Any]]:
    """File name → the Grafana dashboard JSON (plain dict), same config and day → same JSON
    (`today`, default the local date, places the pilot dashboard's time range)."""
    today = today or dt.date.today()
    out = {}
    for name, builder in BUILDERS.items():
        page, variables = builder(config, lang)
        time_of = TIMES.get(name)
        dashboard = Dashboard(
            title=text(f"{name}.title", lang),
            description=text(f"{name}.description", lang),
            uid=f"dui-{name}",
            tags=["dui"],
            timezone="browser",
            refresh="1m",
            time=time_of(config, today) if time_of else Time("now-24h", "now"),
            graphTooltip=1,
            schemaVersion=36,
            templating=Templating(list=[datasource_variable(lang), *variables]),
            panels=page.panels,
        )
        out[f"dui-{name}.json"] = json.loads(
            json.dumps(dashboard.to_json_data(), cls=DashboardEncoder, sort_keys=True)
        )
    return out


def dump(dashboard: dict[str, Any]) -> str:
    """The file's text: sorted keys, stable across runs."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every query of a dashboard, in reading order."""
    return [
        (panel, target)
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
