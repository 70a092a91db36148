"""The contract engine end to end: two sites' results for a day with known truth go
through a real Mosquitto into the collector, vendor evidence through its API; the
report equals the truth to the minute and the penalty to the cent, and /metrics and
/api/v1/contracts agree with it. The collector runs in the test's loop with an injected
clock set to the day after the day under test, and evaluates every 0.2 s."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.request

import aiomqtt
import pytest

from tests.helpers.batches import batch_json, results_topic
from tests.helpers.cli import collector_cli
from tests.helpers.inprocess import collector_in_process, replay_clock
from tests.helpers.poll import wait_until
from tests.test_evidence import post
from tests.test_sla_report import day_of_results

pytestmark = pytest.mark.timeout(300)

# The day under test, a Tuesday, and the collector's clock: 01:00 the next day.
T0 = int(dt.datetime(2026, 11, 17, tzinfo=dt.UTC).timestamp())
NOW = T0 + 86400 + 3600


def at(hhmm: str) -> int:
    h, m = map(int, hhmm.split(":"))
    return T0 + h * 3600 + m * 60


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()


async def publish_day(port: int) -> None:
    for site, agent in (("site-a", "poste-1"), ("site-b", "poste-2")):
        results = day_of_results(site, T0)
        epoch = "a" * 15 + site[-1]
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"{site}-{agent}") as client:
            await client.subscribe(f"dui/v1/og/{site}/{agent}/ack", qos=1)
            for start in range(0, len(results), 400):
                payload = batch_json(
                    results[start : start + 400],
                    site=site,
                    agent=agent,
                    epoch=epoch,
                    clock_offset_seconds=0,
                )
                await client.publish(results_topic("og", site, agent), payload, qos=1)
            async with asyncio.timeout(60):
                async for message in client.messages:
                    if json.loads(message.payload)["seq"] == len(results):
                        break


def contract(tmp_path) -> dict:
    token = tmp_path / "vendor-token"
    token.write_text("v3ndor\n")
    return {
        "id": "dui-vendor-2026",
        "vendor": "Éditeur DUI",
        "targets": ["dui-login"],
        "availability": {"objective": 0.995, "slow_threshold": "10s", "min_sites": 1},
        "service_hours": {"timezone": "Europe/Paris", "weekly": "always"},
        "maintenance": {
            "notice": "5d",
            "windows": [
                {
                    "start": iso(at("20:00")),
                    "end": iso(at("21:00")),
                    "announced_at": iso(at("20:00") - 6 * 86400),
                }
            ],
        },
        "rto": "15m",
        "rpo": "24h",
        "backups": {"every": "24h", "retention": "7d", "restore_test_every": "90d"},
        "penalties": {
            "monthly_fee": 1500,
            "per_step": {"below": 0.995, "step": 0.001, "percent_of_fee": 2},
            "per_rto_breach_percent": 5,
            "per_rpo_breach_percent": 3,
            "cap_percent": 80,
        },
        "evidence_token_file": str(token),
    }


async def test_contract_end_to_end(tmp_path, mosquitto) -> None:
    config = {"mqtt": {"url": mosquitto.url}, "contracts": [contract(tmp_path)]}
    async with collector_in_process(tmp_path, config, replay_clock(NOW)) as collector:
        await check_contract(collector, mosquitto.port)


async def check_contract(collector, broker_port: int) -> None:
    await publish_day(broker_port)
    api = f"{collector.url}/api/v1"
    # Daily backups for ten days, one missing three days ago (a 48 h gap); a restore
    # test four months old (late).
    for n in range(10, -1, -1):
        if n == 3:
            continue
        point = T0 + 86400 - n * 86400 + 3600
        status, _ = await asyncio.to_thread(
            post,
            f"{api}/evidence/backups",
            {
                "contract": "dui-vendor-2026",
                "id": f"bk-{n}",
                "status": "success",
                "started_at": iso(point),
                "completed_at": iso(point + 1800),
                "restore_point_at": iso(point),
                "expires_at": iso(point + 30 * 86400),
            },
            "v3ndor",
        )
        assert status == 201
    status, _ = await asyncio.to_thread(
        post,
        f"{api}/evidence/restore-tests",
        {
            "contract": "dui-vendor-2026",
            "id": "rt-old",
            "status": "success",
            "performed_at": iso(NOW - 120 * 86400),
            "duration_seconds": 3600,
        },
        "v3ndor",
    )
    assert status == 201

    config = collector.config_path
    proc = await asyncio.to_thread(
        collector_cli,
        "report",
        "--config",
        str(config),
        "--contract",
        "dui-vendor-2026",
        "--from",
        iso(T0),
        "--to",
        iso(T0 + 86400),
        "--format",
        "json",
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["minutes"] == {"up": 1340, "degraded": 0, "down": 40, "unknown": 0, "excluded": 60}
    assert r["downtime_seconds"] == {"vendor": 2400, "local": 1200, "unknown": 0}
    assert [(i["duration_seconds"], i["rto_breach"]) for i in r["incidents"]] == [
        (1800, True),
        (600, False),
    ]
    # The 48 h gap (14 → 16 Nov) exceeded the RPO on 15 Nov: charged to that period, not
    # to this day's, which it does not overlap either.
    assert r["backups"]["rpo_compliant"] is True and r["backups"]["rpo_breaches"] == 0
    assert r["backups"]["largest_gap_seconds"] == 86400
    assert r["restore_tests"]["compliant"] is False
    # 24 steps × 2 % + 1 RTO breach × 5 % = 53 % of 1 500 €
    penalty = {k: r["penalty"][k] for k in ("amount", "currency", "steps", "capped", "percent")}
    assert penalty == {
        "amount": "795.00",
        "currency": "EUR",
        "steps": 24,
        "capped": False,
        "percent": "53",
    }
    assert r["verdict"] == "fail" and r["evidence_chain_head"].startswith("sha256:")

    def current() -> dict:
        with urllib.request.urlopen(f"{api}/contracts/dui-vendor-2026", timeout=10) as resp:
            return json.loads(resp.read())

    live = await asyncio.to_thread(current)
    assert live["downtime_seconds"]["vendor"] >= 2400
    assert live["evidence_chain_head"] == r["evidence_chain_head"]
    down = 'contract="dui-vendor-2026",state="down",vendor="Éditeur DUI"'
    ids = 'contract="dui-vendor-2026",vendor="Éditeur DUI"'
    local = f'dui_sla_downtime_seconds{{attribution="local",{ids}}}'

    def evaluated_after_all_data() -> bool:
        # a tick may have run while only site a's results were in (40 down already)
        m = collector.metrics()
        return m.get(f"dui_sla_period_seconds{{{down}}}", 0) >= 40 * 60 and m.get(local, 0) >= 1200

    await asyncio.to_thread(wait_until, evaluated_after_all_data, 30, "the SLA gauges", 0.2)
    m = await asyncio.to_thread(collector.metrics)
    assert m[f'dui_sla_downtime_seconds{{attribution="local",{ids}}}'] >= 1200
    assert m[f"dui_sla_incidents{{{ids}}}"] >= 2
    assert m[f"dui_sla_rto_breaches{{{ids}}}"] >= 1
    assert m[f'dui_sla_clause_compliant{{clause="rpo",{ids}}}'] == 0
    assert m[f'dui_sla_clause_compliant{{clause="restore_test",{ids}}}'] == 0
    assert m[f"dui_sla_rto_target_seconds{{{ids}}}"] == 900
    assert m[f"dui_backup_last_success_timestamp_seconds{{{ids}}}"] > T0
