"""The generated Grafana dashboards, checked structurally (Grafana is not installable here):
unique panel ids, every query through the datasource variable, every template variable
used, every metric and label in the catalogue, stable output, French and English complete,
every query parsed by promtool and the tricky ones computed by it; the command line, its
provisioning files and docs/dashboards.md."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from collector.config import load, parse
from collector.ingest import Accepted, Outcome
from collector.metrics.catalogue import BY_NAME
from collector.metrics.exposition import Exposition
from collector.readiness.evaluate import Window, site_checks
from collector.readiness.limits import site_limits
from collector.state import State
from dashboards import build, docs, panels, provisioning
from dashboards.alerts_table import all_rules
from dashboards.build import STATE_NOW, build_dashboards, dump, panel_queries
from runtime.configfile import ConfigError
from tests.helpers import ROOT
from tests.helpers.batches import decoded_result
from tests.helpers.cli import python
from tests.test_metrics_catalogue import promtool

CONFIG = {
    "sites": {"s1": {"pilot": True, "go_live": "2026-11-02", "users": 20}, "s2": {}},
    "prerequisites": {
        "workstation": {"max_age": "5y", "min_ram": "8GB"},
        "site": {
            "max_dui_rtt": "100ms",
            "max_loss": 0.02,
            "max_dui_p95": "2s",
            "max_gateway_rtt": "5ms",
            "min_download_per_user": "1Mbit",
        },
    },
    "contracts": [
        {
            "id": "gold",
            "targets": ["dui-login"],
            "availability": {"objective": 0.999, "min_coverage": 0.8},
            "rto": "2h",
            "rpo": "12h",
            "backups": {"every": "6h", "restore_test_every": "30d"},
            "penalties": {"monthly_fee": 1000, "currency": "CHF"},
        },
        {"id": "basic", "targets": ["dui-login"], "availability": {"objective": 0.99}},
    ],
}
NAMES = {
    "dui-overview.json",
    "dui-site.json",
    "dui-fleet.json",
    "dui-evidence.json",
    "dui-readiness.json",
    "dui-pilot.json",
}
TODAY = dt.date(2026, 11, 24)
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")


def config():
    return parse(CONFIG)


def all_dashboards():
    return [
        (lang, name, d)
        for lang in panels.LANGS
        for name, d in build_dashboards(config(), lang, TODAY).items()
    ]


def family(metric: str):
    if metric in BY_NAME:
        return BY_NAME[metric], False
    for suffix in HISTOGRAM_SUFFIXES:
        base = metric.removesuffix(suffix)
        if metric.endswith(suffix) and BY_NAME.get(base) and BY_NAME[base].type == "histogram":
            return BY_NAME[base], suffix == "_bucket"
    return None, False


def test_six_dashboards_with_stable_uids_and_unique_panel_ids() -> None:
    for lang, name, dashboard in all_dashboards():
        assert dashboard["uid"] == name.removesuffix(".json")
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), (lang, name)
        assert len([p for p in dashboard["panels"] if p["type"] != "row"]) >= 6, name
    assert {name for _, name, _ in all_dashboards()} == NAMES


def test_every_panel_and_query_uses_the_datasource_variable() -> None:
    for _, name, dashboard in all_dashboards():
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource"
        assert variables["datasource"]["query"] == "prometheus"
        for v in variables.values():
            if v["type"] == "query":
                assert v["datasource"] == panels.DS, (name, v["name"])
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == panels.DS, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == panels.DS, (name, panel["title"])
                assert target["expr"]
        refs = [(p["id"], t["refId"]) for p, t in panel_queries(dashboard)]
        assert len(refs) == len(set(refs))


def test_every_template_variable_is_used_by_a_query() -> None:
    for _, name, dashboard in all_dashboards():
        queries = " ".join(t["expr"] for _, t in panel_queries(dashboard))
        queries += " ".join(v["query"] for v in dashboard["templating"]["list"])
        for v in dashboard["templating"]["list"]:
            if v["name"] != "datasource":
                assert f"${v['name']}" in queries, (name, v["name"])


def test_every_metric_and_label_of_every_query_is_in_the_catalogue() -> None:
    checked = 0
    for _, name, dashboard in all_dashboards():
        exprs = [t["expr"] for _, t in panel_queries(dashboard)]
        exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        for expr in exprs:
            for metric in re.findall(r"\bdui_[a-z0-9_]+", expr):
                assert family(metric)[0] is not None, (name, metric)
            for metric, matchers in SELECTOR.findall(expr):
                fam, bucket = family(metric)
                assert fam is not None, (name, metric)
                labels = set(fam.labels) | ({"le"} if bucket else set())
                for label in re.findall(r"(\w+)\s*=~?", matchers):
                    assert label in labels, (name, metric, label)
                checked += 1
            for grouping in re.findall(r"\bby \(([^)]*)\)", expr):
                metrics = re.findall(r"\bdui_[a-z0-9_]+", expr)
                for label in (x.strip() for x in grouping.split(",")):
                    assert any(
                        label in family(m)[0].labels or (label == "le" and family(m)[1])
                        for m in metrics
                    ), (name, expr, label)
    assert checked > 60


def test_same_config_same_bytes_and_config_drives_thresholds() -> None:
    first = {n: dump(d) for n, d in build_dashboards(config(), "fr").items()}
    assert first == {n: dump(d) for n, d in build_dashboards(config(), "fr").items()}
    overview = json.loads(first["dui-overview.json"])
    by_title = {p["title"]: p for p in overview["panels"]}
    overrides = by_title["Disponibilité de la période"]["fieldConfig"]["overrides"]
    steps = {o["matcher"]["options"]: o["properties"][0]["value"]["steps"] for o in overrides}
    assert steps["gold"][1] == {"color": "green", "value": 0.999}
    assert steps["basic"][1] == {"color": "green", "value": 0.99}
    incident = by_title["Incident ouvert face au RTO"]["fieldConfig"]["overrides"]
    assert [s["value"] for s in incident[0]["properties"][0]["value"]["steps"]] == [
        None,
        3600.0,
        7200.0,
    ]
    assert len(incident) == 1  # basic has no RTO: no threshold invented
    site = json.loads(first["dui-site.json"])
    assert site["templating"]["list"][1]["current"]["value"] == ["s1"]  # the pilot site
    evidence = json.loads(first["dui-evidence.json"])
    penalty = next(p for p in evidence["panels"] if p["title"] == "Pénalité à date")
    assert penalty["fieldConfig"]["overrides"][0]["properties"] == [
        {"id": "unit", "value": "currencyCHF"}
    ]


def test_french_and_english_are_complete_and_every_string_is_used(monkeypatch) -> None:
    table = panels.strings()
    for key, texts in table.items():
        assert set(texts) == set(panels.LANGS), key
        assert all(t.strip() for t in texts.values()), key
    used: set[str] = set()
    original = panels.text

    def spy(key: str, lang: str) -> str:
        used.add(key)
        return original(key, lang)

    monkeypatch.setattr(panels, "text", spy)
    monkeypatch.setattr(build, "text", spy)
    fr, en = build_dashboards(config(), "fr"), build_dashboards(config(), "en")
    assert used == set(table), set(table) ^ used
    for name in NAMES:
        exprs = [t["expr"] for _, t in panel_queries(fr[name])]
        assert exprs == [t["expr"] for _, t in panel_queries(en[name])]
        titles_fr = [p["title"] for p in fr[name]["panels"]]
        titles_en = [p["title"] for p in en[name]["panels"]]
        assert len(titles_fr) == len(titles_en) and titles_fr != titles_en
        for panel in fr[name]["panels"]:
            assert panel["type"] == "row" or len(panel["description"]) > 40


def substituted(expr: str) -> str:
    """What Grafana sends: its interval macro and the "All" value of every variable."""
    expr = expr.replace("$__rate_interval", "5m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def promtool_expects(tmp_path, series: list[dict], expr: str, at: str, samples: list) -> None:
    """promtool evaluates the panel's `expr` (as Grafana sends it) over `series`, one sample
    a minute, at `at`, and must find `samples`."""
    test = {"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": substituted(expr), "eval_time": at, "exp_samples": samples}]}  # fmt: skip
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump({"rule_files": [], "tests": [test]}), encoding="utf-8")
    proc = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_query_parses_with_promtool(tmp_path) -> None:
    exprs = sorted(
        {substituted(t["expr"]) for _, _, d in all_dashboards() for _, t in panel_queries(d)}
    )
    rules = {
        "groups": [
            {
                "name": "lint",
                "rules": [{"record": f"lint:e{i}", "expr": e} for i, e in enumerate(exprs)],
            }
        ]
    }
    path = tmp_path / "lint.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    proc = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(exprs)} rules found" in proc.stdout


def test_state_and_wifi_share_queries_compute_what_their_panels_say(tmp_path) -> None:
    """promtool evaluates the two queries that encode something: the state number of
    each contract (3 = down), and the share of a site's agents on Wi-Fi."""
    wifi = next(
        t["expr"]
        for p, t in panel_queries(build_dashboards(config(), "en")["dui-site.json"])
        if p["title"] == "Share of workstations on Wi-Fi"
    )
    ids = 'contract="gold",vendor=""'
    series = [
        {
            "series": f'dui_sla_service_state{{{ids},state="{s}"}}',
            "values": "1x5" if s == "down" else "0x5",
        }
        for s in ("up", "degraded", "down", "unknown", "excluded")
    ] + [
        {
            "series": f'dui_agent_info{{org="o",site="s1",agent="{a}",version="1",os="",'
            f'link="{link}"}}',
            "values": "1x5",
        }
        for a, link in (("a1", "wifi"), ("a2", "wired"), ("a3", "wired"), ("a4", "wifi"))
    ]
    tests = {
        "rule_files": [],
        "tests": [
            {
                "input_series": series,
                "promql_expr_test": [
                    {
                        "expr": substituted(STATE_NOW),
                        "eval_time": "2m",
                        "exp_samples": [{"labels": '{contract="gold"}', "value": 3}],
                    },
                    {
                        "expr": substituted(wifi),
                        "eval_time": "2m",
                        "exp_samples": [{"labels": '{site="s1"}', "value": 0.5}],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")
    proc = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_site_network_panels_follow_target_and_keep_only_dui_and_references(tmp_path) -> None:
    """With $target = dui-login: the DUI series of dui-login only (its http probe, not dns),
    the gateway and internet references, never speedtest/workstation; phases per site."""
    panel = {
        p["title"]: t["expr"]
        for p, t in panel_queries(build_dashboards(config(), "en")["dui-site.json"])
    }

    def chosen(expr: str) -> str:
        expr = expr.replace("$target", "dui-login").replace("$__rate_interval", "5m")
        return re.sub(r"\$\{?\w+\}?", ".*", expr)

    series = []
    for target, role, probe, value in (
        ("dui-login", "dui", "http", 1),
        ("dui-login", "dui", "dns", 0),
        ("dui-parcours", "dui", "http", 0),
        ("gw", "gateway", "latency", 1),
        ("net", "internet", "latency", 1),
        ("link", "speedtest", "bandwidth", 0),
        ("workstation", "workstation", "context", 0),
    ):
        ids = f'org="o",site="s1",agent="a1",target="{target}",role="{role}"'
        series.append(
            {"series": f'dui_probe_success{{{ids},probe="{probe}"}}', "values": f"{value}x5"}
        )
        if probe in ("latency", "http"):
            rtt = 0.5 if target == "dui-parcours" else 0.01
            series.append({"series": f"dui_latency_rtt_avg_seconds{{{ids}}}", "values": f"{rtt}x5"})
    for site, seconds in (("s1", 0.1), ("s2", 0.3)):
        ids = f'org="o",site="{site}",agent="a",target="dui-login",role="dui",phase="tls"'
        series.append({"series": f"dui_http_duration_seconds{{{ids}}}", "values": f"{seconds}x5"})
    roles = [("dui", 1), ("gateway", 1), ("internet", 1)]
    expect = {
        "Success by role": [{"labels": f'{{site="s1",role="{r}"}}', "value": v} for r, v in roles],
        "Round trip (RTT)": [
            {"labels": f'{{site="s1",role="{r}"}}', "value": 0.01} for r, _ in roles
        ],
        "Request phases": [
            {"labels": '{site="s1",phase="tls"}', "value": 0.1},
            {"labels": '{site="s2",phase="tls"}', "value": 0.3},
        ],
    }
    tests = {
        "rule_files": [],
        "tests": [
            {
                "input_series": series,
                "promql_expr_test": [
                    {"expr": chosen(panel[title]), "eval_time": "2m", "exp_samples": samples}
                    for title, samples in expect.items()
                ],
            }
        ],
    }
    path = tmp_path / "t.yml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")
    proc = subprocess.run(
        [promtool(), "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wifi_signal_series_follows_the_newest_link_result() -> None:
    state, now = State(stale_after=60, forget_after=3600), time.time()

    def context(ts: float, **fields) -> None:
        r = decoded_result("context", "workstation", "workstation", ts, version="1", **fields)
        state.apply(
            Outcome(seen=[("o", "s1", "a1", None)], accepted=[Accepted("o", "s1", "a1", r, ts)]),
            now=ts,
        )

    context(now - 20, link="wifi", wifi_signal_percent=45)
    assert (
        'dui_agent_wifi_signal_ratio{org="o",site="s1",agent="a1"} 0.45'
        in Exposition(state).render(now=now).decode()
    )
    context(now - 10, link="wired")
    assert "dui_agent_wifi_signal_ratio{" not in Exposition(state).render(now=now).decode()


def test_cli_writes_dashboards_and_provisioning_and_refuses_a_broken_config(tmp_path) -> None:
    good = tmp_path / "collector.yaml"
    good.write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    out = tmp_path / "grafana"
    proc = python("-m", "dashboards", "--config", str(good), "--out", str(out), "--lang", "en")
    assert proc.returncode == 0, proc.stderr
    expected = build_dashboards(config(), "en")
    for name in NAMES:
        assert (out / name).read_text(encoding="utf-8") == dump(
            expected[name]
        )  # another process: same bytes
    source = yaml.safe_load((out / provisioning.DATASOURCE_FILE).read_text(encoding="utf-8"))
    assert source["datasources"][0]["uid"] == "prometheus"
    provider = yaml.safe_load((out / provisioning.PROVIDER_FILE).read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/dui"

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "contracts:\n  - id: c1\n    targets: [t]\n    availability: {objective: 2}\n",
        encoding="utf-8",
    )
    for args in (("--out", str(tmp_path / "x")), ()):
        proc = (
            python("-m", "dashboards", "--config", str(bad), *args)
            if args
            else python(
                "-m", "dashboards", "rules", "--config", str(bad), "--out", str(tmp_path / "r.yml")
            )
        )
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(bad) in lines[0] and "objective" in lines[0], proc.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "r.yml").exists()
    proc = python("-m", "dashboards", "--config", str(good))
    assert proc.returncode == 2 and "--out" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_does_not_open_the_collectors_secret_files(tmp_path) -> None:
    """The collector's token file may be unreadable to whoever generates dashboards."""
    data = json.loads(json.dumps(CONFIG))
    data["contracts"][0]["evidence_token_file"] = "secrets/evidence-token"  # not there
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    for args in (("--out", str(tmp_path / "g")), ("rules", "--out", str(tmp_path / "r.yml"))):
        if args[0] == "rules":
            proc = python("-m", "dashboards", "rules", "--config", str(path), *args[1:])
        else:
            proc = python("-m", "dashboards", "--config", str(path), *args)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r.yml").is_file() and (tmp_path / "g" / "dui-site.json").is_file()
    with pytest.raises(ConfigError, match="evidence_token_file"):
        load(path)  # the collector itself still checks them


def test_docs_and_deploy_files_are_generated() -> None:
    assert (Path(ROOT) / "docs" / "dashboards.md").read_text(encoding="utf-8") == docs.markdown(), (
        "docs/dashboards.md is stale: python -m dashboards.docs > docs/dashboards.md"
    )
    for name, text in provisioning.files().items():
        assert (Path(ROOT) / "deploy" / "grafana" / name).read_text(encoding="utf-8") == text, name


@pytest.mark.parametrize("lang", panels.LANGS)
def test_docs_show_every_query(lang) -> None:
    text = docs.markdown(lang=lang)
    for _, _, dashboard in all_dashboards():
        for _, target in panel_queries(dashboard):
            assert target["expr"] in text


def by_title(dashboard: dict) -> dict[str, dict]:
    return {p["title"]: p for p in dashboard["panels"]}


def site_steps(panel: dict, site: str) -> list[dict]:
    """The threshold steps of the override drawn for `site` (legend = the site id)."""
    for override in panel["fieldConfig"]["overrides"]:
        if override["matcher"]["options"] == site:
            return next(
                p["value"]["steps"] for p in override["properties"] if p["id"] == "thresholds"
            )
    raise AssertionError(f"no override for {site} in {panel['title']}")


def alert_threshold(rules, alert: str, site: str) -> float:
    """The literal a pilot alert compares its first expression to."""
    rule = next(r for r in rules if r.alert == alert and r.group == f"dui-pilot-{site}")
    return float(re.search(r"\)\s*[<>]\s*([0-9.e+-]+)", rule.expr).group(1))


@pytest.mark.parametrize(
    "pre, contracts_slow, p95",
    [
        ({"max_dui_p95": "2s"}, ["10s", "4s"], 2.0),  # the prerequisite first
        ({}, ["10s", "4s"], 4.0),  # else the strictest contract's slow_threshold
    ],
)
def test_pilot_dashboard_draws_the_pilot_alerts_thresholds(pre, contracts_slow, p95) -> None:
    """Both read collector.readiness.limits: the same numbers, and they come from the config
    (p95, gateway RTT, gateway loss, download = per user × the site's users)."""
    data = json.loads(json.dumps(CONFIG))
    site_pre = {k: v for k, v in data["prerequisites"]["site"].items() if k != "max_dui_p95"}
    data["prerequisites"]["site"] = {**site_pre, **pre}
    for contract, slow in zip(data["contracts"], contracts_slow, strict=True):
        contract["availability"]["slow_threshold"] = slow
    conf = parse(data)
    rules = all_rules(conf)
    panels_ = by_title(build_dashboards(conf, "en", TODAY)["dui-pilot.json"])
    pairs = {
        "Response time p95": ("DuiPilotDuiSlow", p95),
        "p95 per week": ("DuiPilotDuiSlow", p95),
        "RTT to the gateway (local network)": ("DuiPilotLocalNetworkFault", None),
        "Site download rate": ("DuiPilotDownloadPerUserLow", 20 * 125_000.0),
    }
    for title, (alert, expected) in pairs.items():
        drawn = site_steps(panels_[title], "s1")[1]["value"]
        if expected is not None:
            assert drawn == expected, title
        if alert != "DuiPilotLocalNetworkFault":
            assert drawn == alert_threshold(rules, alert, "s1"), title
    local = next(r for r in rules if r.alert == "DuiPilotLocalNetworkFault")
    assert f"> {site_steps(panels_['RTT to the gateway (local network)'], 's1')[1]['value']:g}" in (
        local.expr
    )
    assert (
        f"> {site_steps(panels_['Loss to the gateway (local network)'], 's1')[1]['value']:g}"
        in (local.expr)
    )
    limits = site_limits(conf, "s1")
    assert (limits.max_gateway_rtt, limits.max_loss, limits.max_dui_p95) == (0.005, 0.02, p95)
    # the readiness checks judge the site on the same numbers
    pre_site = conf.prerequisites.site if conf.prerequisites else None
    assert pre_site is not None
    checks = {
        c.id: c.threshold
        for c in site_checks(conf.sites.get("s1"), pre_site, limits, [], Window(), {})
    }
    assert checks["dui_p95"] == p95 == alert_threshold(rules, "DuiPilotDuiSlow", "s1")
    assert checks["gateway_rtt"] == limits.max_gateway_rtt
    assert checks["gateway_loss"] == checks["dui_loss"] == limits.max_loss
    assert checks["download_per_user"] * 20 == alert_threshold(
        rules, "DuiPilotDownloadPerUserLow", "s1"
    )
    # s2 is no pilot: no alert group, no threshold drawn
    assert not [r for r in rules if r.group == "dui-pilot-s2"]
    assert all(
        o["matcher"]["options"] == "s1"
        for p in panels_.values()
        for o in p.get("fieldConfig", {}).get("overrides", [])
    )


def test_pilot_site_variable_and_time_range_follow_the_config() -> None:
    pilot = build_dashboards(config(), "fr", TODAY)["dui-pilot.json"]
    var = next(v for v in pilot["templating"]["list"] if v["name"] == "site")
    assert var["query"] == 'label_values(dui_probe_results_total{site=~"s1"}, site)'
    assert (var["multi"], var["includeAll"], var["current"]["value"]) == (False, False, "s1")
    assert pilot["time"] == {"from": "2026-11-01T23:00:00.000Z", "to": "now"}  # Paris midnight
    before = build_dashboards(config(), "fr", dt.date(2026, 11, 1))["dui-pilot.json"]
    assert before["time"] == {"from": "now-7d", "to": "now"}  # go-live still ahead
    none = parse({"sites": {"a": {}}})
    var = build_dashboards(none, "fr", TODAY)["dui-pilot.json"]["templating"]["list"][1]
    assert var["query"] == "label_values(dui_probe_results_total, site)"  # no pilot: all


def test_readiness_dashboard_colours_come_from_the_workstation_prerequisites() -> None:
    panels_ = by_title(build_dashboards(config(), "en", TODAY)["dui-readiness.json"])
    age = panels_["Median workstation age"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert age == [{"color": "green", "value": None}, {"color": "red", "value": 5 * 365 * 86400.0}]
    ram = panels_["Memory of the smallest workstation"]["fieldConfig"]["defaults"]["thresholds"]
    assert ram["steps"] == [{"color": "red", "value": None}, {"color": "green", "value": 8e9}]
    checks = panels_["Prerequisites per site"]["fieldConfig"]["defaults"]
    assert checks["mappings"][0]["options"]["0"]["text"] == "not met"  # where Grafana reads it
    table = panels_["Workstations"]["fieldConfig"]["overrides"]
    assert {o["matcher"]["options"] for o in table} == {"Value #B", "Value #C"}
    bare = by_title(build_dashboards(parse({}), "en", TODAY)["dui-readiness.json"])
    steps = bare["Median workstation age"]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "green", "value": None}]  # no max_age: no threshold invented


def test_pilot_error_share_is_zero_before_the_first_failure(tmp_path) -> None:
    """promtool: the share of DUI checks failing is 0 while no failure was ever counted
    (no failure series), 0.25 when one check in four fails; dns results do not count."""
    expr = next(
        t["expr"]
        for p, t in panel_queries(build_dashboards(config(), "en", TODAY)["dui-pilot.json"])
        if p["title"] == "Share of DUI checks failing"
    )
    ids = 'org="o",target="dui-login",role="dui"'
    series = [
        {"series": f'dui_probe_results_total{{{ids},site="s1",probe="http",result="success"}}',
         "values": "0+3x10"},
        {"series": f'dui_probe_results_total{{{ids},site="s1",probe="http",result="failure"}}',
         "values": "0+1x10"},
        {"series": f'dui_probe_results_total{{{ids},site="s1",probe="dns",result="failure"}}',
         "values": "0+5x10"},
        {"series": f'dui_probe_results_total{{{ids},site="s2",probe="http",result="success"}}',
         "values": "0+4x10"},
    ]  # fmt: skip
    samples = [{"labels": '{site="s1"}', "value": 0.25}, {"labels": '{site="s2"}', "value": 0}]
    promtool_expects(tmp_path, series, expr, "8m", samples)


def test_pilot_gateway_loss_is_the_mean_over_the_sites_agents_like_the_alert(tmp_path) -> None:
    """promtool: two agents of s1 losing 0 and 4 % to the gateway draw 2 %, the mean the
    pilot alert compares to max_loss (the line was the worst agent's, 4 %)."""
    expr = next(
        t["expr"]
        for p, t in panel_queries(build_dashboards(config(), "en", TODAY)["dui-pilot.json"])
        if p["title"] == "Loss to the gateway (local network)"
    )
    series = [
        {"series": f'dui_latency_loss_ratio{{org="o",site="s1",agent="{a}",target="gw",'
                   f'role="gateway"}}', "values": f"{loss}x10"}
        for a, loss in (("a1", 0), ("a2", 0.04))
    ]  # fmt: skip
    promtool_expects(tmp_path, series, expr, "5m", [{"labels": '{site="s1"}', "value": 0.02}])
