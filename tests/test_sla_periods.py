"""Periods in progress, coverage and the calendar error budget, against hand-computed
truth; maintenance windows of the config file chained when the collector loads them."""

from __future__ import annotations

import datetime as dt
import json
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
import yaml

from collector.config import parse
from collector.ledger import SqliteLedger
from collector.sla.engine import SiteMinute
from collector.sla.period import PeriodInputs, evaluate_period
from tests.helpers.broker import free_port
from tests.helpers.cli import collector_cli
from tests.helpers.inprocess import collector_in_process, replay_clock

PARIS = ZoneInfo("Europe/Paris")
NOV = dt.datetime(2026, 11, 1, tzinfo=PARIS)
DEC = dt.datetime(2026, 12, 1, tzinfo=PARIS)
MONTH_MINUTES = 30 * 1440  # November in Paris: no DST change


def contract(**availability):
    return parse(
        {
            "contracts": [
                {
                    "id": "c",
                    "targets": ["dui-login"],
                    "availability": {"objective": 0.995, **availability},
                }
            ]
        }
    ).contracts[0]


def period(contract_, records, evaluated_to):
    return evaluate_period(
        PeriodInputs(
            contract_,
            NOV,
            DEC,
            evaluated_to,
            records,
            [],
            [],
            [],
            min(evaluated_to, DEC),
            "sha256:" + "0" * 64,
        )
    )


def minute(t: dt.datetime) -> int:
    return int(t.timestamp()) // 60


def test_a_month_in_progress_counts_only_what_happened() -> None:
    """Two days evaluated: day one with evidence and 10 down minutes, day two silent."""
    first = minute(NOV)
    records = {
        m: {"site-a": SiteMinute(2, 2 if first + 600 <= m < first + 610 else 0)}
        for m in range(first, first + 1440)
    }
    r = period(contract(), records, NOV + dt.timedelta(days=2))
    assert not r.complete
    assert r.minutes == {"up": 1430, "degraded": 0, "down": 10, "unknown": 1440, "excluded": 0}
    assert sum(r.minutes.values()) == 2880, "minutes that have not happened are not counted"
    assert r.coverage == 0.5
    assert r.availability == Fraction(1430, 1440)
    # a report never says pass on a few minutes of evidence
    assert r.verdict is None and r.verdict_reason == "coverage"
    # budget = 0.005 × 43,200 service minutes of the whole month = 216 minutes
    assert r.service_minutes == MONTH_MINUTES
    assert r.error_budget_remaining_ratio == pytest.approx(1 - 10 / 216)


def test_one_down_minute_in_a_month_leaves_the_calendar_budget_nearly_whole() -> None:
    first = minute(NOV)
    records = {
        m: {"site-a": SiteMinute(1, 1 if m == first + 60 else 0)} for m in range(first, minute(DEC))
    }
    full = period(contract(), records, DEC)
    assert full.complete and full.coverage == 1.0 and full.verdict == "pass"
    assert round(full.error_budget_remaining_ratio, 4) == 0.9954
    # a trial a few minutes old, on the 3rd: pass at 100 % on 0.05 % coverage was the old
    # answer
    now = NOV + dt.timedelta(days=3)
    young = period(
        contract(), {minute(now) - 2: records[first], minute(now) - 1: records[first]}, now
    )
    assert young.availability == 1 and young.coverage == 2 / 4320
    assert young.verdict is None and young.verdict_reason == "coverage"
    # min_coverage 0 lets a thin period be judged, unknown-as-down spends the budget
    thin = period(contract(min_coverage=0, unknown="down"), {}, NOV + dt.timedelta(minutes=3))
    assert thin.verdict == "fail" and thin.minutes["unknown"] == 3
    assert thin.error_budget_remaining_ratio == pytest.approx(1 - 3 / 216)


