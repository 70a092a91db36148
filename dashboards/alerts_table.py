"""The alert and recording rules as data, built from the collector config.

One `Rule` per Prometheus rule; `dashboards/rules.py` renders them as YAML and
`dashboards/alerts_docs.py` as docs/alerts.md, so both say the same thing.
Thresholds are literal numbers from the config: a rule whose threshold is not
configured is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.config import CollectorConfig, Contract
from collector.readiness.limits import SiteLimits, pilot_limits
from collector.sla.calendar import ServiceCalendar

PERIOD_DAYS = 30  # a month, for the burn-rate arithmetic
PERIOD_HOURS = PERIOD_DAYS * 24  # counted hours of a contract served round the clock
SLI_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
_HOURS = {"5m": 5 / 60, "30m": 0.5, "1h": 1, "2h": 2, "6h": 6, "1d": 24, "3d": 72}


@dataclass(frozen=True)
class BurnTier:
    """Multi-window burn-rate tier: `budget` of the period's budget spent in `long`."""

    alert: str
    severity: str
    budget: float
    long: str
    short: str

    @property
    def factor(self) -> float:
        """Burn factor for a contract counted round the clock."""
        return self.factor_for(PERIOD_HOURS)

    def factor_for(self, counted_hours: float) -> float:
        """Burn factor when the period counts `counted_hours`: the error ratio over `long`
        that spends `budget` of the period's budget in `long`."""
        return round(self.budget * counted_hours / _HOURS[self.long], 6)

    @property
    def exhaust_hours(self) -> float:
        """Counted hours (service hours) in which the whole budget goes at this burn."""
        return _HOURS[self.long] / self.budget


def period_hours(contract: Contract) -> float:
    """Service hours in a 30-day period: hours a week × 30/7, from the same weekly spans the
    SLA calendar counts (holidays ignored: they only make the budget slightly smaller)."""
    minutes = ServiceCalendar.of(contract.service_hours).minutes_per_week()
    return round(minutes / 60 * PERIOD_DAYS / 7, 6)


BURN_TIERS = (
    BurnTier("DuiSlaErrorBudgetBurnFast", "page", 0.02, "1h", "5m"),
    BurnTier("DuiSlaErrorBudgetBurnFast", "page", 0.05, "6h", "30m"),
    BurnTier("DuiSlaErrorBudgetBurnSlow", "ticket", 0.10, "1d", "2h"),
    BurnTier("DuiSlaErrorBudgetBurnSlow", "ticket", 0.10, "3d", "6h"),
)
# the counter is flat over SLI_ABSENT_WINDOW, then `for:` SLI_ABSENT_FOR: fires that long
# after it stops, itself ledger.finalize_after (5 min) behind the measurements
SLI_ABSENT_WINDOW = "15m"
SLI_ABSENT_FOR = "5m"
SLI_ABSENT_AFTER = "20m"
AGENT_SILENT_FOR = "15m"
SITE_SILENT_FOR = "15m"
BROKER_DOWN_FOR = "5m"
CLOCK_OFFSET_MAX = 60.0  # seconds: beyond it the minute a result lands in is doubtful
TLS_EXPIRY_DAYS = 14
PILOT_WINDOW = "15m"
# the vendor posts a backup's evidence some time after it ran: a daily backup must not
# raise a daily alert for the minutes in between
EVIDENCE_GRACE = "1h"


@dataclass(frozen=True)
class Rule:
    """One Prometheus rule: `record` or `alert` (`key` names its texts in alert_strings.json)."""

    group: str
    expr: str
    record: str | None = None
    alert: str | None = None
    severity: str = ""
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    key: str = ""
    params: dict[str, str] = field(default_factory=dict)


def num(value: float) -> str:
    """A threshold as PromQL literal: short and exact enough (0.072, 14400, 1e-05)."""
    text = f"{value:.10g}"
    return text


