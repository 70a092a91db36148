"""The Grafana dashboards, generated from the collector config: overview, site, fleet and
SLA evidence. Contracts, sites and targets are template variables; the config gives what
differs per contract or site (objective, RTO, RPO, backup cadence, currency, the site
prerequisites, the pilot sites) as thresholds and overrides, never as copied panels."""

from __future__ import annotations

import json
from typing import Any

from grafanalib._gen import DashboardEncoder
from grafanalib.core import Dashboard, Templating, Time

from collector.config import CollectorConfig, Contract
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
    out = []
    for contract in contracts:
        pairs = steps_of(contract)
        if pairs:
            style = {"custom.thresholdsStyle": {"mode": "line"}} if line else {}
            out.append(by_name(contract.id, thresholds=threshold_value(*pairs), **style))
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


def site(config: CollectorConfig, lang: str) -> tuple[Page, list[Any]]:
    pre = config.prerequisites.site if config.prerequisites else None
    page = Page(lang)
    page.row("site.row_dui")

    def limit(value: float | None) -> tuple[tuple[str, float | None], ...]:
        return (("green", None), ("red", float(value))) if value is not None else (("green", None),)

    bucket = f'dui_http_response_seconds_bucket{{{ST}, role="dui"}}'
    page.add(
        Spec(
            "site.response",
            "timeseries",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (site, le) "
                    f"(rate({bucket}[$__rate_interval])))",
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
    page.add(
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
        )
    )
    page.add(
        Spec(
            "site.wifi_signal",
            "timeseries",
            (Query(f"dui_agent_wifi_signal_ratio{{{S}}}", "{{site}} {{agent}}"),),
            unit="percentunit",
            width=8,
            minmax=(0, 1),
            thresholds=(("red", None), ("orange", 0.4), ("green", 0.6)),
        )
    )
    pilots = sorted(sid for sid, s in config.sites.items() if s.pilot)
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


BUILDERS = {"overview": overview, "site": site, "fleet": fleet, "evidence": evidence}


def build_dashboards(config: CollectorConfig, lang: str = "fr") -> dict[str, dict[str, Any]]:
    """File name → the Grafana dashboard JSON (plain dict), same config → same JSON."""
    out = {}
    for name, builder in BUILDERS.items():
        page, variables = builder(config, lang)
        dashboard = Dashboard(
            title=text(f"{name}.title", lang),
            description=text(f"{name}.description", lang),
            uid=f"dui-{name}",
            tags=["dui"],
            timezone="browser",
            refresh="1m",
            time=Time("now-24h", "now"),
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
