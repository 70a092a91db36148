"""docs/dashboards.md, generated from the dashboards themselves: `python -m dashboards.docs
> docs/dashboards.md` (a test fails when the file in the repo is stale). The example
config below gives the thresholds shown; yours come from your collector config."""

from __future__ import annotations

from typing import Any

from collector.config import CollectorConfig, parse
from dashboards.build import build_dashboards, panel_queries

EXAMPLE: dict[str, Any] = {
    "sites": {"ehpad-tilleuls": {"pilot": True, "go_live": "2026-12-01", "users": 25}},
    "prerequisites": {
        "workstation": {"max_age": "5y", "min_ram": "8GB"},
        "site": {
            "min_download_per_user": "1Mbit",
            "max_dui_rtt": "100ms",
            "max_loss": 0.01,
            "max_gateway_rtt": "5ms",
            "max_dui_p95": "3s",
        },
    },
    "contracts": [
        {
            "id": "dui-vendor-2026",
            "targets": ["dui-login"],
            "availability": {"objective": 0.995},
            "rto": "4h",
            "rpo": "24h",
            "backups": {"every": "24h", "restore_test_every": "90d"},
            "penalties": {"monthly_fee": 1500, "currency": "EUR"},
        }
    ],
}

INTRO = """\
# Dashboards

`dui-dashboards` writes six Grafana dashboards, generated from the collector config,
and the Grafana provisioning files that load them. This page is generated from the
dashboards (`python -m dashboards.docs > docs/dashboards.md`): every panel, what it
shows, what to do, and the PromQL behind it. Do not edit it by hand.

## Install

```sh
dui-dashboards --config /etc/dui-collector/collector.yaml --out /tmp/dui-grafana [--lang fr|en]
sudo mkdir -p /var/lib/grafana/dashboards/dui
sudo cp /tmp/dui-grafana/*.json /var/lib/grafana/dashboards/dui/
sudo cp -r /tmp/dui-grafana/provisioning/* /etc/grafana/provisioning/
sudo systemctl restart grafana-server
dui-dashboards rules --config /etc/dui-collector/collector.yaml --out /etc/prometheus/dui-rules.yml
```

`dui-dashboards` reads the collector config without opening the files it names (the
MQTT password, the evidence tokens, certificates): it runs without the collector's
rights, and a secret file of mode 0600 is no error. The collector still checks them.

- `--out DIR` receives `dui-overview.json`, `dui-site.json`, `dui-fleet.json`,
  `dui-evidence.json`, `dui-readiness.json` ("parc et prérequis"), `dui-pilot.json`,
  `provisioning/datasources/dui-prometheus.yaml` (a Prometheus
  datasource with uid `prometheus`, URL from `--prometheus-url`, default
  `http://127.0.0.1:9090`) and `provisioning/dashboards/dui.yaml` (a file provider
  reading `--dashboards-path`, default `/var/lib/grafana/dashboards/dui`, into a
  folder `DUI`). The same files with their defaults are in `deploy/grafana/`.
- Titles, descriptions and legends are French by default, English with `--lang en`;
  they come from one table, `dashboards/strings.json`.
- The UIDs are stable (`dui-overview`, `dui-site`, `dui-fleet`, `dui-evidence`,
  `dui-readiness`, `dui-pilot`):
  regenerate after changing the config and Grafana replaces the dashboards in place.
  The provider forbids edits in the UI, which a regeneration would lose.
- Contracts, sites and targets are template variables read from Prometheus; every
  query goes through the `datasource` variable. What differs per contract or site
  comes from the config: a contract's objective, half its RTO and its RTO, its backup
  cadence and RPO, its restore-test cadence and minimum coverage become that
  contract's thresholds (Grafana overrides matched by the contract id); the site
  prerequisites (`max_dui_p95`, `max_dui_rtt`, `max_loss`) become threshold lines; the
  penalty is shown in the contract's currency; the site dashboard opens on the pilot
  sites. The workstation prerequisites (`max_age`, `min_ram`) colour the "parc et
  prérequis" dashboard.
- The pilot dashboard shows one pilot site at a time (`$site` lists the sites with
  `pilot: true`, all sites while none is declared, and opens on the first). Its time
  range starts at the earliest pilot `go_live` when that day has passed at generation
  (else the last 7 days): regenerate after go-live. Its thresholds are those of the
  pilot alerts, read from one place (`collector/readiness/limits.py`): p95 above
  `max_dui_p95`, else the strictest contract's `slow_threshold`; gateway RTT above
  `max_gateway_rtt`; loss above `max_loss`; download below `min_download_per_user` ×
  the site's `users` ("link saturated"). Usage is opt-in and per site only (see the
  README on staff-activity data).
- Grafana is not part of the test suite: the dashboards are checked structurally
  (panel ids, datasource references, template variables, every metric in the
  catalogue, every query parsed by `promtool`), and the end-to-end test runs every
  query against a real Prometheus scraping a real collector.

The thresholds below are those of this example config:

```yaml
sites: {ehpad-tilleuls: {pilot: true, go_live: 2026-12-01, users: 25}}
prerequisites:
  workstation: {max_age: 5y, min_ram: 8GB}
  site: {min_download_per_user: 1Mbit, max_dui_rtt: 100ms, max_loss: 0.01,
         max_gateway_rtt: 5ms, max_dui_p95: 3s}
contracts:
  - id: dui-vendor-2026
    targets: [dui-login]
    availability: {objective: 0.995}
    rto: 4h
    rpo: 24h
    backups: {every: 24h, restore_test_every: 90d}
    penalties: {monthly_fee: 1500, currency: EUR}
```
"""