def duration(seconds: float) -> str:
    """Seconds as the shortest whole PromQL-style duration (86400 → 1d, 5400 → 90m)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{num(seconds)}s"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.6g} %"


# The SLI's (bad, counted) states, the same for every contract: `unknown` and `excluded`
# never. A minute counted `unknown` stays so in the counter even when late results (broker
# or collector outage, agents replaying their spool) later make it `up`, so counting it bad
# would page the vendor's budget for our own outage; the monthly report applies the
# contract's `availability.unknown` policy, and DuiSlaSliAbsent/DuiSiteSilent watch for
# missing measurements.
SLI_BAD, SLI_COUNTED = "down", "up|degraded|down"


def sli_rules(contract: Contract) -> list[Rule]:
    cid = contract.id
    bad, total = SLI_BAD, SLI_COUNTED
    rules = []
    for window in SLI_WINDOWS:

        def rate(states: str, w: str = window) -> str:
            return (
                f'sum by (contract, vendor) (rate(dui_sla_seconds_total{{contract="{cid}",'
                f'state=~"{states}"}}[{w}]))'
            )

        rules.append(
            Rule(
                group=f"dui-sla-{cid}",
                record=f"dui:sla_error_ratio:rate{window}",
                expr=f"{rate(bad)} / {rate(total)}",
                labels={"contract": cid},
            )
        )
    return rules


def burn_ratio(contract: Contract, tier: BurnTier) -> float:
    """The error ratio over `tier.long` above which `tier` fires for `contract`."""
    return tier.factor_for(period_hours(contract)) * (1 - contract.availability.objective)


def unreachable_tiers(contract: Contract) -> list[BurnTier]:
    """Tiers whose ratio threshold is ≥ 1: even a full outage over the long window spends
    less than the tier's share of the budget (low objective, few service hours)."""
    return [tier for tier in BURN_TIERS if burn_ratio(contract, tier) >= 1]


def burn_rules(contract: Contract) -> list[Rule]:
    cid = contract.id
    rules = []
    for tier in BURN_TIERS:
        if tier in unreachable_tiers(contract):
            continue
        threshold = num(burn_ratio(contract, tier))
        window = f"{tier.long}/{tier.short}"
        expr = (
            f'dui:sla_error_ratio:rate{tier.long}{{contract="{cid}"}} > {threshold}'
            f' and dui:sla_error_ratio:rate{tier.short}{{contract="{cid}"}} > {threshold}'
        )
        params = {
            "window": window,
            "budget": percent(tier.budget),
            "long": tier.long,
            "short": tier.short,
            "threshold": threshold,
            "exhaust": duration(tier.exhaust_hours * 3600),
        }
        rules.append(
            Rule(
                group=f"dui-sla-{cid}",
                alert=tier.alert,
                expr=expr,
                severity=tier.severity,
                labels={"contract": cid, "window": window},
                key="burn_fast" if tier.severity == "page" else "burn_slow",
                params=params,
            )
        )
    return rules


