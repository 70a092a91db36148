"""The generated Prometheus rules, checked and unit-tested with the real promtool.

Each alert has a case that fires and one that must not: a burn just under each
tier's threshold, excluded hours, a gateway fault at one site. The promtool test
files are generated here and written to tmp_path.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from collector.config import load
from dashboards.alerts_table import BURN_TIERS, all_rules
from dashboards.rules import build_rules

PROMTOOL = shutil.which("promtool")
CONFIG = Path(__file__).parent / "data" / "rules" / "collector.yaml"
ROOT = Path(__file__).parent.parent
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)"
)
OBJECTIVES = {"gold": 0.999, "silver": 0.99}
VENDORS = {"gold": "Vendor G", "silver": "Vendor S"}
STATES = ("up", "degraded", "down", "unknown", "excluded")
BURN, SLOW = "DuiSlaErrorBudgetBurnFast", "DuiSlaErrorBudgetBurnSlow"


@dataclass
class Case:
    """Input series (name{labels} → expanding notation) and (eval_time, alert, labels) checks."""

    name: str
    series: dict[str, str]
    checks: list[tuple[str, str, list[dict[str, str]]]]
    interval: str = "1m"
    hours: bool = field(default=False)  # evaluated every hour (backups, restore tests)


def sla(contract: str, minutes: int, **fractions: float) -> dict[str, str]:
    """Steady dui_sla_seconds_total: each state gets `fraction` of every minute."""
    out = {}
    for state in STATES:
        step = 60 * fractions.get(state, 0.0)
        out[
            series(
                "dui_sla_seconds_total", contract=contract, vendor=VENDORS[contract], state=state
            )
        ] = f"0+{step:.10g}x{minutes}"
    return out


def phased(contract: str, phases: list[tuple[int, str]]) -> dict[str, str]:
    """dui_sla_seconds_total moving through whole-minute states: [(minutes, state), …]."""
    out = {}
    for state in STATES:
        total, values = 0, ["0"]
        for minutes, current in phases:
            for _ in range(minutes):
                total += 60 if current == state else 0
                values.append(str(total))
        labels = {"contract": contract, "vendor": VENDORS[contract], "state": state}
        out[series("dui_sla_seconds_total", **labels)] = " ".join(values)
    return out


def series(name: str, **labels: str) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def tls(site: str, agent: str, target: str, days: int, role: str = "dui") -> dict[str, str]:
    labels = {"org": "o1", "site": site, "agent": agent, "target": target, "role": role}
    return {series("dui_tls_cert_expiry_timestamp_seconds", **labels): f"{days * 86400}x30"}


def burn(contract: str, window: str, severity: str) -> dict[str, str]:
    return {
        "contract": contract,
        "vendor": VENDORS[contract],
        "window": window,
        "severity": severity,
    }


def burn_cases() -> list[Case]:
    """For every tier: a steady ratio 10 % above its threshold fires it and every lower tier;
    10 % below does not fire it."""
    cases = []
    for tier in BURN_TIERS:
        for factor, label in ((1.1, "above"), (0.9, "under")):
            inputs, expected = {}, {BURN: [], SLOW: []}
            for contract, objective in OBJECTIVES.items():
                ratio = factor * tier.factor * (1 - objective)
                inputs |= sla(contract, 150, up=1 - ratio, down=ratio)
                for other in BURN_TIERS:
                    if ratio > other.factor * (1 - objective):
                        window = f"{other.long}/{other.short}"
                        expected[other.alert].append(burn(contract, window, other.severity))
            name = f"burn {label} {tier.long}/{tier.short}"
            checks = [("150m", alert, labels) for alert, labels in expected.items()]
            cases.append(Case(name, inputs, checks))
    return cases


def pilot_series(
    dui_loss: float = 0,
    gw_loss: float = 0,
    dui_rtt: float = 0.02,
    net_rtt: float = 0.02,
    gw_rtt: float = 0.001,
    site: str = "pilot-a",
) -> dict[str, str]:
    out = {}
    for role, loss, rtt in (
        ("dui", dui_loss, dui_rtt),
        ("gateway", gw_loss, gw_rtt),
        ("internet", 0, net_rtt),
    ):
        ids = {"org": "o1", "site": site, "agent": "a1", "target": f"t-{role}", "role": role}
        out[series("dui_latency_loss_ratio", **ids)] = f"{loss}x60"
        out[series("dui_latency_rtt_avg_seconds", **ids)] = f"{rtt}x60"
    return out


def histogram(site: str, slow: bool) -> dict[str, str]:
    """dui_http_response_seconds: 10 responses a minute, all in (2.5, 5] s if slow else (0.5, 1]."""
    out = {}
    for le in ("0.5", "1", "2.5", "5", "+Inf"):
        filled = le in ("5", "+Inf") if slow else le != "0.5"
        labels = {"org": "o1", "site": site, "target": "dui-login", "role": "dui", "le": le}
        out[series("dui_http_response_seconds_bucket", **labels)] = "0+10x60" if filled else "0x60"
    return out


def download(rate: float, site: str = "pilot-a") -> dict[str, str]:
    """One agent's bandwidth tests: `rate` bytes/s down."""
    ids = {"org": "o1", "site": site, "agent": "a1", "target": "speedtest", "role": "speedtest"}
    return {series("dui_bandwidth_bytes_per_second", **ids, direction="download"): f"{rate}x60"}


