"""/metrics from the one catalogue: a rich exposition equals its golden file, every family
shows, promtool finds nothing to say, and docs/metrics.md is the catalogue's."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from collector.config import parse
from collector.evidence import parse as parse_evidence
from collector.ingest import Accepted, Outcome
from collector.metrics import docs
from collector.metrics.catalogue import FAMILIES
from collector.metrics.exposition import Exposition
from collector.metrics.samples import result_samples
from collector.sla.engine import SiteMinute
from collector.sla.now import SiteNow, live_report
from collector.sla.period import PeriodInputs, evaluate_period
from collector.state import State
from tests.helpers import ROOT
from tests.helpers.batches import decoded_result
from tests.test_collector_metrics import RESULTS as ONE_OF_EACH
from wire.schema import AgentStatus

GOLDEN = ROOT / "tests" / "data" / "metrics.golden.prom"
NOW = 1_795_000_000.0  # 2026-11-18T08:26:40Z
START = dt.datetime(2026, 11, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
END = dt.datetime(2026, 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def result(probe: str, target: str, role: str, **extra):
    return decoded_result(probe, target, role, NOW - 30, **extra)


RESULTS = [
    result(
        "http",
        "dui-login",
        "dui",
        status_code=200,
        tls_expiry_ts=1.8e9,
        duration_seconds=0.002,
        phases={
            "resolve": 0.0001,
            "connect": 0.0003,
            "tls": 0.0006,
            "processing": 0.001,
            "transfer": 0.0001,
        },
    ),
    result("dns", "dui-login", "dui", duration_seconds=0.004),
    *ONE_OF_EACH[2:],  # latency, bandwidth, a failed http, context
]


def contract_report():
    """The live report of a contract with every clause: 30 down minutes on the 17th."""
    config = parse(
        {
            "contracts": [
                {
                    "id": "dui-vendor-2026",
                    "vendor": "Éditeur DUI",
                    "targets": ["dui-login"],
                    "availability": {"objective": 0.9995},
                    "rto": "4h",
                    "rpo": "24h",
                    "backups": {"every": "24h", "retention": "7d", "restore_test_every": "90d"},
                    "penalties": {
                        "monthly_fee": 1500,
                        "per_step": {"below": 0.9995, "step": 0.001, "percent_of_fee": 2},
                    },
                }
            ]
        }
    )
    contract = config.contracts[0]
    first, now_minute = int(START.timestamp()) // 60, int(NOW // 60)
    down = range(now_minute - 24 * 60, now_minute - 24 * 60 + 30)
    records = {
        m: {"site-a": SiteMinute(2, 2 if m in down else 0)} for m in range(first, now_minute)
    }
    backup = parse_evidence(
        "backup",
        {
            "contract": contract.id,
            "id": "bk-1",
            "status": "success",
            "started_at": "2026-11-18T01:00:00Z",
            "completed_at": "2026-11-18T01:40:00Z",
            "restore_point_at": "2026-11-18T01:00:00Z",
        },
    )
    restore = parse_evidence(
        "restore_test",
        {
            "contract": contract.id,
            "id": "rt-1",
            "status": "success",
            "performed_at": "2026-11-15T09:00:00Z",
            "restore_point_at": "2026-11-14T01:00:00Z",
            "duration_seconds": 9000,
        },
    )
    period = evaluate_period(
        PeriodInputs(
            contract,
            START,
            END,
            dt.datetime.fromtimestamp(now_minute * 60, dt.UTC),
            records,
            [],
            [backup],
            [restore],
            dt.datetime.fromtimestamp(NOW, dt.UTC),
            "sha256:" + "ab" * 32,
        )
    )
    evaluated = now_minute - first
    assert period.availability == Fraction(evaluated - 30, evaluated)
    sites = {"site-a": SiteNow(0.41, 0.0, "ok")}
    return live_report(period, NOW, sites, {"up": 1000, "down": 30})


def rich_state() -> State:
    state = State(stale_after=300, forget_after=86400)
    state.apply(
        Outcome(
            statuses=[
                (
                    "og",
                    "s1",
                    "stale",
                    AgentStatus(
                        v=1,
                        state="online",
                        version='1.0 "beta"\\x',
                        os="Windows\n10",
                        spool_results=3,
                        dropped_results=2,
                        ignored_acks=1,
                    ),
                )
            ]
        ),
        now=NOW - 600,
    )
    state.apply(
        Outcome(
            seen=[("og", "s1", "a1", -0.5), ("og", "s2", "a2", None)],
            accepted=[
                Accepted("og", site, agent, r, NOW - 30)
                for site, agent in (("s1", "a1"), ("s2", "a2"))
                for r in RESULTS
            ],
            messages={"accepted": 2, "duplicate": 1},
            rejected_messages={"invalid": 1},
            rejected_results={"future": 1},
            lags=[1.0, 30.0],
            lost={("og", "s1", "a1"): 4},
            # usage per site and minute: 2 of 3 workstations in use in the minute that
            # ended 60 s to 2 min ago, 1 in the minute before
            usage=[("og", "s1", int(NOW // 60) - 2, u) for u in (True, True, False)]
            + [("og", "s1", int(NOW // 60) - 3, u) for u in (True, False)],
        ),
        now=NOW,
    )
    state.mqtt_connected = True
    state.task_failures["prune"] = 1
    state.sla = {"dui-vendor-2026": contract_report()}
    return state


def exposition() -> str:
    text = Exposition(rich_state()).render(now=NOW).decode()
    return "".join(line + "\n" for line in text.splitlines() if "process_" not in line)


def test_rich_exposition_equals_its_golden_file() -> None:
    text = exposition()
    if os.environ.get("DUI_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the exposition changed: check the diff, then DUI_UPDATE_GOLDEN=1 pytest this test"
    )


def test_every_family_of_the_catalogue_has_samples() -> None:
    text = exposition()
    for family in FAMILIES:
        assert f"# TYPE {family.name} {family.type}\n" in text
        assert (
            f"\n{family.name}{{" in text
            or f"\n{family.name} " in text
            or (f"\n{family.name}_bucket{{" in text)
        ), family.name


def test_probe_kind_metrics_name_known_kinds_and_families() -> None:
    from collector.metrics.catalogue import BY_NAME
    from collector.metrics.samples import KIND_SAMPLES
    from wire.probes import PROBE_NAMES

    assert set(KIND_SAMPLES) <= set(PROBE_NAMES)
    for kind in PROBE_NAMES:
        r = next((r for r in RESULTS if r.probe == kind), None)
        if r is not None:
            for name, _, _ in result_samples(kind, r):
                assert name in BY_NAME, name


def test_http_response_buckets_start_at_5_ms() -> None:
    """A 2 ms page lands in the 5 ms bucket, so a p95 no longer reads 95 ms."""
    text = exposition()
    site = 'dui_http_response_seconds_bucket{org="og",site="s1"'
    line = next(x for x in text.splitlines() if x.startswith(site) and 'le="0.005"' in x)
    assert line.endswith(" 1.0")


def test_sla_figures_come_from_the_typed_report() -> None:
    text = exposition()
    ids = 'contract="dui-vendor-2026",vendor="Éditeur DUI"'
    assert f'dui_sla_seconds_total{{{ids},state="down"}} 1800.0' in text
    assert f'dui_sla_period_seconds{{{ids},state="down"}} 1800.0' in text
    up = (int(NOW // 60) - int(START.timestamp()) // 60 - 30) * 60
    assert f'dui_sla_period_seconds{{{ids},state="up"}} {up}.0' in text
    assert f"dui_sla_penalty_amount{{{ids}}} 30.0" in text


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: ./dui test installs Debian's prometheus package")
        pytest.skip("promtool not installed (Debian package prometheus)")
    return path


def test_promtool_check_metrics_is_clean() -> None:
    full = Exposition(rich_state()).render(now=NOW)
    proc = subprocess.run(
        [promtool(), "check", "metrics"], input=full, capture_output=True, timeout=60
    )
    # The one lint kept: dui_site_usage_minutes_total is a name DESIGN.md fixes, and it
    # counts workstation-minutes (usage results), not a duration to express in seconds.
    allowed = {'dui_site_usage_minutes_total use base unit "seconds" instead of "minutes"'}
    findings = [
        line
        for line in (proc.stdout.decode() + proc.stderr.decode()).splitlines()
        if line.strip() and line.strip() not in allowed
    ]
    assert proc.returncode in (0, 3) and not findings, "\n".join(findings)  # 3: lint findings


def test_docs_metrics_md_is_generated_from_the_catalogue() -> None:
    path = Path(ROOT) / "docs" / "metrics.md"
    assert path.read_text(encoding="utf-8") == docs.markdown(), (
        "docs/metrics.md is stale: python -m collector.metrics.docs > docs/metrics.md"
    )


def test_one_agent_cannot_grow_metrics_without_bound() -> None:
    """200 invented targets from one known agent: 64 series shown, the rest counted."""
    from collector.state import MAX_SERIES_SLOTS

    state = State(stale_after=300, forget_after=86400)
    invented = [result("dns", f"t{i}", "dui") for i in range(200)]
    state.apply(Outcome(accepted=[Accepted("og", "s1", "a1", r, NOW) for r in invented]), now=NOW)
    text = Exposition(state).render(now=NOW).decode()
    shown = {
        line.split('target="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("dui_probe_success{")
    }
    assert len(shown) == MAX_SERIES_SLOTS == 64
    assert "dui_collector_capped_results_total 136.0" in text
    assert state.results_stored == 200