def clause_rules(contract: Contract) -> list[Rule]:
    """SLI absent, RPO, backups, restore tests and RTO: the contract's other clauses."""
    cid, group = contract.id, f"dui-sla-{contract.id}"
    sel = f'contract="{cid}"'
    rules = [
        Rule(
            group=group,
            alert="DuiSlaSliAbsent",
            expr=(
                f"absent(dui_sla_seconds_total{{{sel}}})"
                " or sum by (contract) (increase(dui_sla_seconds_total"
                f"{{{sel}}}[{SLI_ABSENT_WINDOW}])) == 0"
            ),
            severity="ticket",
            for_=SLI_ABSENT_FOR,
            labels={"contract": cid},
            key="sli_absent",
            params={"for": SLI_ABSENT_AFTER},
        )
    ]
    if contract.rpo is not None:
        rules.append(
            Rule(
                group=group,
                alert="DuiSlaRpoBreached",
                expr=f'dui_sla_clause_compliant{{{sel},clause="rpo"}} == 0',
                severity="ticket",
                for_="5m",
                labels={"contract": cid},
                key="rpo_breached",
                params={"rpo": duration(contract.rpo)},
            )
        )
    backups = contract.backups
    for alert, metric, every, key in (
        ("DuiBackupTooOld", "dui_backup_last_success_timestamp_seconds", "every", "backup_too_old"),
        (
            "DuiRestoreTestOverdue",
            "dui_restore_test_last_success_timestamp_seconds",
            "restore_test_every",
            "restore_overdue",
        ),
    ):
        seconds = getattr(backups, every) if backups is not None else None
        if seconds is None:
            continue
        rules.append(
            Rule(
                group=group,
                alert=alert,
                expr=f"time() - {metric}{{{sel}}} > {num(seconds)}",
                severity="ticket",
                for_=EVIDENCE_GRACE,
                labels={"contract": cid},
                key=key,
                params={"every": duration(seconds)},
            )
        )
    if contract.rto is not None:
        half = contract.rto / 2
        rules.append(
            Rule(
                group=group,
                alert="DuiSlaRtoAtRisk",
                expr=f"dui_sla_incident_duration_seconds{{{sel}}} > {num(half)}",
                severity="page",
                for_="2m",  # the input may drop to 0 for a minute: no page on one sample
                labels={"contract": cid},
                key="rto_at_risk",
                params={"half": duration(half), "rto": duration(contract.rto)},
            )
        )
    return rules


def fleet_rules() -> list[Rule]:
    """Agents and sites, whatever the contract: (alert, expr, severity, for, key, params)."""
    days, offset = TLS_EXPIRY_DAYS, num(CLOCK_OFFSET_MAX)
    table: list[tuple[str, str, str, str | None, str, dict[str, str]]] = [
        ("DuiAgentSilent", "dui_agent_up == 0", "info", AGENT_SILENT_FOR, "agent_silent",
         {"for": AGENT_SILENT_FOR}),
        ("DuiSiteSilent", "max by (org, site) (dui_agent_up) == 0", "ticket", SITE_SILENT_FOR,
         "site_silent", {"for": SITE_SILENT_FOR}),
        ("DuiAgentLostResults", "increase(dui_agent_lost_results_total[1h]) > 0", "ticket", None,
         "lost_results", {}),
        ("DuiAgentClockOffset", f"abs(dui_agent_clock_offset_seconds) > {offset}", "ticket",
         "10m", "clock_offset", {"max": f"{offset} s"}),
        # results wait in the agents' spools: every site looks silent, nothing is measured
        ("DuiCollectorBrokerDisconnected", "dui_collector_mqtt_connected == 0", "page",
         BROKER_DOWN_FOR, "broker_disconnected", {"for": BROKER_DOWN_FOR}),
        # one alert per target, not per agent: every site sees the vendor's certificate;
        # the DUI's only, the references' certificates are not the vendor's business
        ("DuiTlsCertExpiringSoon",
         'min by (target, role) (dui_tls_cert_expiry_timestamp_seconds{role="dui"}) - time()'
         f" < {num(days * 86400)}", "ticket", "10m", "tls_expiry", {"days": f"{days} d"}),
    ]  # fmt: skip
    return [
        Rule(group="dui-fleet", alert=alert, expr=expr, severity=severity, for_=for_, key=key,
             params=params)
        for alert, expr, severity, for_, key, params in table
    ]  # fmt: skip


def _site_mean(metric: str, site: str, role: str) -> str:
    return f'avg by (site) (avg_over_time({metric}{{site="{site}",role="{role}"}}[{PILOT_WINDOW}]))'


def pilot_rules(config: CollectorConfig) -> list[Rule]:
    """Per pilot site, on the limits the pilot dashboard draws (collector.readiness.limits);
    the DUI alerts stay quiet while the site's own gateway is at fault."""
    return [rule for limits in pilot_limits(config).values() for rule in _pilot_site(limits)]