def all_up(minutes: int = 60) -> dict[str, str]:
    return sla("gold", minutes, up=1) | sla("silver", minutes, up=1)


PILOT = {"site": "pilot-a", "severity": "ticket"}
GOLD = {"contract": "gold", "vendor": "Vendor G"}


def cases() -> list[Case]:
    agent = {"org": "o1", "site": "s1"}
    return [
        *burn_cases(),
        Case(
            "an outage pages during it, and the short window resets it after",
            phased("gold", [(60, "up"), (20, "down"), (30, "up")]) | sla("silver", 110, up=1),
            [
                ("59m", BURN, []),
                ("75m", BURN, [burn("gold", "1h/5m", "page"), burn("gold", "6h/30m", "page")]),
                ("110m", BURN, []),
            ],
        ),
        Case(
            "excluded hours: no denominator, nothing fires",
            sla("gold", 120, excluded=1) | sla("silver", 120, excluded=1),
            [("120m", alert, []) for alert in (BURN, SLOW, "DuiSlaSliAbsent")],
        ),
        Case(
            "unknown is never bad, even for silver (unknown: down): late results stay unknown",
            sla("gold", 120, up=0.5, unknown=0.5) | sla("silver", 120, up=0.5, unknown=0.5),
            [("120m", alert, []) for alert in (BURN, SLOW)],
        ),
        Case(
            "silver wholly unknown: no denominator, no burn",
            sla("gold", 120, up=1) | sla("silver", 120, unknown=1),
            [("120m", alert, []) for alert in (BURN, SLOW)],
        ),
        Case(
            "a gateway fault at the pilot site: local alert only",
            all_up()
            | pilot_series(dui_loss=0.2, gw_loss=0.2, dui_rtt=0.3, net_rtt=0.3, gw_rtt=0.05)
            | histogram("pilot-a", slow=True),
            [
                ("40m", BURN, []),
                ("40m", SLOW, []),
                ("40m", "DuiPilotDuiSlow", []),
                ("40m", "DuiPilotDuiLoss", []),
                ("40m", "DuiPilotLinkSaturated", []),
                ("40m", "DuiPilotLocalNetworkFault", [PILOT]),
            ],
        ),
        Case(
            "a slow gateway alone is a local fault too",
            pilot_series(gw_rtt=0.05, dui_rtt=0.3, net_rtt=0.3) | histogram("pilot-a", slow=True),
            [
                ("40m", "DuiPilotDuiSlow", []),
                ("40m", "DuiPilotLinkSaturated", []),
                ("40m", "DuiPilotLocalNetworkFault", [PILOT]),
            ],
        ),
        Case(
            "the DUI is slow and lossy from the pilot site, gateway fine; site-b is no pilot",
            pilot_series(dui_loss=0.05) | histogram("pilot-a", True) | histogram("site-b", True),
            [
                ("40m", "DuiPilotDuiSlow", [PILOT]),
                ("40m", "DuiPilotDuiLoss", [PILOT]),
                ("40m", "DuiPilotLocalNetworkFault", []),
                ("40m", "DuiPilotLinkSaturated", []),
            ],
        ),
        Case(
            "the DUI is fast, loss under max_loss",
            pilot_series(dui_loss=0.005, gw_loss=0.005) | histogram("pilot-a", slow=False),
            [
                ("40m", "DuiPilotDuiSlow", []),
                ("40m", "DuiPilotDuiLoss", []),
                ("40m", "DuiPilotLocalNetworkFault", []),
            ],
        ),
        Case(
            "the access link queues: DUI and internet slow, gateway fine",
            pilot_series(dui_rtt=0.3, net_rtt=0.3),
            [("40m", "DuiPilotLinkSaturated", [PILOT])],
        ),
        Case(
            "1 Mbit/s for 10 declared users needs 1.25 MB/s: 1 MB/s is too little",
            pilot_series() | download(1e6) | download(1e6, site="site-b"),
            [("40m", "DuiPilotDownloadPerUserLow", [PILOT])],  # site-b is no pilot
        ),
        Case(
            "1.5 MB/s for 10 users is enough",
            pilot_series() | download(1.5e6),
            [("40m", "DuiPilotDownloadPerUserLow", [])],
        ),
        Case(
            "too little bandwidth with the gateway at fault: the local fault only",
            pilot_series(gw_loss=0.2) | download(1e6),
            [
                ("40m", "DuiPilotDownloadPerUserLow", []),
                ("40m", "DuiPilotLocalNetworkFault", [PILOT]),
            ],
        ),
        Case(
            "only the DUI is far: vendor side, not the link",
            pilot_series(dui_rtt=0.3, net_rtt=0.02),
            [("40m", "DuiPilotLinkSaturated", [])],
        ),
        Case(
            "silver has no SLI series; gold's counter stops at 30m: fires 20 min later",
            {
                series("dui_sla_seconds_total", **GOLD, state=s): (
                    "0+60x30 1800x40" if s == "up" else "0x70"
                )
                for s in STATES
            },
            [
                ("3m", "DuiSlaSliAbsent", []),
                ("10m", "DuiSlaSliAbsent", [{"contract": "silver"}]),
                ("48m", "DuiSlaSliAbsent", [{"contract": "silver"}]),
                ("51m", "DuiSlaSliAbsent", [{"contract": "gold"}, {"contract": "silver"}]),
            ],
        ),
        Case(
            "RPO clause broken; RTO half gone",
            {
                series("dui_sla_clause_compliant", **GOLD, clause="rpo"): "1x10 0x20",
                series("dui_sla_incident_duration_seconds", **GOLD): "0+60x200",
            },
            [
                ("10m", "DuiSlaRpoBreached", []),
                ("20m", "DuiSlaRpoBreached", [{**GOLD, "clause": "rpo"}]),
                ("119m", "DuiSlaRtoAtRisk", []),
                ("121m", "DuiSlaRtoAtRisk", []),  # for: 2m
                ("125m", "DuiSlaRtoAtRisk", [GOLD]),
            ],
        ),
        Case(
            "the incident duration flaps to 0 every other minute, then holds",
            {series("dui_sla_incident_duration_seconds", **GOLD): "7300 0 7300 0 7300 0 7300x5"},
            [("4m", "DuiSlaRtoAtRisk", []), ("8m", "DuiSlaRtoAtRisk", [GOLD])],
        ),
        Case(
            "last backup and restore test at t=0",
            {
                series("dui_backup_last_success_timestamp_seconds", **GOLD): "0x2300",
                series("dui_restore_test_last_success_timestamp_seconds", **GOLD): "0x2300",
            },
            [
                ("23h", "DuiBackupTooOld", []),
                ("26h", "DuiBackupTooOld", [GOLD]),
                ("89d", "DuiRestoreTestOverdue", []),
                ("91d", "DuiRestoreTestOverdue", [GOLD]),
            ],
            interval="1h",
            hours=True,
        ),
        Case(
            "one agent of s1 silent, every agent of s2 silent",
            {
                series("dui_agent_up", **agent, agent="a1"): "0x30",
                series("dui_agent_up", **agent, agent="a2"): "1x30",
                series("dui_agent_up", org="o1", site="s2", agent="b1"): "0x30",
            },
            [
                ("10m", "DuiAgentSilent", []),
                ("20m", "DuiSiteSilent", [{"org": "o1", "site": "s2"}]),  # s1 still has a2
                ("10m", "DuiSiteSilent", []),
                (
                    "20m",
                    "DuiAgentSilent",
                    [{**agent, "agent": "a1"}, {"org": "o1", "site": "s2", "agent": "b1"}],
                ),
            ],
        ),
        Case(
            "the collector loses the broker at 10m for 20 min",
            {"dui_collector_mqtt_connected": "1x9 0x20 1x10"},
            [
                ("13m", "DuiCollectorBrokerDisconnected", []),
                ("16m", "DuiCollectorBrokerDisconnected", [{}]),
                ("35m", "DuiCollectorBrokerDisconnected", []),
            ],
        ),
        Case(
            "five results lost at 30m",
            {series("dui_agent_lost_results_total", **agent, agent="a1"): "0x30 5x100"},
            [
                ("29m", "DuiAgentLostResults", []),
                ("40m", "DuiAgentLostResults", [{**agent, "agent": "a1"}]),
                ("100m", "DuiAgentLostResults", []),
            ],
        ),
        Case(
            "clock offsets of +120 s, -120 s and 30 s",
            {
                series("dui_agent_clock_offset_seconds", **agent, agent="a1"): "120x30",
                series("dui_agent_clock_offset_seconds", **agent, agent="a2"): "-120x30",
                series("dui_agent_clock_offset_seconds", **agent, agent="a3"): "30x30",
            },
            [
                ("5m", "DuiAgentClockOffset", []),
                (
                    "20m",
                    "DuiAgentClockOffset",
                    [{**agent, "agent": "a1"}, {**agent, "agent": "a2"}],
                ),
            ],
        ),
        Case(
            "one certificate expires in 10 days, another in 20, seen from two sites;"
            " the internet reference's in 10 days is not the vendor's",
            tls("s1", "a1", "t1", 10)
            | tls("s2", "b1", "t1", 10)
            | tls("s1", "a1", "t2", 20)
            | tls("s1", "a1", "ref", 10, role="internet"),
            [
                ("5m", "DuiTlsCertExpiringSoon", []),
                ("20m", "DuiTlsCertExpiringSoon", [{"target": "t1", "role": "dui"}]),
            ],
        ),
    ]