def test_report_of_the_current_month_stops_at_the_last_final_minute(tmp_path) -> None:
    now = dt.datetime.now(PARIS)
    month = f"{now.year}-{now.month:02d}"
    SqliteLedger(tmp_path / "ledger.db").close()
    path = tmp_path / "collector.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}", "finalize_after": "5m"},
                "contracts": [
                    {"id": "c", "targets": ["dui-login"], "availability": {"objective": 0.995}}
                ],
            }
        )
    )
    proc = collector_cli(
        "report", "--config", str(path), "--contract", "c", "--month", month, "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    start = dt.datetime.fromisoformat(r["period"]["from"])
    evaluated_to = dt.datetime.fromisoformat(r["evaluated_to"])
    assert r["complete"] is False
    assert dt.timedelta(minutes=5) <= now - evaluated_to < dt.timedelta(minutes=7)
    assert sum(r["minutes"].values()) == (evaluated_to - start) // dt.timedelta(minutes=1)
    assert r["verdict"] is None and r["verdict_reason"] == "coverage"


def collector_config(tmp_path, windows: list[dict]) -> dict:
    return {
        "mqtt": {"listen": f"127.0.0.1:{free_port()}"},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "contracts": [
            {
                "id": "c",
                "targets": ["dui-login"],
                "availability": {"objective": 0.995},
                "maintenance": {"notice": "5d", "windows": windows},
            }
        ],
    }


def window(start: str, end: str, announced: str) -> dict:
    return {"start": start, "end": end, "announced_at": announced}


def month_report(config_path) -> dict:
    proc = collector_cli(
        "report",
        "--config",
        str(config_path),
        "--contract",
        "c",
        "--month",
        "2026-11",
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


async def test_config_windows_are_chained_and_edits_leave_a_trace(tmp_path) -> None:
    loaded = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC).timestamp()
    announced_in_time = window(
        "2026-11-28T20:00:00+01:00", "2026-11-28T23:00:00+01:00", "2026-11-20T10:00:00+01:00"
    )
    after_the_fact = window(
        "2026-11-10T20:00:00+01:00", "2026-11-10T21:00:00+01:00", "2026-11-01T10:00:00+01:00"
    )
    config = collector_config(tmp_path, [announced_in_time, after_the_fact])
    async with collector_in_process(tmp_path, config, replay_clock(loaded)) as collector:
        config_path = collector.config_path
    first = month_report(config_path)
    by_start = {w["start"]: w for w in first["maintenance"]}
    late = by_start["2026-11-10T20:00:00+01:00"]
    assert late["source"] == "config" and late["declared_after_the_fact"] is True
    assert late["announced_at"] == "2026-11-01T10:00:00+01:00"  # the OG's word, shown beside
    assert late["recorded_at"].startswith("2026-11-20T13:00")  # when the collector chained it
    assert by_start["2026-11-28T20:00:00+01:00"]["declared_after_the_fact"] is False

    # the OG edits the config: the window moves; the old one stays in the chain, as a trace
    moved = {
        **announced_in_time,
        "start": "2026-11-29T20:00:00+01:00",
        "end": "2026-11-29T23:00:00+01:00",
    }
    config = collector_config(tmp_path, [moved, after_the_fact])
    later = loaded + 86400
    async with collector_in_process(tmp_path, config, replay_clock(later)) as collector:
        config_path = collector.config_path
    second = {w["start"]: w for w in month_report(config_path)["maintenance"]}
    gone = second["2026-11-28T20:00:00+01:00"]
    assert gone["in_config"] is False and gone["excluded"] is False
    assert second["2026-11-29T20:00:00+01:00"]["in_config"] is True
    assert second["2026-11-29T20:00:00+01:00"]["recorded_at"].startswith("2026-11-21T13:00")
    ledger = SqliteLedger(tmp_path / "ledger.db")
    try:
        assert ledger.verify_chain() is None
        assert len(ledger.config_windows("c")) == 3
    finally:
        ledger.close()


def test_a_month_document_says_month_and_writes_each_clause_out() -> None:
    """November with one down minute, daily backups but the 4th's missing, a restore test
    on the 15th: each clause's figure is the one its check compared."""
    from collector import evidence
    from collector.render.document import period_document
    from collector.sla.daily import daily, day_starts
    from collector.sla.sites import Durations

    c = parse(
        {
            "contracts": [
                {
                    "id": "c",
                    "targets": ["dui-login"],
                    "availability": {"objective": 0.995},
                    "rto": "4h",
                    "rto_clock": "wall",
                    "rpo": "24h",
                    "backups": {"every": "24h", "retention": "3d", "restore_test_every": "90d"},
                    "penalties": {
                        "monthly_fee": 1234.5,
                        "per_step": {"below": 0.999, "step": 0.0005, "percent_of_fee": 1.5},
                        "per_rpo_breach_percent": 3,
                        "cap_percent": 2,
                    },
                }
            ]
        }
    ).contracts[0]
    first = minute(NOV)
    records = {
        m: {"site-a": SiteMinute(1, 1 if m == first + 60 else 0)} for m in range(first, minute(DEC))
    }

    def backup(n: int) -> evidence.Backup:
        at = dt.datetime(2026, 11, n, 1, 0, tzinfo=dt.UTC).isoformat()
        return evidence.parse(
            "backup",
            {"contract": "c", "id": f"bk-{n}", "status": "success", "started_at": at}
            | {"completed_at": at, "restore_point_at": at},
        )

    restore = evidence.parse(
        "restore_test",
        {"contract": "c", "id": "rt", "status": "success"}
        | {"performed_at": "2026-11-15T09:00:00Z", "duration_seconds": 9000},
    )
    backups = [backup(n) for n in (1, 2, 3, 5, 6, *range(7, 31))]
    r = evaluate_period(
        PeriodInputs(c, NOV, DEC, DEC, records, [], backups, [restore], DEC, "sha256:" + "0" * 64)
    )
    doc = period_document(r)
    assert (doc["kind"], doc["timezone"]) == ("month", "Europe/Paris")
    f = doc["clause_figures"]
    assert f["availability"]["figure"] == pytest.approx(43199 / 43200)
    assert f["rto"] == {"figure": 60, "target": 14400.0, "compliant": True, "breaches": 0}
    assert f["rpo"] == {"figure": 2 * 86400, "target": 86400.0, "compliant": False, "breaches": 1}
    assert f["backup_frequency"] == {"figure": 2 * 86400, "target": 86400.0, "compliant": False}
    # no expiry: the 1st's point is still held at the end (1 Dec 00:00 Paris = 30 Nov 23:00 UTC)
    assert f["retention"]["figure"] == (29 * 86400 + 22 * 3600) and f["retention"]["compliant"]
    assert f["restore_test"] == {
        "figure": (15 * 86400 + 14 * 3600),  # 15 Nov 09:00 UTC → 30 Nov 23:00 UTC
        "target": 90 * 86400.0,
        "compliant": True,
        "duration_seconds": 9000,
        "duration_target": 14400.0,
    }
    # A = 43199/43200 ≥ 0.999: no step; 1 RPO breach × 3 % = 37.035 → 37.04, capped at 2 %
    assert doc["penalty"] == {
        "amount": "24.69",
        "currency": "EUR",
        "steps": 0,
        "capped": True,
        "monthly_fee": "1234.5",
        "below": 0.999,
        "step": 0.0005,
        "rounding": "started",
        "percent_per_step": "1.5",
        "rto_breaches": 0,
        "per_rto_breach_percent": "0",
        "rpo_breaches": 1,
        "per_rpo_breach_percent": "3",
        "percent": "3",
        "cap_percent": "2",
        "uncapped_amount": "37.04",
    }
    assert period_document(period(contract(), {}, DEC - dt.timedelta(days=1)))["kind"] == "month"
    vsr = evaluate_period(
        PeriodInputs(c, NOV, NOV + dt.timedelta(days=7), NOV, {}, [], [], [], NOV, "sha256:")
    )
    assert period_document(vsr)["kind"] == "period"
    # October in Paris has 25 h on the 25th: 31 days, their minutes sum to the month's
    oct1 = dt.datetime(2026, 10, 1, tzinfo=PARIS)
    starts = day_starts(oct1, NOV, PARIS)
    states = dict.fromkeys(range(minute(oct1), minute(NOV)), "up")
    days = daily(starts, states, minute(NOV), Durations(), "excluded")
    assert len(days) == 31 and days[24].minutes["up"] == 1500
    assert sum(d.minutes["up"] for d in days) == len(states)
    partial = daily(starts, states, minute(oct1) + 1441, Durations(), "excluded")
    assert [d.minutes["up"] for d in partial] == [1440, 1], "only the days begun"


def test_site_figures_on_known_durations() -> None:
    """Nearest-rank p50/p95 of the successful results, per site and per day."""
    from collector.ledger.types import ResultRow
    from collector.sla.sites import collect_durations, latency_sums, site_figures

    first = minute(NOV)
    rows = [
        ResultRow(first + n, "a", "dui-login", "dui", "http", True, float(n + 1))
        for n in range(100)  # 1 … 100 s on day one
    ]
    rows += [
        ResultRow(first + 1440, "a", "dui-login", "dui", "http", False, 500.0),  # failed
        ResultRow(first + 1441, "a", "dui-login", "dui", "http", True, 7.0),  # day two
        ResultRow(first - 1, "a", "dui-login", "dui", "http", True, 900.0),  # before
    ]
    durations = collect_durations(rows, [first, first + 1440], first, first + 2880)
    assert durations.by_day[(1, "a")] == [7.0] and len(durations.by_day[(0, "a")]) == 100
    body = json.dumps({"rtt_seconds": {"avg": 0.03}, "loss_ratio": 0.1}).encode()
    gateway = json.dumps({"rtt_seconds": {"avg": 0.001}, "loss_ratio": 0.0}).encode()
    (a,) = site_figures(
        durations,
        latency_sums([("a", body), ("a", body)]),
        latency_sums([("a", gateway)]),
        {"a": 3},
        {"a": "Site A"},
    ).values()
    # 101 values: p50 = the 51st (= 50, with 7 among them), p95 = the 96th
    assert (a.name, a.results, a.p50_seconds, a.p95_seconds) == ("Site A", 102, 50.0, 95.0)
    assert (a.rtt_seconds, a.loss_ratio) == (0.03, 0.1)
    assert (a.gateway_rtt_seconds, a.gateway_loss_ratio, a.local_fault_seconds) == (0.001, 0, 180)
