"""`evidence void` and its API: a chained voiding entry, never an edit; the voided record
no longer counts; the report lists it with its reason; unknown ids are clear errors."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request

import yaml

from collector import evidence
from collector.config import parse
from collector.http import http_server
from collector.ledger import SqliteLedger
from collector.state import State
from tests.helpers.cli import collector_cli
from tests.test_evidence import collector_config

C = "dui-vendor-2026"


def backup(n: int) -> evidence.Backup:
    point = f"2026-11-{n:02d}T01:00:00Z"
    return evidence.parse(
        "backup",
        {"contract": C, "id": f"bk-{n}", "status": "success", "started_at": point,
         "completed_at": point, "restore_point_at": point},
    )  # fmt: skip


def void(config: str, record_id: str, reason: str = "posted twice by mistake", *extra: str):
    return collector_cli(
        "evidence", "void", "--config", config, "--contract", C, "--id", record_id,
        "--reason", reason, *extra, timeout=60,
    )  # fmt: skip


def report(config: str) -> dict:
    proc = collector_cli(
        "report", "--config", config, "--contract", C, "--month", "2026-11", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_void_command(tmp_path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(collector_config(tmp_path)))
    ledger = SqliteLedger(tmp_path / "ledger.db")
    # a backup claimed for the 19th closes the gap of the 15th-19th, by mistake
    ledger.add_evidence("backup", [backup(n) for n in (10, 11, 12, 13, 14, 19)], time.time())
    ledger.close()
    before = report(str(config))
    assert before["backups"]["last_success"].startswith("2026-11-19")
    first = void(str(config), "bk-19")
    assert first.returncode == 0 and "backup 'bk-19' voided at" in first.stdout, first.stderr
    again = void(str(config), "bk-19", "another reason")
    assert again.returncode == 0 and "already voided" in again.stdout
    after = report(str(config))
    assert after["backups"]["last_success"].startswith("2026-11-14")
    assert [(v["kind"], v["id"], v["reason"]) for v in after["voided"]] == [
        ("backup", "bk-19", "posted twice by mistake")
    ]
    assert after["backups"]["largest_gap_seconds"] > before["backups"]["largest_gap_seconds"]
    html = collector_cli(
        "report", "--config", str(config), "--contract", C, "--month", "2026-11"
    ).stdout
    assert "Preuves annulées" in html and "posted twice by mistake" in html
    unknown = void(str(config), "bk-99")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr
    assert unknown.stderr.strip() == (
        f"dui-collector: evidence void: no backup or restore test 'bk-99' for contract {C}"
    )
    empty = void(str(config), "bk-10", " ")
    assert empty.returncode == 2 and "--reason:" in empty.stderr
    ledger = SqliteLedger(tmp_path / "ledger.db")
    assert ledger.verify_chain() is None
    assert len(ledger.evidence("backup", C)) == 5  # the record is still chained, not deleted
    ledger.close()


def call(url: str, body: dict, token: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text.startswith(b"{") else {"text": text}


async def test_void_api_needs_admin_auth(tmp_path) -> None:
    raw = collector_config(tmp_path)
    (tmp_path / "admin-token").write_text("adm1n\n")
    raw["http"]["auth"] = {"type": "token", "file": str(tmp_path / "admin-token")}
    config = parse(raw)
    ledger = SqliteLedger(config.ledger.sqlite_path)
    ledger.add_evidence("backup", [backup(20), backup(21)], time.time())
    body = {"contract": C, "id": "bk-21", "reason": "wrong day"}
    async with http_server(config, State(300, 3600), ledger) as port:
        url = f"http://127.0.0.1:{port}/api/v1/evidence/void"
        post = lambda b, t: asyncio.to_thread(call, url, b, t)  # noqa: E731
        assert (await post(body, None))[0] == 401
        assert (await post(body, "v3ndor-t0ken"))[0] == 401  # the vendor cannot void
        status, answer = await post(body, "adm1n")
        assert status == 201 and answer["kind"] == "backup" and answer["created"], answer
        status, again = await post({**body, "reason": "other"}, "adm1n")
        assert status == 200 and not again["created"]
        assert again["voided_at"] == answer["voided_at"]
        status, answer = await post({**body, "id": "bk-99"}, "adm1n")
        assert status == 404 and "bk-99" in answer["error"]
        assert (await post({**body, "reason": ""}, "adm1n"))[0] == 422
        assert (await post({**body, "kind": "restore_test"}, "adm1n"))[0] == 404
    assert [b.id for b in ledger.evidence("backup", C)] == ["bk-20"]
    (voided,) = ledger.voided(C)
    assert (voided.kind, voided.id, voided.reason) == ("backup", "bk-21", "wrong day")
    assert ledger.verify_chain() is None
    ledger.close()


async def test_void_api_refused_without_http_auth(tmp_path) -> None:
    config = parse(collector_config(tmp_path))
    ledger = SqliteLedger(config.ledger.sqlite_path)
    ledger.add_evidence("backup", [backup(20)], time.time())
    async with http_server(config, State(300, 3600), ledger) as port:
        url = f"http://127.0.0.1:{port}/api/v1/evidence/void"
        body = {"contract": C, "id": "bk-20", "reason": "x"}
        status, answer = await asyncio.to_thread(call, url, body, None)
        assert status == 403 and "http.auth" in answer["error"]
    assert ledger.voided(C) == []
    ledger.close()