def render(template: str, labels: dict[str, str]) -> str:
    """The {{ $labels.x }} templates the rules use (no $value), as Prometheus fills them."""
    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m.group(1), ""), template)


def expected_alert(rules: list[dict], alert: str, labels: dict[str, str]) -> dict:
    """promtool's exp_alerts entry: rule labels added, annotations rendered."""
    matching = [
        r
        for r in rules
        if r.get("alert") == alert
        and all(labels.get(k, v) == v for k, v in r["labels"].items() if k != "severity")
    ]
    assert len(matching) == 1, f"{alert} {labels}: {len(matching)} rules match"
    rule = matching[0]
    full = {**labels, **rule["labels"]}
    notes = {k: render(v, full) for k, v in rule["annotations"].items()}
    return {"exp_labels": full, "exp_annotations": notes}


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def write_tests(tmp_path: Path, rules_text: str, selected: list[Case], name: str) -> Path:
    (tmp_path / "rules.yml").write_text(rules_text, encoding="utf-8")
    rules = [r for g in yaml.safe_load(rules_text)["groups"] for r in g["rules"]]
    tests = []
    for case in selected:
        tests.append(
            {
                "name": case.name,
                "interval": case.interval,
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [expected_alert(rules, alert, x) for x in expected],
                    }
                    for at, alert, expected in case.checks
                ],
            }
        )
    hours = selected[0].hours
    doc = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1h" if hours else "1m",
        "tests": tests,
    }
    path = tmp_path / f"{name}_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def config():
    return load(CONFIG)


