"""A day with known truth through the real ingest path into a real ledger, then
`dui-collector report`: minutes, incidents, RTO and penalty must equal the truth."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess

import pytest
import yaml

from collector import evidence
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.live import LiveSla
from collector.render.document import live_document
from tests.helpers import ROOT
from tests.helpers.batches import batch_json, results_topic
from tests.helpers.cli import collector_cli

DAY_START = dt.datetime(2026, 11, 17, tzinfo=dt.UTC)  # a Tuesday, service 24/7 here
T0 = int(DAY_START.timestamp())


def day_of_results(site: str, t0: int = T0) -> list[dict]:
    """Two http results and one gateway run per minute of the day starting at `t0`, with
    the day's events: a vendor outage 09:00-09:30, site b's LAN down 11:00-11:20, every
    page slow 14:00-14:10 (UTC)."""

    def within(t: int, start: str, end: str) -> bool:
        def at(hhmm: str) -> int:
            h, m = map(int, hhmm.split(":"))
            return t0 + h * 3600 + m * 60

        return at(start) <= t < at(end)

    out = []
    seq = 0
    for minute in range(1440):
        t = t0 + minute * 60
        vendor_down = within(t, "09:00", "09:30")
        lan_down = site == "site-b" and within(t, "11:00", "11:20")
        slow = within(t, "14:00", "14:10")
        for offset in (10, 40):
            seq += 1
            out.append(
                {
                    "seq": seq,
                    "ts": t + offset,
                    "probe": "http",
                    "target": "dui-login",
                    "role": "dui",
                    "success": not (vendor_down or lan_down),
                    "duration_seconds": 12.0 if slow else 0.4,
                    "error": "timeout" if vendor_down or lan_down else None,
                }
            )
        seq += 1
        out.append(
            {
                "seq": seq,
                "ts": t + 20,
                "probe": "latency",
                "target": "gateway",
                "role": "gateway",
                "success": not lan_down,
                "duration_seconds": 1.0,
                "error": "timeout" if lan_down else None,
                "loss_ratio": 1.0 if lan_down else 0.0,
                **({} if lan_down else {"rtt_seconds": {"min": 0.001, "avg": 0.002, "max": 0.003}}),
            }
        )
    return out


@pytest.fixture(scope="module")
def ledger_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("sla") / "ledger.db"
    ledger = SqliteLedger(path)
    ingest = Ingest(ledger, raw_retention=10 * 365 * 86400)
    for site, agent in (("site-a", "poste-1"), ("site-b", "poste-2")):
        results = day_of_results(site)
        epoch = f"{abs(hash(site)) % 16**16:016x}"
        for start in range(0, len(results), 400):
            payload = batch_json(results[start : start + 400], site=site, agent=agent, epoch=epoch)
            out = ingest.process(
                [(results_topic("og", site, agent), payload)], now=T0 + 86400 + 600
            )
            assert out.rejected_results == {}
    ledger.close()
    return path


def config(tmp_path, ledger_path) -> str:
    path = tmp_path / "collector.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "ledger": {"url": f"sqlite:///{ledger_path}"},
                "sites": {"site-a": {"name": "Clinique A"}},
                "contracts": [
                    {
                        "id": "dui-vendor-2026",
                        "vendor": "Éditeur DUI",
                        "targets": ["dui-login"],
                        "availability": {
                            "objective": 0.995,
                            "slow_threshold": "10s",
                            "min_sites": 1,
                            "incident_merge": "5m",
                        },
                        "service_hours": {"timezone": "Europe/Paris", "weekly": "always"},
                        "maintenance": {
                            "notice": "5d",
                            "windows": [
                                {
                                    "start": "2026-11-17T20:00:00Z",
                                    "end": "2026-11-17T21:00:00Z",
                                    "announced_at": "2026-11-11T20:00:00Z",
                                }
                            ],
                        },
                        "rto": "15m",
                        "penalties": {
                            "monthly_fee": 1500,
                            "per_step": {"below": 0.995, "step": 0.001, "percent_of_fee": 2},
                            "per_rto_breach_percent": 5,
                            "cap_percent": 60,
                        },
                    }
                ],
            },
            allow_unicode=True,
        )
    )
    return str(path)


def report(config_path: str, *period_and_extra: str) -> subprocess.CompletedProcess[str]:
    """`dui-collector report` of the contract for a period (`--month …` or `--from … --to …`)."""
    return collector_cli(
        "report", "--config", config_path, "--contract", "dui-vendor-2026", *period_and_extra
    )


def run_report(config_path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The report of the day with known truth, 17 November 2026 (UTC)."""
    return report(
        config_path, "--from", "2026-11-17T00:00:00Z", "--to", "2026-11-18T00:00:00Z", *extra
    )


