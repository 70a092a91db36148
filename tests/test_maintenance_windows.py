"""Maintenance windows from the API and `maintenance add`: a conflicting window is a 409
(one line from the CLI), dates out of bounds a 422 naming the field (exit 2)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import yaml

from tests import test_evidence
from tests.helpers.cli import collector_cli
from tests.test_evidence import collector_config, post

api = test_evidence.api  # the collector's HTTP server on a real ledger
SOON = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=10)
WINDOW = {
    "contract": "dui-vendor-2026",
    "start": SOON.isoformat(),
    "end": (SOON + dt.timedelta(hours=3)).isoformat(),
    "reason": "upgrade",
}


async def test_same_window_other_reason_is_409(api) -> None:
    base, ledger = api
    assert (await asyncio.to_thread(post, f"{base}/maintenance", WINDOW, None))[0] == 201
    assert (await asyncio.to_thread(post, f"{base}/maintenance", WINDOW, None))[0] == 200
    status, body = await asyncio.to_thread(
        post, f"{base}/maintenance", {**WINDOW, "reason": "other"}, None
    )
    assert status == 409 and "cannot be changed" in body["error"], body
    assert [w.reason for w in ledger.maintenance("dui-vendor-2026")] == ["upgrade"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start": "0001-01-01T00:00:00+14:00", "end": "0001-01-01T01:00:00+14:00"}, "start:"),
        ({"start": "9999-12-31T20:00:00-14:00", "end": "9999-12-31T23:59:59-14:00"}, "start:"),
        ({"start": "9000-01-01T00:00:00Z", "end": "9000-01-02T00:00:00Z"}, "start:"),
        ({"end": "9999-12-31T23:59:59Z"}, "end:"),
        ({"end": (SOON + dt.timedelta(days=32)).isoformat()}, "end:"),  # too long
        ({"end": SOON.isoformat()}, "end:"),  # not after start
        ({"start": "1999-06-01T00:00:00Z", "end": "1999-06-01T01:00:00Z"}, "start:"),
        ({"reason": {"x": 1}}, "reason:"),
    ],
)
async def test_window_out_of_bounds_is_422_naming_the_field(api, change, field) -> None:
    base, ledger = api
    status, body = await asyncio.to_thread(post, f"{base}/maintenance", {**WINDOW, **change}, None)
    assert status == 422 and body["error"].startswith(field), body
    assert ledger.maintenance("dui-vendor-2026") == []


def add(config: str, start: str, end: str, reason: str):
    return collector_cli(
        "maintenance", "add", "--config", config, "--contract", "dui-vendor-2026",
        "--start", start, "--end", end, "--reason", reason, timeout=60,
    )  # fmt: skip


def test_maintenance_add_one_line_errors(tmp_path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(yaml.safe_dump(collector_config(tmp_path)))
    start, end = WINDOW["start"], WINDOW["end"]
    assert add(str(config), start, end, "upgrade").returncode == 0
    conflict = add(str(config), start, end, "other")
    assert conflict.returncode == 2 and "Traceback" not in conflict.stderr
    assert len(conflict.stderr.strip().splitlines()) == 1
    assert "cannot be changed" in conflict.stderr
    for first, last, field in (
        ("9000-01-01T00:00:00Z", "9000-01-02T00:00:00Z", "--start:"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00", "--start:"),
        (start, "9999-12-31T23:59:59-14:00", "--end:"),
        (end, start, "--end:"),
    ):
        proc = add(str(config), first, last, "x")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"dui-collector: maintenance add: {field}"), line