@needs_promtool
def test_promtool_check_rules(tmp_path: Path, config) -> None:
    for lang in ("fr", "en"):
        path = tmp_path / f"rules-{lang}.yml"
        path.write_text(build_rules(config, lang), encoding="utf-8")
        done = promtool("check", "rules", path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"SUCCESS: {len(all_rules(config))} rules found" in done.stdout


@needs_promtool
@pytest.mark.parametrize("hours", [False, True], ids=["minutes", "hours"])
def test_promtool_unit_tests(tmp_path: Path, config, hours: bool) -> None:
    selected = [c for c in cases() if c.hours == hours]
    path = write_tests(tmp_path, build_rules(config), selected, "hours" if hours else "minutes")
    done = promtool("test", "rules", path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


def test_every_alert_has_a_firing_and_a_quiet_case(config) -> None:
    alerts = {r.alert for r in all_rules(config) if r.alert}
    fires = {alert for c in cases() for _, alert, expected in c.checks if expected}
    quiet = {alert for c in cases() for _, alert, expected in c.checks if not expected}
    assert alerts - fires == set()
    assert alerts - quiet == set()


def test_unconfigured_thresholds_leave_their_alert_out(config) -> None:
    silver = {
        r.alert for r in all_rules(config) if r.alert and r.labels.get("contract") == "silver"
    }
    assert silver == {BURN, SLOW, "DuiSlaSliAbsent"}
    gold = {r.alert for r in all_rules(config) if r.labels.get("contract") == "gold"}
    assert {"DuiSlaRtoAtRisk", "DuiBackupTooOld", "DuiRestoreTestOverdue"} <= gold


def test_thresholds_are_literals_from_each_objective(config) -> None:
    text = build_rules(config)
    assert 'dui:sla_error_ratio:rate1h{contract="gold"} > 0.0144' in text
    assert 'dui:sla_error_ratio:rate1h{contract="silver"} > 0.144' in text
    assert 'dui:sla_error_ratio:rate6h{contract="gold"} > 0.006' in text
    assert 'dui:sla_error_ratio:rate1d{contract="gold"} > 0.003' in text
    assert 'dui:sla_error_ratio:rate3d{contract="silver"} > 0.01' in text
    assert "|unknown" not in text and "down|unknown" not in text  # whatever the policy
    assert build_rules(config) == text  # deterministic


def test_languages(config) -> None:
    fr = yaml.safe_load(build_rules(config, "fr"))
    en = yaml.safe_load(build_rules(config, "en"))
    first = next(r for g in fr["groups"] for r in g["rules"] if r.get("alert") == BURN)
    first_en = next(r for g in en["groups"] for r in g["rules"] if r.get("alert") == BURN)
    assert first["annotations"]["summary"].startswith("Contrat")
    assert first["annotations"]["summary_en"] == first_en["annotations"]["summary"]
    assert first_en["annotations"]["description_fr"] == first["annotations"]["description"]
    with pytest.raises(ValueError, match="lang 'de'"):
        build_rules(config, "de")


def test_every_text_in_both_languages_and_filled(config) -> None:
    from dashboards.rules import strings

    for key, texts in strings().items():
        for lang in ("fr", "en"):
            assert set(texts[lang]) == {"summary", "description"}, (key, lang)
    for lang in ("fr", "en"):
        assert "[[" not in build_rules(config, lang)


def test_docs_are_up_to_date() -> None:
    from dashboards.alerts_docs import render_docs

    assert (ROOT / "docs" / "alerts.md").read_text(encoding="utf-8") == render_docs(), (
        "docs/alerts.md is stale: python -m dashboards.alerts_docs > docs/alerts.md"
    )


def test_alertmanager_example_routes() -> None:
    amtool = os.environ.get("AMTOOL") or shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (apt-get install prometheus-alertmanager, or set AMTOOL)")
    config = ROOT / "deploy" / "alertmanager.example.yml"
    done = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ticket = "severity=ticket"
    for labels, receiver in (
        (["severity=page", "contract=gold", f"alertname={BURN}"], "oncall-pager"),
        (["severity=page", "contract=gold", "alertname=DuiSlaRtoAtRisk"], "oncall-pager"),
        (["severity=page", "alertname=DuiCollectorBrokerDisconnected"], "oncall-pager"),
        ([ticket, "contract=gold", f"alertname={SLOW}"], "vendor-manager"),
        ([ticket, "target=t1", "alertname=DuiTlsCertExpiringSoon"], "vendor-manager"),
        ([ticket, "contract=gold", "alertname=DuiSlaSliAbsent"], "it-ops"),
        ([ticket, "site=pilot-a", "alertname=DuiPilotDuiSlow"], "pilot-team"),
        ([ticket, "site=s1", "alertname=DuiSiteSilent"], "it-ops"),
        (["severity=info", "site=s1", "alertname=DuiAgentSilent"], "info-log"),
    ):
        done = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={config}",
                f"--verify.receivers={receiver}",
                *labels,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"{labels}: {done.stdout}{done.stderr}"


OFFICE = """\
contracts:
  - id: office
    vendor: Vendor O
    targets: [dui-login]
    availability: {objective: 0.995}
    service_hours: {timezone: Europe/Paris, weekly: {mon-fri: "07:00-20:00"}}
  - id: low
    vendor: Vendor L
    targets: [dui-login]
    availability: {objective: 0.9}
"""


@pytest.fixture
def office(tmp_path: Path):
    path = tmp_path / "office.yaml"
    path.write_text(OFFICE, encoding="utf-8")
    return load(path)


def office_sla(down_minutes: int) -> dict[str, str]:
    """`office` up for 2 h of service hours, its last `down_minutes` minutes down; `low` up."""
    phases = [(120 - down_minutes, "up"), (down_minutes, "down")]
    out = {}
    for contract, vendor in (("office", "Vendor O"), ("low", "Vendor L")):
        for state in ("up", "down"):
            total, values = 0, ["0"]
            for minutes, current in phases if contract == "office" else [(120, "up")]:
                for _ in range(minutes):
                    total += 60 if current == state else 0
                    values.append(str(total))
            labels = {"contract": contract, "vendor": vendor, "state": state}
            out[series("dui_sla_seconds_total", **labels)] = " ".join(values)
    return out


def test_burn_factor_counts_service_hours(office) -> None:
    from dashboards.alerts_table import period_hours

    assert period_hours(office.contracts[0]) == pytest.approx(65 * 30 / 7)  # mon–fri 07–20
    assert period_hours(office.contracts[1]) == 720
    # 2 % of 0.5 % of ~279 h in 1 h: a 1h error ratio above 0.0279, not 0.072
    assert 'dui:sla_error_ratio:rate1h{contract="office"} > 0.02785714' in build_rules(office)


@needs_promtool
def test_promtool_service_hours_burn(tmp_path: Path, office) -> None:
    """2 down minutes in a service hour spend 2.4 % of a mon–fri 07–20 budget (83.6 min): it
    pages (the 720 h calibration wanted 5.2 min); 1 minute (1.2 %) stays quiet."""
    page = {"contract": "office", "vendor": "Vendor O", "window": "1h/5m", "severity": "page"}
    selected = [
        # the 6h tier sees only the 2 h of data: 2/120 > 5 % × 279 h / 6 h × 0.005
        Case(
            "2 down minutes in a service hour",
            office_sla(2),
            [("120m", BURN, [page, {**page, "window": "6h/30m"}])],
        ),
        Case("1 down minute in a service hour", office_sla(1), [("120m", BURN, [])]),
    ]
    path = write_tests(tmp_path, build_rules(office), selected, "office")
    done = promtool("test", "rules", path)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


def test_a_tier_that_cannot_fire_is_left_out(tmp_path: Path, office) -> None:
    """objective 0.9: the 1h tier's threshold is 14.4 × 0.1 = 1.44, above any error ratio."""
    text = build_rules(office)
    low = [r for r in all_rules(office) if r.alert and r.labels.get("contract") == "low"]
    windows = {r.labels["window"] for r in low if r.alert in (BURN, SLOW)}
    assert windows == {"6h/30m", "1d/2h", "3d/6h"}
    assert "# low: burn tier 1h/5m left out: a full outage over 1h spends less than 2 %" in text
    assert 'rate1h{contract="low"} >' not in text
    if PROMTOOL is not None:
        (tmp_path / "rules.yml").write_text(text, encoding="utf-8")
        done = promtool("check", "rules", tmp_path / "rules.yml")
        assert done.returncode == 0, done.stdout + done.stderr
