"""Implausible evidence is refused at the door: 422 naming the field from the API, the line
and the field from the CSV import (nothing imported); a seeded fuzz finds no implausible
record accepted."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time

import pytest

from collector.ledger import SqliteLedger
from tests import test_evidence
from tests.test_evidence import BACKUP, RESTORE, import_csv, post

api = test_evidence.api  # the collector's HTTP server on a real ledger

TOKEN = "v3ndor-t0ken"


def iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


NOW = dt.datetime.now(dt.UTC)
REFUSED = [
    ({"completed_at": "9999-12-31T23:59:59Z"}, "completed_at:"),
    ({"started_at": "1999-12-31T23:59:59Z"}, "started_at:"),
    ({"started_at": "0001-01-01T00:00:00Z"}, "started_at:"),
    ({"completed_at": "2026-11-22T00:59:00Z"}, "completed_at:"),  # before started_at
    ({"restore_point_at": "2026-11-22T02:00:00Z"}, "restore_point_at:"),  # after completion
    ({"expires_at": "2026-11-22T01:00:00Z"}, "expires_at:"),  # not after the restore point
    ({"expires_at": "1990-01-01T00:00:00Z"}, "expires_at:"),
    ({"expires_at": "9999-12-31T23:59:59-14:00"}, "expires_at:"),  # past year 9999 in UTC
    ({"size_bytes": 2**62}, "size_bytes:"),
    ({"size_bytes": -1}, "size_bytes:"),
    (
        {"started_at": iso(NOW + dt.timedelta(days=2)), "completed_at": None,
         "restore_point_at": iso(NOW + dt.timedelta(days=2)), "expires_at": None},
        "started_at:",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), REFUSED)
async def test_implausible_backup_is_422_naming_the_field(api, change, field) -> None:
    base, ledger = api
    status, body = await asyncio.to_thread(
        post, f"{base}/evidence/backups", {**BACKUP, **change}, TOKEN
    )
    assert status == 422 and body["error"].startswith(field), body
    assert ledger.evidence("backup", "dui-vendor-2026") == []


async def test_implausible_restore_tests_are_422(api) -> None:
    base, _ = api
    for change, field in (
        ({"performed_at": "9999-01-01T00:00:00Z"}, "performed_at:"),
        ({"restore_point_at": "2026-11-16T00:00:00Z"}, "restore_point_at:"),  # after the test
        ({"duration_seconds": 1e308}, "duration_seconds:"),
        ({"duration_seconds": -1}, "duration_seconds:"),
    ):
        status, body = await asyncio.to_thread(
            post, f"{base}/evidence/restore-tests", {**RESTORE, **change}, TOKEN
        )
        assert status == 422 and body["error"].startswith(field), body
    status, _ = await asyncio.to_thread(post, f"{base}/evidence/restore-tests", RESTORE, TOKEN)
    assert status == 201


def fuzzed(rng: random.Random, n: int) -> dict:
    def when() -> str | None:
        if rng.random() < 0.1:
            return None
        year = rng.choice([1, 1999, 2000, 2026, 2026, 2026, NOW.year + 1, 9999])
        value = dt.datetime(year, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
            seconds=rng.randrange(365 * 86400)
        )
        return iso(min(value, dt.datetime(9999, 12, 31, tzinfo=dt.UTC)))

    return {
        "contract": "dui-vendor-2026",
        "id": f"fz-{n}",
        "status": "success",
        "started_at": when() or "2026-11-01T00:00:00Z",
        "completed_at": when(),
        "restore_point_at": when() or "2026-11-01T00:00:00Z",
        "expires_at": when(),
        "size_bytes": rng.choice([None, 0, 10**9, 2**63 - 1]),
    }


def plausible(record: dict, received: float) -> bool:
    """The rule of docs/evidence.md#plausibility, written again independently."""
    parse = lambda v: dt.datetime.fromisoformat(v) if v else None  # noqa: E731
    started, done, point, expires = (
        parse(record[k]) for k in ("started_at", "completed_at", "restore_point_at", "expires_at")
    )
    low = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    high = dt.datetime.fromtimestamp(received, dt.UTC) + dt.timedelta(days=1)
    dates = [d for d in (started, done, point) if d is not None]
    return (
        all(low <= d <= high for d in dates)
        and (expires is None or low <= expires <= high + dt.timedelta(days=36524))
        and (done is None or done >= started)
        and (done is None or point <= done)
        and (expires is None or expires > point)
        and (record["size_bytes"] is None or record["size_bytes"] <= 2**60)
    )


async def test_no_implausible_fuzzed_record_is_accepted(api) -> None:
    base, ledger = api
    rng = random.Random(10)
    accepted = refused = 0
    for n in range(210):
        record = fuzzed(rng, n)
        status, body = await asyncio.to_thread(post, f"{base}/evidence/backups", record, TOKEN)
        assert status in (201, 422), body
        if status == 201:
            accepted += 1
            assert plausible(record, body["received_at"]), record
        else:
            refused += 1
            assert not plausible(record, time.time()), (record, body)
    assert accepted and refused
    assert len(ledger.evidence("backup", "dui-vendor-2026")) == accepted


CSV_HEAD = "id;kind;status;started_at;completed_at;size_bytes;restore_point_at;expires_at\n"


def test_csv_import_refuses_an_implausible_line(tmp_path) -> None:
    text = (
        CSV_HEAD
        + "bk-1;full;success;2026-11-20T01:00:00Z;2026-11-20T01:40:00Z;1;2026-11-20T01:00:00Z;\n"
        + "bk-2;full;success;2026-11-21T01:00:00Z;2026-11-21T00:40:00Z;1;2026-11-21T00:00:00Z;\n"
    )
    proc = import_csv(tmp_path, text)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "line 3: completed_at: before started_at; nothing imported" in proc.stderr
    proc = import_csv(tmp_path, CSV_HEAD + "bk-3;full;failure;9999-12-31T23:59:59Z;;;;\n")
    assert proc.returncode == 1 and "line 2: started_at:" in proc.stderr, proc.stderr
    path = tmp_path / "ledger.db"
    if path.exists():
        ledger = SqliteLedger(path)
        assert ledger.evidence("backup", "dui-vendor-2026") == []
        ledger.close()