def _pilot_site(limits: SiteLimits) -> list[Rule]:
    site, group = limits.site, f"dui-pilot-{limits.site}"
    rules: list[Rule] = []

    def add(alert: str, expr: str, key: str, params: dict[str, str]) -> None:
        # every pilot alert: a ticket once it has held 10 minutes, one group per site
        rules.append(
            Rule(group, expr, alert=alert, severity="ticket", for_="10m", key=key, params=params)
        )

    faults = []
    if limits.max_loss is not None:
        faults.append(
            f"{_site_mean('dui_latency_loss_ratio', site, 'gateway')} > {num(limits.max_loss)}"
        )
    if limits.max_gateway_rtt is not None:
        faults.append(
            f"{_site_mean('dui_latency_rtt_avg_seconds', site, 'gateway')}"
            f" > {num(limits.max_gateway_rtt)}"
        )
    unless = "".join(f" unless on (site) ({f})" for f in faults)
    if limits.max_dui_p95 is not None:
        p95 = (
            "histogram_quantile(0.95, sum by (site, le) (rate(dui_http_response_seconds_bucket"
            f'{{site="{site}",role="dui"}}[{PILOT_WINDOW}])))'
        )
        add(
            "DuiPilotDuiSlow",
            f"{p95} > {num(limits.max_dui_p95)}{unless}",
            "pilot_p95",
            {"max": duration(limits.max_dui_p95)},
        )
    if limits.max_loss is not None:
        loss = num(limits.max_loss)
        add(
            "DuiPilotDuiLoss",
            f"{_site_mean('dui_latency_loss_ratio', site, 'dui')} > {loss}{unless}",
            "pilot_dui_loss",
            {"max": percent(limits.max_loss)},
        )
    if faults:
        marks = []
        if limits.max_loss is not None:
            marks.append(f"loss > {percent(limits.max_loss)}")
        if limits.max_gateway_rtt is not None:
            marks.append(f"RTT > {num(limits.max_gateway_rtt * 1000)} ms")
        add(
            "DuiPilotLocalNetworkFault",
            " or ".join(faults),
            "pilot_local_fault",
            {"limits": ", ".join(marks)},
        )
    if limits.max_dui_rtt is not None and limits.max_gateway_rtt is not None:
        dui_rtt, gw_rtt = num(limits.max_dui_rtt), num(limits.max_gateway_rtt)
        rtt = "dui_latency_rtt_avg_seconds"
        add(
            "DuiPilotLinkSaturated",
            (
                f"{_site_mean(rtt, site, 'dui')} > {dui_rtt}"
                f" and on (site) {_site_mean(rtt, site, 'internet')} > {dui_rtt}"
                f" and on (site) {_site_mean(rtt, site, 'gateway')} <= {gw_rtt}"
            ),
            "pilot_link_saturated",
            {
                "dui_rtt": f"{num(limits.max_dui_rtt * 1000)} ms",
                "gateway_rtt": f"{num(limits.max_gateway_rtt * 1000)} ms",
            },
        )
    if limits.min_download is not None and limits.min_download_per_user is not None:
        add(
            "DuiPilotDownloadPerUserLow",
            f"{download(site, PILOT_WINDOW)} < {num(limits.min_download)}{unless}",
            "pilot_download_per_user",
            {
                "min": f"{num(limits.min_download_per_user * 8 / 1e6)} Mbit/s",
                "users": str(limits.users),
                "link": f"{num(limits.min_download * 8 / 1e6)} Mbit/s",
            },
        )
    return rules


def download(site: str, window: str) -> str:
    """The site's measured download rate (bytes/s), mean of its agents' last tests."""
    return (
        "avg by (site) (avg_over_time(dui_bandwidth_bytes_per_second"
        f'{{site="{site}",direction="download"}}[{window}]))'
    )


def all_rules(config: CollectorConfig) -> list[Rule]:
    rules: list[Rule] = []
    for contract in config.contracts:
        rules += sli_rules(contract) + burn_rules(contract) + clause_rules(contract)
    return rules + fleet_rules() + pilot_rules(config)
