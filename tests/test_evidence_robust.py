"""The worst evidence an older version could have chained (year 1 or 9999, completed before
started, restore points in the future, huge sizes, nulls, even a record that no longer
parses) stored straight into the ledger: every output still renders."""

from __future__ import annotations

import asyncio
import json
import time

import yaml

from collector.config import parse
from collector.ledger import SqliteLedger
from collector.live import LiveSla
from tests.helpers.cli import collector_cli
from tests.helpers.inprocess import collector_in_process
from tests.test_evidence import collector_config

C = "dui-vendor-2026"
WORST_BACKUPS = [
    {
        "id": "far-future",
        "status": "success",
        "started_at": "2026-11-22T01:00:00Z",
        "completed_at": "9999-12-31T23:59:59Z",
        "restore_point_at": "2026-11-22T01:00:00Z",
    },
    {
        "id": "all-9999",
        "status": "success",
        "started_at": "9999-12-31T23:59:59Z",
        "completed_at": "9999-12-31T23:59:59Z",
        "restore_point_at": "9999-12-31T23:59:59Z",
        "expires_at": "9999-12-31T23:59:59Z",
        "size_bytes": 18446744073709551615,
    },
    {
        "id": "year-1",
        "status": "success",
        "started_at": "0001-01-01T00:00:00Z",
        "completed_at": "0001-01-01T00:00:00Z",
        "restore_point_at": "0001-01-01T00:00:00Z",
        "expires_at": "9999-12-31T23:59:59Z",
    },
    {
        "id": "backwards",
        "status": "success",
        "started_at": "2026-11-20T05:00:00Z",
        "completed_at": "2026-11-20T01:00:00Z",
        "restore_point_at": "2026-11-21T01:00:00Z",
        "expires_at": "2026-11-01T00:00:00Z",
    },
    {
        "id": "nulls",
        "status": "success",
        "started_at": "2026-11-19T01:00:00Z",
        "completed_at": None,
        "restore_point_at": None,
        "expires_at": None,
        "size_bytes": None,
    },
    {
        "id": "offsets",
        "status": "success",
        "started_at": "0001-01-01T00:00:00+14:00",
        "completed_at": "9999-12-31T23:59:59-14:00",
        "restore_point_at": "0001-01-01T00:00:00+14:00",
    },
]
WORST_TESTS = [
    {"id": "rt-9999", "status": "success", "performed_at": "9999-12-31T23:59:59Z",
     "duration_seconds": 1e308},
    {"id": "rt-1", "status": "success", "performed_at": "0001-01-01T00:00:00Z",
     "restore_point_at": "9999-12-31T23:59:59Z", "duration_seconds": None},
    {"id": "rt-huge", "status": "success", "performed_at": "2026-11-15T00:00:00Z",
     "duration_seconds": 1e308},
]  # fmt: skip


def chain_raw(path, kind: str, key: str, record: str) -> None:
    """Append a record to the chain as an older version would have: no validation."""
    ledger = SqliteLedger(path)
    with ledger.transaction():
        ledger._append(kind, C, key, record, time.time())
    ledger.close()


def store_worst(path) -> None:
    for b in WORST_BACKUPS:
        record = {"contract": C, "kind": "full", **b}
        chain_raw(path, "backup", b["id"], json.dumps(record, sort_keys=True))
    for t in WORST_TESTS:
        chain_raw(path, "restore_test", t["id"], json.dumps({"contract": C, **t}))
    chain_raw(path, "backup", "garbage", '{"contract": "dui-vendor-2026", "id": 3}')
    chain_raw(path, "restore_test", "not-json", "{")
    for start, end in (("0001-01-01T00:00:00+00:00", "0001-01-01T01:00:00+00:00"),
                       ("9999-12-31T22:00:00+00:00", "9999-12-31T23:59:59+00:00"),
                       ("2026-11-20T00:00:00+00:00", "2026-11-19T00:00:00+00:00"),
                       ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00")):  # fmt: skip
        body = json.dumps({"start": start, "end": end, "reason": None}, sort_keys=True)
        chain_raw(path, "maintenance", f"{start}/{end}", body)
    chain_raw(path, "maintenance", "broken", '{"start": "soon"}')


def write_config(tmp_path) -> tuple[dict, str]:
    raw = collector_config(tmp_path)
    raw["contracts"][0]["service_hours"] = {"timezone": "Europe/Paris"}
    raw["contracts"][0]["penalties"] = {"monthly_fee": 1000, "per_rpo_breach_percent": 2}
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(raw))
    return raw, str(path)


def test_worst_stored_records_render_in_every_report_format(tmp_path) -> None:
    _, config = write_config(tmp_path)
    store_worst(tmp_path / "ledger.db")
    for fmt in ("json", "csv", "html"):
        for period in (("--month", "2026-11"), ("--from", "2026-10-01", "--to", "2027-01-01")):
            proc = collector_cli(
                "report", "--config", config, "--contract", C, "--format", fmt, *period
            )
            assert proc.returncode == 0, proc.stderr
            assert "Traceback" not in proc.stderr
    proc = collector_cli("report", "--config", config, "--contract", C, "--month", "2026-11",
                         "--format", "json")  # fmt: skip
    document = json.loads(proc.stdout)
    backups = document["backups"]
    # none of the implausible records counts, and each is listed with why
    assert backups["last_success"] is None and backups["rpo_compliant"] is False
    ignored = {(i["kind"], i["id"]): i["reason"] for i in document["evidence_ignored"]}
    assert ignored[("backup", "year-1")].startswith("started_at: ")
    assert ignored[("backup", "backwards")] == "completed_at: before started_at"
    assert ignored[("restore_test", "rt-huge")].startswith("duration_seconds: ")
    assert ("backup", "nulls") not in ignored  # plausible, only incomplete


def test_worst_stored_records_in_the_live_evaluation(tmp_path) -> None:
    raw, _ = write_config(tmp_path)
    store_worst(tmp_path / "ledger.db")
    ledger = SqliteLedger(tmp_path / "ledger.db")
    live = LiveSla(parse(raw), ledger)
    assert live.tick(time.time()) == []
    assert live.reports[C].period.backups.rpo_compliant is False
    ledger.close()


async def test_worst_stored_records_in_the_contracts_api(tmp_path, mosquitto) -> None:
    raw, _ = write_config(tmp_path)
    raw["mqtt"] = {"url": mosquitto.url}
    store_worst(tmp_path / "ledger.db")
    async with collector_in_process(tmp_path, raw, time.time) as collector:
        status, body = await asyncio.to_thread(collector.get, f"/api/v1/contracts/{C}")
        assert status == 200, body
        assert json.loads(body)["contract"] == C
        metrics = await asyncio.to_thread(collector.get, "/metrics")
        assert metrics[0] == 200
