"""Vendor evidence: the API (tokens, schema, idempotence, conflicts), the CSV import (line
numbers, all or nothing), the checks against the contract, and the hash chain."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

import pytest
import yaml

from collector import evidence
from collector.config import parse
from collector.http import http_server
from collector.ledger import SqliteLedger
from collector.state import State
from tests.helpers.broker import free_port
from tests.helpers.cli import collector_cli

BACKUP = {
    "contract": "dui-vendor-2026",
    "id": "bk-2026-11-22",
    "kind": "full",
    "status": "success",
    "started_at": "2026-11-22T01:00:00Z",
    "completed_at": "2026-11-22T01:42:00Z",
    "size_bytes": 48000000000,
    "restore_point_at": "2026-11-22T01:00:00Z",
    "expires_at": "2026-12-22T01:00:00Z",
    "location": "secondary-datacenter",
    "checksum": "sha256:abc",
}
RESTORE = {
    "contract": "dui-vendor-2026",
    "id": "rt-2026-q4",
    "status": "success",
    "performed_at": "2026-11-15T09:00:00Z",
    "restore_point_at": "2026-11-14T01:00:00Z",
    "duration_seconds": 9000,
}


def post(url: str, body: dict | bytes, token: str | None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def collector_config(tmp_path) -> dict:
    token = tmp_path / "vendor-token"
    token.write_text("v3ndor-t0ken\n")
    return {
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "contracts": [
            {
                "id": "dui-vendor-2026",
                "targets": ["dui-login"],
                "availability": {"objective": 0.995},
                "rto": "4h",
                "rpo": "24h",
                "backups": {"every": "24h", "retention": "30d", "restore_test_every": "90d"},
                "maintenance": {"notice": "5d"},
                "evidence_token_file": str(token),
            }
        ],
    }


@pytest.fixture
async def api(tmp_path):
    config = parse(collector_config(tmp_path))
    ledger = SqliteLedger(config.ledger.sqlite_path)
    async with http_server(config, State(300, 3600), ledger) as port:
        yield f"http://127.0.0.1:{port}/api/v1", ledger
    ledger.close()


async def test_backup_evidence_api(api) -> None:
    base, ledger = api
    call = lambda *a: asyncio.to_thread(post, *a)  # noqa: E731
    assert (await call(f"{base}/evidence/backups", BACKUP, None))[0] == 401
    assert (await call(f"{base}/evidence/backups", BACKUP, "wrong"))[0] == 401
    status, body = await call(f"{base}/evidence/backups", BACKUP, "v3ndor-t0ken")
    assert status == 201 and body["created"] and body["chain_hash"].startswith("sha256:")
    received = body["received_at"]
    again = await call(f"{base}/evidence/backups", BACKUP, "v3ndor-t0ken")
    assert again[0] == 200 and not again[1]["created"] and again[1]["received_at"] == received
    same_instant = {**BACKUP, "started_at": "2026-11-22T02:00:00+01:00"}  # same time, other form
    assert (await call(f"{base}/evidence/backups", same_instant, "v3ndor-t0ken"))[0] == 200
    changed = {**BACKUP, "size_bytes": 1}
    status, body = await call(f"{base}/evidence/backups", changed, "v3ndor-t0ken")
    assert status == 409 and "other content" in body["error"]
    status, body = await call(
        f"{base}/evidence/backups", {**BACKUP, "id": "x", "status": "maybe"}, "v3ndor-t0ken"
    )
    assert status == 422 and body["error"].startswith("status:")
    status, body = await call(f"{base}/evidence/restore-tests", RESTORE, "v3ndor-t0ken")
    assert status == 201
    # an unknown contract answers like a wrong token, so that ids cannot be probed
    other = {**BACKUP, "contract": "other"}
    refused = (401, {"error": "wrong or missing bearer token"})
    assert await call(f"{base}/evidence/backups", other, "v3ndor-t0ken") == refused
    assert await call(f"{base}/evidence/backups", other, None) == refused
    assert await call(f"{base}/evidence/backups", BACKUP, None) == refused
    assert await call(f"{base}/evidence/backups", BACKUP, "é") == refused  # not a 500
    assert ledger.verify_chain() is None
    assert [b.id for b in ledger.evidence("backup", "dui-vendor-2026")] == ["bk-2026-11-22"]


async def test_maintenance_api_is_stamped_by_the_server(api) -> None:
    base, ledger = api
    before = dt.datetime.now(dt.UTC).timestamp()
    status, body = await asyncio.to_thread(
        post,
        f"{base}/maintenance",
        {
            "contract": "dui-vendor-2026",
            "start": "2027-01-10T20:00:00+01:00",
            "end": "2027-01-10T23:00:00+01:00",
            "reason": "upgrade",
            "announced_at": "2020-01-01T00:00:00Z",
        },
        None,
    )
    assert status == 201 and body["announced_at"] >= before  # the client's claim is ignored
    (window,) = ledger.maintenance("dui-vendor-2026")
    assert window.start == dt.datetime(2027, 1, 10, 19, 0, tzinfo=dt.UTC)


def test_chain_detects_an_edited_record(tmp_path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    for i in range(3):
        record = evidence.parse("backup", {**BACKUP, "id": f"bk-{i}"})
        ledger.add_evidence("backup", [record], time.time())
    head = ledger.chain_head()
    assert ledger.verify_chain() is None
    db = sqlite3.connect(tmp_path / "ledger.db")
    db.execute("UPDATE chain SET record = replace(record, '48000000000', '1') WHERE key = 'bk-1'")
    db.commit()
    db.close()
    assert "bk-1" in ledger.verify_chain() and "changed" in ledger.verify_chain()
    assert ledger.chain_head() == head  # the head the report printed no longer verifies
    ledger.close()


CSV_GOOD = """id;kind;status;started_at;completed_at;size_bytes;restore_point_at;expires_at
bk-1;full;success;2026-11-20T01:00:00Z;2026-11-20T01:40:00Z;48 000 000 000;2026-11-20T01:00:00Z;2026-12-20T01:00:00Z
bk-2;full;success;2026-11-21T01:00:00Z;2026-11-21T01:41:00Z;48000000000,0;2026-11-21T01:00:00Z;2026-12-21T01:00:00Z
"""
CSV_BAD = CSV_GOOD + "bk-3;full;success;yesterday;;;2026-11-22T01:00:00Z;\n"
CSV_RESTORE = """id,status,performed_at,restore_point_at,duration_seconds
rt-1,success,2026-11-15T09:00:00Z,2026-11-14T01:00:00Z,"9000,5"
"""


def import_csv(tmp_path, text: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "collector.yaml"
    if not config.exists():
        config.write_text(yaml.safe_dump(collector_config(tmp_path)))
    path = tmp_path / "evidence.csv"
    path.write_text(text)
    return collector_cli(
        "evidence",
        "import",
        "--config",
        str(config),
        "--contract",
        "dui-vendor-2026",
        str(path),
        timeout=60,
    )


def test_csv_import_all_or_nothing(tmp_path) -> None:
    bad = import_csv(tmp_path, CSV_BAD)
    assert bad.returncode == 1 and "line 4: started_at:" in bad.stderr
    assert "nothing imported" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "ledger.db").exists() or not SqliteLedger(
        tmp_path / "ledger.db"
    ).evidence("backup", "dui-vendor-2026")
    good = import_csv(tmp_path, CSV_GOOD)
    assert good.returncode == 0 and "2 backups imported" in good.stdout
    assert "0 backups imported, 2 already known" in import_csv(tmp_path, CSV_GOOD).stdout
    restore = import_csv(tmp_path, CSV_RESTORE)
    assert restore.returncode == 0 and "1 restore tests imported" in restore.stdout
    ledger = SqliteLedger(tmp_path / "ledger.db")
    (test,) = ledger.evidence("restore_test", "dui-vendor-2026")
    assert test.duration_seconds == 9000.5
    assert ledger.evidence("backup", "dui-vendor-2026")[0].size_bytes == 48_000_000_000
    ledger.close()


def day(n: int) -> dt.datetime:
    return dt.datetime(2026, 11, n, 1, 0, tzinfo=dt.UTC)


def backup(n: int, expires_days: int = 30) -> evidence.Backup:
    return evidence.parse(
        "backup",
        {
            "contract": "c",
            "id": f"bk-{n}",
            "status": "success",
            "started_at": day(n).isoformat(),
            "completed_at": day(n).isoformat(),
            "restore_point_at": day(n).isoformat(),
            "expires_at": (day(n) + dt.timedelta(days=expires_days)).isoformat(),
        },
    )


def test_backup_checks_gap_frequency_retention() -> None:
    daily = [backup(n) for n in (1, 2, 3, 5, 6)]  # the 4th is missing: a 48 h gap
    at = day(6) + dt.timedelta(hours=12)
    checks = evidence.check_backups(daily, at, rpo=86400, every=86400, retention=3 * 86400)
    assert checks.rpo_compliant is False and checks.largest_gap_seconds == 2 * 86400
    assert checks.rpo_breaches == 1 and checks.frequency_compliant is False
    assert checks.retention_compliant is True  # 1 Nov still held on the 6th
    # the figures the checks compared: the 48 h gap, the 1st's point 5.5 days old
    assert checks.frequency_gap_seconds == 2 * 86400
    assert checks.retention_seconds == 5.5 * 86400 and checks.latest_restore_point == day(6)
    short = [backup(n, expires_days=1) for n in (1, 2, 3, 4, 5, 6)]
    checks = evidence.check_backups(short, at, rpo=86400, every=86400, retention=3 * 86400)
    assert checks.rpo_compliant is True and checks.retention_compliant is False
    assert evidence.check_backups([], at, 86400, None, None).rpo_compliant is False


def test_restore_test_checks() -> None:
    late = evidence.parse("restore_test", {**RESTORE, "performed_at": "2026-07-01T09:00:00Z"})
    at = day(20)
    assert evidence.check_restore_tests([late], at, 90 * 86400, 4 * 3600).compliant is False
    recent = evidence.parse("restore_test", RESTORE)
    checks = evidence.check_restore_tests([recent], at, 90 * 86400, 4 * 3600)
    assert checks.compliant is True
    assert checks.age_seconds == (at - recent.performed_at).total_seconds()  # 4 d 16 h
    assert evidence.check_restore_tests([recent], at, 90 * 86400, 2 * 3600).compliant is False


def test_backup_command_copies_a_consistent_ledger(tmp_path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(collector_config(tmp_path)))
    ledger = SqliteLedger(tmp_path / "ledger.db")
    ledger.add_evidence("backup", [evidence.parse("backup", BACKUP)], time.time())
    head = ledger.chain_head()
    copy = tmp_path / "copy.db"
    proc = collector_cli("backup", "--config", str(config), "--output", str(copy), timeout=60)
    ledger.close()
    assert proc.returncode == 0 and "hash chain verified" in proc.stdout, proc.stderr
    restored = SqliteLedger(copy)
    assert restored.chain_head() == head and restored.verify_chain() is None
    restored.close()


@pytest.mark.parametrize("text", ["a\x00b", "dc\u202e1", "x\n"])
def test_free_text_with_control_characters_is_refused(text: str) -> None:
    """What a report shows must read as it was sent: no NUL, newline or bidi override."""
    with pytest.raises(ValueError, match="location: must not contain control characters"):
        evidence.parse("backup", {**BACKUP, "location": text})
    assert evidence.parse("backup", {**BACKUP, "location": "Datacenter Île-de-France"})
