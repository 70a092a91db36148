"""A damaged ledger at start, through the real `dui-collector run`: each kind of damage
gives one line naming the file and what to do, exit 1; a healthy ledger starts, and a
broken hash chain starts with /healthz 503 saying why."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest
import yaml

from collector.ledger import MaintenanceRecord, SqliteLedger, StoredResult
from tests.helpers.broker import free_port
from tests.helpers.cli import collector_cli

RESTORE = "restore it from a copy made by `dui-collector backup`"


def healthy_ledger(path: Path) -> None:
    """A ledger of about 2 MB: results (random bodies) and two chained records."""
    ledger = SqliteLedger(path)
    rows = [
        StoredResult(
            ("og", "site-a", "poste-1", "ab12cd34"),
            seq,
            1_800_000_000.0 + seq,
            "dns",
            "dui",
            "dui",
            True,
            0.01,
            os.urandom(300),
        )
        for seq in range(1, 6001)
    ]
    with ledger.transaction() as tx:
        tx.add_results(rows, 1_800_000_000.0)
    for day in (1, 2):
        start = dt.datetime(2026, 12, day, 20, tzinfo=dt.UTC)
        ledger.add_maintenance(
            MaintenanceRecord("c1", start, start + dt.timedelta(hours=1), 1.7e9, "upgrade")
        )
    ledger.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ledger.close()


def write_config(tmp_path: Path, ledger: Path, broker_url: str | None = None) -> Path:
    mqtt = {"url": broker_url} if broker_url else {"listen": f"127.0.0.1:{free_port()}"}
    config = {
        "mqtt": mqtt,
        "http": {"listen": f"127.0.0.1:{free_port()}"},
        "ledger": {"url": f"sqlite:///{ledger}"},
    }
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def scribble(path: Path) -> None:
    """8 KB of random bytes in the middle of the file, where the results' pages are."""
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2 // 4096 * 4096)
        handle.write(os.urandom(8192))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (name TEXT)")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (truncate, "the file is damaged"),
        (garbage, "is not an SQLite file"),
        (scribble, "is damaged (PRAGMA quick_check:"),
        (empty, "is empty (0 bytes): its history is gone"),
        (foreign, "is an SQLite database but not a dui-sla ledger"),
    ],
    ids=["truncated", "garbage", "scribbled", "emptied", "foreign"],
)
def test_a_damaged_ledger_is_refused_in_one_line(tmp_path: Path, damage, says: str) -> None:
    ledger = tmp_path / "ledger.db"
    healthy_ledger(ledger)
    damage(ledger)
    before = ledger.read_bytes()
    proc = collector_cli("run", "--config", str(write_config(tmp_path, ledger)), timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("ts=")]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"dui-collector: error: ledger {ledger}")
    assert says in lines[0] and RESTORE in lines[0]
    assert ledger.read_bytes() == before, "a refused ledger is left as it was"


async def test_a_healthy_ledger_starts_and_a_broken_chain_shows_in_healthz(
    tmp_path: Path, mosquitto, collector_process
) -> None:
    from tests.helpers.processes import CollectorProcess

    ledger = tmp_path / "kept.db"
    healthy_ledger(ledger)
    config = {"mqtt": {"url": mosquitto.url}, "ledger": {"url": f"sqlite:///{ledger}"}}
    collector: CollectorProcess = collector_process(dict(config))
    collector.start()  # waits for /healthz 200
    assert collector.stop() == 0

    db = sqlite3.connect(ledger)
    db.execute("UPDATE chain SET record = replace(record, 'upgrade', 'outage') WHERE id = 1")
    db.commit()
    db.close()
    collector = collector_process(dict(config))
    collector.start(wait_connected=False)
    from tests.helpers.poll import wait_until

    wait_until(lambda: collector.get("/healthz")[0] == 503, 20, "healthz 503")
    wait_until(lambda: "MQTT" not in collector.get("/healthz")[1], 20, "connected")
    status, text = collector.get("/healthz")
    assert status == 503
    assert "ledger hash chain broken: record 1 (maintenance" in text
    assert "changed after it was chained" in text and "dui-collector backup" in text
    assert collector.stop() == 0