def month_report(config_path: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """`dui-collector report` for the contract's November 2026."""
    return report(config_path, "--month", "2026-11", *extra)


def test_report_equals_the_truth(tmp_path, ledger_path) -> None:
    proc = run_report(config(tmp_path, ledger_path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    # 30 min vendor outage + 10 min slow = 40 down; 60 min maintenance announced 6 days
    # ahead; site b's 20 min LAN fault is local (its gateway failed too) and not down.
    assert r["minutes"] == {"up": 1340, "degraded": 0, "down": 40, "unknown": 0, "excluded": 60}
    assert r["availability_exact"] == "67/69"  # 1340 / 1380
    assert r["downtime_seconds"] == {"vendor": 2400, "local": 1200, "unknown": 0}
    assert [(i["start"], i["duration_seconds"], i["rto_breach"]) for i in r["incidents"]] == [
        ("2026-11-17T10:00:00+01:00", 1800, True),
        ("2026-11-17T15:00:00+01:00", 600, False),
    ]
    assert r["incidents"][0]["sites"] == ["site-a", "site-b"]
    # steps = ⌈(0.995 − 67/69) / 0.001⌉ = ⌈23.985…⌉ = 24 → 48 %, + 1 RTO breach × 5 % = 53 %
    assert r["penalty"] == {
        "amount": "795.00",
        "currency": "EUR",
        "steps": 24,
        "capped": False,
        "monthly_fee": "1500",
        "below": 0.995,
        "step": 0.001,
        "rounding": "started",
        "percent_per_step": "2",
        "rto_breaches": 1,
        "per_rto_breach_percent": "5",
        "rpo_breaches": 0,
        "per_rpo_breach_percent": "0",
        "percent": "53",
        "cap_percent": "60",
        "uncapped_amount": "795.00",
    }
    assert r["verdict"] == "fail" and r["coverage"] == pytest.approx(1.0)
    assert r["period"] == {"from": "2026-11-17T01:00:00+01:00", "to": "2026-11-18T01:00:00+01:00"}
    assert (r["timezone"], r["kind"]) == ("Europe/Paris", "period")
    assert r["terms"] == {
        "objective": 0.995,
        "min_coverage": 0.9,
        "rto_seconds": 900.0,
        "rto_clock": "wall",
        "rpo_seconds": None,
        "backup_every_seconds": None,
        "retention_seconds": None,
        "restore_test_every_seconds": None,
        "notice_seconds": 432000.0,
    }
    figures = r["clause_figures"]
    assert figures["availability"] == {
        "figure": pytest.approx(67 / 69),
        "target": 0.995,
        "compliant": False,
    }
    assert figures["rto"] == {"figure": 1800, "target": 900.0, "compliant": False, "breaches": 1}
    assert figures["rpo"] == {"figure": None, "target": None, "compliant": None, "breaches": 0}
    assert figures["restore_test"]["figure"] is None
    assert set(figures) == {
        "availability",
        "rto",
        "rpo",
        "backup_frequency",
        "retention",
        "restore_test",
    }
    # site a: 2 results a minute, the 60 of the outage failed, 20 slow ones at 12 s;
    # site b's gateway lost everything for its 20 min LAN fault (local, in service)
    a, b = r["sites"]["site-a"], r["sites"]["site-b"]
    assert (a["results"], a["p50_seconds"], a["p95_seconds"]) == (2880, 0.4, 0.4)
    assert (a["local_fault_seconds"], b["local_fault_seconds"]) == (0, 1200)
    assert a["gateway_rtt_seconds"] == pytest.approx(0.002) and a["gateway_loss_ratio"] == 0
    assert b["gateway_loss_ratio"] == pytest.approx(20 / 1440)
    assert a["rtt_seconds"] is None and (a["name"], b["name"]) == ("Clinique A", "site-b")
    # the day in Paris time: 17 Nov 01:00-24:00, then 18 Nov 00:00-01:00
    days = r["daily"]
    assert [d["date"] for d in days] == ["2026-11-17", "2026-11-18"]
    assert days[0]["minutes"] == {
        "up": 1280,
        "degraded": 0,
        "down": 40,
        "unknown": 0,
        "excluded": 60,
    }
    assert days[1]["minutes"]["up"] == 60 and days[1]["availability"] == 1.0
    assert days[0]["availability"] == pytest.approx(1280 / 1320)
    for state, total in r["minutes"].items():
        assert sum(d["minutes"][state] for d in days) == total, state
    assert days[1]["p95_seconds"] == {"site-a": 0.4, "site-b": 0.4}


REPORT_GOLDEN = ROOT / "tests" / "data" / "report.golden.json"


def test_report_json_equals_its_golden_file(tmp_path, ledger_path) -> None:
    """The whole JSON document of the day, field for field (DUI_UPDATE_GOLDEN=1 rewrites
    it: then read the diff)."""
    proc = run_report(config(tmp_path, ledger_path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    if os.environ.get("DUI_UPDATE_GOLDEN"):
        REPORT_GOLDEN.write_text(proc.stdout, encoding="utf-8")
    assert json.loads(proc.stdout) == json.loads(REPORT_GOLDEN.read_text(encoding="utf-8"))


def test_csv_and_html(tmp_path, ledger_path) -> None:
    path = config(tmp_path, ledger_path)
    rows = dict(csv.reader(io.StringIO(run_report(path, "--format", "csv").stdout)))
    assert rows["minutes.down"] == "40" and rows["penalty.amount"] == "795.00"
    assert rows["incidents.1.rto_breach"] == "false"
    html = run_report(path, "--format", "html", "--lang", "fr").stdout
    assert "97,101 %" in html and "795,00\xa0€" in html and "non conforme" in html


def test_report_usage_errors(tmp_path, ledger_path) -> None:
    path = config(tmp_path, ledger_path)
    unknown = collector_cli("report", "--config", path, "--contract", "nope", "--month", "2026-11")
    assert (
        unknown.returncode == 2
        and "no contract 'nope' (known: dui-vendor-2026)" in unknown.stderr
        and "Traceback" not in unknown.stderr
    )
    both = month_report(path, "--from", "2026-11-01", "--to", "2026-11-02")
    assert both.returncode == 2 and "give --month YYYY-MM, or both --from and --to" in both.stderr
    for month, message in {
        "2026-11 ": "--month '2026-11 ': write YYYY-MM",
        "2026-011": "--month '2026-011': write YYYY-MM",
        "+2026-11": "--month '+2026-11': write YYYY-MM",
        "2026-13": "--month '2026-13': write YYYY-MM",
        "9999-12": "period: years 2000 to 2199 only",
    }.items():
        proc = report(path, "--month", month)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "out of range" not in proc.stderr


def test_output_that_cannot_be_written_is_one_line(tmp_path, ledger_path) -> None:
    path = config(tmp_path, ledger_path)
    for target in (str(tmp_path), "/dev/full"):
        for fmt in ("html", "json", "csv"):
            proc = run_report(path, "--format", fmt, "-o", target)
            assert proc.returncode == 1, (target, fmt, proc.stderr)
            assert proc.stderr.startswith(f"dui-collector: error: cannot write --output {target}")
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def add_late_failures(path, now: float) -> int:
    """Late results: both sites failing at 03:00 on the day (3 of their 5 results that
    minute), in a new epoch; returns how many were stored."""
    ledger = SqliteLedger(path)
    ingest = Ingest(ledger, raw_retention=10 * 365 * 86400)
    stored = 0
    for site, agent in (("site-a", "poste-1"), ("site-b", "poste-2")):
        late = [
            {
                "seq": n,
                "ts": T0 + 3 * 3600 + 5 * n,
                "probe": "http",
                "target": "dui-login",
                "role": "dui",
                "success": False,
                "duration_seconds": 10.0,
                "error": "timeout",
            }
            for n in (1, 2, 3)
        ]
        payload = batch_json(late, site=site, agent=agent, epoch="feedfeedfeedfeed")
        out = ingest.process([(results_topic("og", site, agent), payload)], now=now)
        stored += len(out.accepted)
    ledger.close()
    return stored


def live_sla(config, path) -> LiveSla:
    """The live evaluation on its own ledger connection (closed with `live.ledger.close()`)."""
    return LiveSla(config, SqliteLedger(path))


def test_frozen_month_keeps_its_report(tmp_path, ledger_path) -> None:
    import shutil

    from collector.config import load

    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    path = config(tmp_path, copy)
    december_12 = dt.datetime(2026, 12, 12, tzinfo=dt.UTC).timestamp()  # Nov + close_after 10d
    live = live_sla(load(path), copy)
    live.tick(now=december_12)
    live.ledger.close()

    def november() -> dict:
        proc = month_report(path, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    before = november()
    assert before["frozen"] is True and before["minutes"]["down"] == 40
    # after the month was frozen
    assert add_late_failures(copy, now=december_12) == 6
    ledger = SqliteLedger(copy)
    assert ledger.verify_chain() is None
    ledger.close()
    assert november() == before, "a frozen month does not move"
    # the same month written as --from/--to is the frozen month too
    spelled = report(path, "--from", "2026-11-01", "--to", "2026-12-01", "--format", "json")
    assert json.loads(spelled.stdout) == before, "found by its bounds, not the --month text"
    day = json.loads(run_report(path, "--format", "json").stdout)
    assert day["minutes"]["down"] == 41, "a period report recomputes with the late data"
    # `incidents list` and `incidents note` see the incidents the frozen report shows
    listed = collector_cli(
        "incidents", "list", "--config", path, "--contract", "dui-vendor-2026",
        "--month", "2026-11", "--format", "json",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["incidents"] == before["incidents"]
    late_start = next(
        i["start"] for i in day["incidents"] if i["start"].startswith("2026-11-17T04")
    )
    refused = collector_cli(
        "incidents", "note", "--config", path, "--contract", "dui-vendor-2026",
        "--incident", late_start, "--cause", "x",
    )  # fmt: skip
    assert refused.returncode == 2 and "no incident of dui-vendor-2026 holds" in refused.stderr
    # a note chained after the freeze is shown; the frozen figures do not move
    noted = collector_cli(
        "incidents", "note", "--config", path, "--contract", "dui-vendor-2026",
        "--incident", "2026-11-17T10:00:00+01:00", "--cause", "coupure réseau éditeur",
    )  # fmt: skip
    assert noted.returncode == 0, noted.stderr
    after = november()
    assert [n["cause"] for n in after["incidents"][0]["notes"]] == ["coupure réseau éditeur"]
    after["incidents"][0]["notes"] = []
    assert after == before


def test_no_evaluated_minute(tmp_path, ledger_path) -> None:
    proc = collector_cli(
        "report",
        "--config",
        config(tmp_path, ledger_path),
        "--contract",
        "dui-vendor-2026",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-02",
        "--format",
        "json",
    )
    r = json.loads(proc.stdout)
    assert r["availability"] is None and r["verdict"] is None and r["penalty"] is None
    assert "no minute was evaluated" in r["availability_reason"]
    assert r["coverage"] == 0 and r["minutes"]["unknown"] == 1440


def test_live_evaluation_reads_only_what_arrived_and_equals_a_full_one(
    tmp_path, ledger_path
) -> None:
    import shutil

    from collector.config import load

    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    path = config(tmp_path, copy)
    contract = load(path).contracts[0]
    now = T0 + 3 * 86400  # the 20th: the 17th is in the current period
    live = live_sla(load(path), copy)
    first = live_document(live.evaluate(contract, now))
    assert first["minutes"]["down"] == 40
    assert add_late_failures(copy, now=now + 30) == 6
    point = dt.datetime.fromtimestamp(now - 3600, dt.UTC).isoformat()
    backup = {"contract": "dui-vendor-2026", "id": "bk", "status": "success"}
    backup |= {"started_at": point, "completed_at": point, "restore_point_at": point}
    ledger = SqliteLedger(copy)
    ledger.add_evidence("backup", [evidence.parse("backup", backup)], now)
    ledger.close()
    again = live_document(live.evaluate(contract, now + 60))
    live.ledger.close()
    fresh = live_sla(load(path), copy)
    full = live_document(fresh.evaluate(contract, now + 60))
    fresh.ledger.close()
    assert again["minutes"]["down"] == 41
    for key in ("minutes", "incidents", "downtime_seconds", "availability", "penalty"):
        assert again[key] == full[key], key
    for key in ("period_sites", "daily", "clause_figures"):
        assert again[key] == full[key], key
    # the state now: per site over the last hour, named; the month's figures beside it
    assert first["sites"] == {} and first["backup_age_seconds"] is None
    assert first["period_sites"]["site-a"]["name"] == "Clinique A"
    assert [d["date"] for d in first["daily"]] == [f"2026-11-{n:02d}" for n in range(1, 21)]
    assert again["backup_age_seconds"] == 3600 + 60, "a backup's point at 23:00 on the 19th"


def test_minutes_are_counted_once_across_a_month_rollover(tmp_path, ledger_path) -> None:
    import shutil
    import sqlite3

    from collector.config import load

    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    live = live_sla(load(config(tmp_path, copy)), copy)
    december = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC).timestamp()  # Paris midnight
    live.tick(now=december - 30 * 60)  # 23:30 in Paris on 30 November: counting starts
    live.tick(now=december + 20 * 60)  # 00:20 on 1 December: a new period
    live.ledger.close()
    db = sqlite3.connect(copy)
    minutes = [m for (m,) in db.execute("SELECT minute FROM sla_counted ORDER BY minute")]
    db.close()
    assert minutes == list(range(minutes[0], minutes[-1] + 1)), "no minute skipped"
    assert minutes[-1] == int((december + 20 * 60 - 300) // 60) - 1
