"""docs/alerts.md, generated from the same rule table as the rules file.

`python -m dashboards.alerts_docs > docs/alerts.md`; the expressions shown are
those generated for the contract and pilot site of deploy/collector.example.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from collector.config import CollectorConfig, parse
from dashboards.alerts_table import (
    BURN_TIERS,
    CLOCK_OFFSET_MAX,
    TLS_EXPIRY_DAYS,
    all_rules,
    duration,
    num,
    percent,
)
from dashboards.rules import text

EXAMPLE = Path(__file__).parent.parent / "deploy" / "collector.example.yaml"

INTRO = """\
# Alerts

`dui-dashboards rules --config collector.yaml --out dui-rules.yml [--lang fr|en]` writes the
Prometheus rules file: recording rules for each contract's SLI and the alerts
below, with every threshold written as a literal number from the collector config.
Load it with `rule_files: [dui-rules.yml]` in `prometheus.yml`, and check it with
`promtool check rules dui-rules.yml`. Regenerate it whenever a contract, a site or a
prerequisite changes. An alert whose threshold is not configured (no `rto`, no
`backups.every`, no `prerequisites.site.max_loss`, …) is left out.

This page is generated (`python -m dashboards.alerts_docs > docs/alerts.md`); the
expressions shown are those for the contract and the pilot site of
`deploy/collector.example.yaml`.

## Labels and texts

- `severity`: `page` (someone acts now: the budget burns fast, an incident nears
  the RTO), `ticket` (act within the working day), `info` (context, usually routed
  nowhere). The contract alerts carry `contract` (and `vendor`), the site and agent
  alerts `site` (and `org`, `agent`), so a router can send each contract to its
  vendor manager and each site to its IT team.
- Texts in two languages: `summary` and `description` in the language chosen with
  `--lang` (French by default), `summary_en`/`description_en` (or
  `summary_fr`/`description_fr` with `--lang en`) in the other. Each description says
  what to do. The texts live in `dashboards/alert_strings.json`.
- `deploy/alertmanager.example.yml` routes pages to an on-call receiver, pilot
  alerts to the pilot team, the vendor's side (slow burn, RPO, backups, restore tests,
  certificate) to the vendor manager, the other tickets (SLI absent, site silent, lost
  results, clock) to the IT team and `info` nowhere; a fast burn silences the slow burn
  of the same contract and a silent site its silent agents. Check your copy with
  `amtool check-config` and `amtool config routes test --config.file=F severity=page
  contract=X`.

## The SLI

For each contract, `dui:sla_error_ratio:rate<window>` (windows 5m, 30m, 1h, 2h, 6h,
1d, 3d) is the share of counted time that was bad, from `dui_sla_seconds_total`:

- bad = `down`;
- counted = `up` + `degraded` + `down`;
- `unknown` is in neither, whatever the contract's `availability.unknown`: the counter
  counts a minute once, when it becomes final, so a minute that was `unknown` because
  results arrived late (broker or collector outage, agents replaying their spool) stays
  `unknown` in it even after the period's figures say `up`. Counting it bad would page
  the vendor's budget for our own outage. The monthly report (docs/sla.md) still
  applies the policy; missing measurements are watched by `DuiSlaSliAbsent` and
  `DuiSiteSilent`;
- `excluded` (outside service hours, maintenance) is in neither: over a window that is
  wholly excluded the ratio is 0/0, has no value, and nothing fires.

The counter moves only when a minute becomes final (`ledger.finalize_after`, 5 min by
default, after its end), so every alert on it reacts that much later than the outage.
`DuiSlaSliAbsent` fires when the counter is absent, or has not moved over 15 min and
stays so for 5 more (`for: 5m`): about 20 min after the counter stops, 25 min after the
last minute it counted.

## Error budget burn