def _thresholds(panel: dict[str, Any]) -> str:
    parts = []
    config = panel.get("fieldConfig", {})
    steps = config.get("defaults", {}).get("thresholds", {}).get("steps", [])
    if len(steps) > 1:
        parts.append(", ".join(f"{s['color']} from {s['value']}" for s in steps[1:]))
    for override in config.get("overrides", []):
        for prop in override["properties"]:
            name = override["matcher"]["options"]
            if prop["id"] == "thresholds":
                marks = ", ".join(
                    f"{s['color']} from {s['value']:g}" for s in prop["value"]["steps"][1:]
                )
                parts.append(f"{name}: {marks}")
            elif prop["id"] == "unit":
                parts.append(f"{name}: unit {prop['value']}")
    return "; ".join(parts)


def markdown(config: CollectorConfig | None = None, lang: str = "en") -> str:
    config = config or parse(EXAMPLE)
    out = [INTRO]
    for name, dashboard in build_dashboards(config, lang).items():
        out.append(f"\n## {dashboard['title']}\n\n")
        out.append(f"`{name}`, uid `{dashboard['uid']}`. {dashboard['description']}\n\n")
        variables = [v for v in dashboard["templating"]["list"] if v["type"] == "query"]
        out.append("Variables: " + ", ".join(f"`${v['name']}` (`{v['query']}`)" for v in variables))
        out.append("; `$datasource` (any Prometheus datasource).\n")
        queries = panel_queries(dashboard)
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                out.append(f"\n### {panel['title']}\n")
                continue
            unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or "none"
            out.append(f"\n**{panel['title']}** ({panel['type']}, unit `{unit}`). ")
            out.append(f"{panel['description']}\n")
            marks = _thresholds(panel)
            if marks:
                out.append(f"Thresholds: {marks}.\n")
            out.append("\n```promql\n")
            for _, target in (q for q in queries if q[0] is panel):
                legend = target["legendFormat"]
                out.append(f"# {target['refId']}" + (f", legend {legend}" if legend else "") + "\n")
                out.append(target["expr"] + "\n")
            out.append("```\n")
    return "".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
