"""The readiness round of the real service: results stored through the real ingest into a
SQLite ledger, the collector started on it, and /metrics read over HTTP says what
`evaluate` says (every prerequisite met or not, the verdicts, the workstations); a round
that fails shows in /healthz and the next one recovers."""

from __future__ import annotations

import asyncio

from collector.config import load
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.readiness.evaluate import evaluate
from tests.helpers.inprocess import collector_in_process, fails_then_recovers, replay_clock
from tests.helpers.inventories import WIN10_PRO
from tests.helpers.poll import await_until
from tests.helpers.readiness import NOW, PREREQUISITES, Sites


def fill(path) -> None:
    """tilleuls: healthy but for too little bandwidth for its 4 users; chenes: one
    workstation on Windows 10 past its support (os_maintained fails), one unknown OS."""
    ledger = SqliteLedger(path)
    try:
        sites = Sites(Ingest(ledger, raw_retention=35 * 86400))
        sites.healthy("tilleuls", ["p1", "p2"])
        sites.bandwidth("tilleuls", "p1", [300_000, 400_000])
        sites.healthy("chenes", ["c1"])
        sites.workstation("chenes", "c2", os=WIN10_PRO)
        sites.workstation("chenes", "c3", os={"name": "Plan 9"})
    finally:
        ledger.close()


async def test_metrics_say_what_the_readiness_evaluation_says(tmp_path, mosquitto) -> None:
    fill(tmp_path / "ledger.db")
    config = {
        "mqtt": {"url": mosquitto.url},
        "sites": {"tilleuls": {"users": 4}, "chenes": {"users": 3, "pilot": True}},
        "prerequisites": PREREQUISITES,
    }
    async with collector_in_process(
        tmp_path, config, replay_clock(NOW), readiness_every=0.2
    ) as collector:

        async def exposed() -> dict[str, float] | None:
            values = await asyncio.to_thread(collector.metrics)
            return values if any(k.startswith("dui_site_ready{") for k in values) else None

        values = await await_until(exposed, 20, "readiness series on /metrics")
        ledger = SqliteLedger(collector.ledger_path)
        try:
            expected = evaluate(load(collector.config_path), ledger, NOW, pilot=False)
        finally:
            ledger.close()
        met = {k: v for k, v in values.items() if k.startswith("dui_prerequisite_met{")}
        want = {
            f'dui_prerequisite_met{{check="{c.id}",org="og",site="{s.site}"}}': float(s.met(c.id))
            for s in expected.sites
            for c in s.checks
            if s.met(c.id) is not None
        }
        assert met == want
        by = {s.site: s for s in expected.sites}
        # the site failing only on bandwidth per user, the other on its workstations' OS
        assert [c.id for c in by["tilleuls"].checks if c.verdict == "fail"] == ["download_per_user"]
        assert met['dui_prerequisite_met{check="download_per_user",org="og",site="tilleuls"}'] == 0
        assert met['dui_prerequisite_met{check="os_maintained",org="og",site="chenes"}'] == 0
        for site in ("tilleuls", "chenes"):
            assert values[f'dui_site_ready{{org="og",site="{site}"}}'] == 0
        counts = {
            m: values[f'dui_site_workstations{{org="og",os_maintained="{m}",site="chenes"}}']
            for m in ("true", "false", "unknown")
        }
        assert counts == {"true": 1, "false": 1, "unknown": 1}
        infos = [k for k in values if k.startswith("dui_workstation_info{")]
        assert len(infos) == 5
        c1 = next(w for w in by["chenes"].workstations if w.agent == "c1")
        age = values['dui_workstation_age_seconds{agent="c1",org="og",site="chenes"}']
        assert age == c1.age_seconds
        assert values['dui_workstation_ram_bytes{agent="c1",org="og",site="chenes"}'] == 16e9

        # the table the round reads goes away: /healthz says which round fails, then
        # recovers once it is back
        await fails_then_recovers(
            collector,
            "ALTER TABLE results RENAME TO results_away",
            "ALTER TABLE results_away RENAME TO results",
            "background task readiness failing",
            "the readiness round",
        )