Multi-window, multi-burn-rate alerts (the SRE workbook's method): an alert fires when
the error ratio over a long window *and* over a short one (a twelfth of it) are both
above `burn × (1 − objective)`. The long window says the budget is really going, the
short one that it still is: once the outage ends the alert clears within the short
window. The period is taken as 30 days, and the budget as `1 − objective` of the
period's *counted* hours S: 720 h for a contract served round the clock, S = hours a
week of `service_hours.weekly` × 30/7 otherwise (mon–fri 07:00–20:00 → 65 h × 30/7 ≈
279 h; holidays are ignored, so S is slightly high and the alerts slightly late). The
burn factor for "spend b of the budget in window w" is `b × S / w`; the table shows it
for S = 720 h. "Budget gone in" is counted time (service hours), the same for every S.
Each tier is its own rule: the `window` label (`1h/5m`, `6h/30m`, `1d/2h`, `3d/6h`)
says which one fired.

A tier whose ratio threshold `b × S / w × (1 − objective)` is 1 or more can never fire:
even a full outage over its long window spends less than its share of the budget
(objective under about 93 % for the 1h tier round the clock, higher with few service
hours). Such a tier is left out of the rules file, and a comment at the top of the file
names it; the longer tiers still catch the outage.

| alert | severity | budget spent | long / short | burn | budget gone in |
| --- | --- | --- | --- | --- | --- |
"""

OUTRO = """
## Link saturated: the definition

A pilot site's access link is called saturated when, averaged over 15 min, the round
trip to the DUI **and** to the internet reference are both above
`prerequisites.site.max_dui_rtt`, while the round trip to the site's gateway stays at
or under `max_gateway_rtt`. A full link queues packets: every destination beyond the
gateway gets slower together, the gateway does not. If only the DUI is slow it is the
vendor's side; if the gateway is slow too it is the local network. Round trips are
used rather than the bandwidth test because they are measured every few minutes
without loading the link. Both thresholds must be set for the alert to exist.

## A fault inside the site

A site's own network failing (loss or round trip to the gateway above
`max_loss`/`max_gateway_rtt`) fires `DuiPilotLocalNetworkFault` and keeps
`DuiPilotDuiSlow` and `DuiPilotDuiLoss` quiet for that site. The budget alerts do not
react either: the collector's site vote already counts such a minute as a local
fault, not as the vendor's downtime (docs/sla.md).

## RTO at risk

`DuiSlaRtoAtRisk` pages when the open incident has lasted more than half the contract's
`rto`, for 2 min (`for: 2m`): the duration can drop to 0 for a minute, and one sample
must not page. The incident's duration is wall-clock time from its first down minute:
with `rto_clock: service_hours` it can page before half the RTO is used in service
hours, which errs on the side of escalating early.

## Backups and restore tests

`DuiBackupTooOld` and `DuiRestoreTestOverdue` compare the age of the last successful
record with `backups.every` and `backups.restore_test_every`, and wait one more hour
(`for: 1h`) before firing: the vendor posts a backup's evidence some time after it ran,
and a daily backup must not raise a daily alert for the minutes in between.
`DuiSlaRpoBreached` is the collector's own verdict on the RPO clause (docs/evidence.md).

## Nights and closed sites

Workstations switched off at night make `DuiAgentSilent` (info) and `DuiSiteSilent`
(ticket) fire. Route `info` nowhere, and silence a site's closing hours in
Alertmanager (`time_intervals`) or drop `DuiSiteSilent` for it.

`DuiAgentSilent` and `DuiSiteSilent` resolve by themselves once the collector forgets
the agent, after `agents.forget_after` (24 h by default) of silence: its `dui_agent_up`
series leaves `/metrics`. An agent or site silent for longer than that is no longer
alerted on: act on the alert within that day.

## Collector and broker

`DuiCollectorBrokerDisconnected` pages when `dui_collector_mqtt_connected` has been 0
for 5 min: nothing is measured, the agents keep their results in their spools and
send them once the collector is back. Every site then looks silent, so the example
Alertmanager config inhibits `DuiSiteSilent` and `DuiAgentSilent` while it fires.
`DuiTlsCertExpiringSoon` watches the DUI's certificates only (`role="dui"`), not those of
the reference targets.
"""


def example_config() -> CollectorConfig:
    """The contracts, sites and prerequisites of the shipped example (its files need not exist)."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data = {k: data[k] for k in ("sites", "prerequisites", "contracts")}
    for contract in data["contracts"]:
        contract.pop("evidence_token_file", None)
    return parse(data)


def cell(value: str) -> str:
    """A table cell: pipes escaped, label templates shown as {label}."""
    value = re.sub(r"\{\{ \$labels\.(\w+) \}\}", r"{\1}", value)
    return value.replace("|", "\\|")


def render_docs() -> str:
    lines = [INTRO.rstrip("\n")]
    for tier in BURN_TIERS:
        lines.append(
            f"| `{tier.alert}` | {tier.severity} | {percent(tier.budget)} | "
            f"{tier.long} / {tier.short} | {num(tier.factor)} | "
            f"{duration(tier.exhaust_hours * 3600)} |"
        )
    lines += [
        "",
        "Other fixed thresholds: clock offset above "
        f"{num(CLOCK_OFFSET_MAX)} s, TLS certificate expiring within {TLS_EXPIRY_DAYS} days.",
        "",
        "## Every alert",
        "",
        "| alert | severity | for | expression (example config) | what to do |",
        "| --- | --- | --- | --- | --- |",
    ]
    seen = set()
    for rule in all_rules(example_config()):
        if rule.alert is None:
            continue
        window = rule.labels.get("window", "")
        if (rule.alert, window) in seen:
            continue
        seen.add((rule.alert, window))
        lines.append(
            f"| `{rule.alert}` | {rule.severity} | {rule.for_ or '—'} | "
            f"`{cell(rule.expr)}` | {cell(text(rule, 'en', 'description'))} |"
        )
    return "\n".join(lines) + "\n" + OUTRO


if __name__ == "__main__":
    print(render_docs(), end="")
