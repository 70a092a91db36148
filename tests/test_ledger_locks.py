"""Opening a second Ledger on the same file in one process must leave the first one's
SQLite locks in place: if it did not, another process (a CLI import) could checkpoint and
truncate the WAL under the running collector, and the ledger would be damaged for good."""

from __future__ import annotations

import subprocess
import sys
import time

from collector import evidence
from collector.ledger import SqliteLedger


def test_a_second_ledger_in_the_process_keeps_the_first_ones_locks(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    first = SqliteLedger(path)
    record = {
        "contract": "c",
        "id": "bk-1",
        "status": "failure",
        "started_at": "2026-11-20T01:00:00Z",
    }
    first.add_evidence("backup", [evidence.parse("backup", record)], time.time())
    wal = path.with_name(path.name + "-wal")
    inode = wal.stat().st_ino
    second = SqliteLedger(path)  # what the collector does: one connection per role
    try:
        # another process opens, writes and closes: were it the last connection it knew
        # of, it would checkpoint and delete the WAL the collector's connections still use
        child = (
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
            " db.execute('CREATE TABLE IF NOT EXISTS probe (x)'); db.commit(); db.close()"
        )
        subprocess.run([sys.executable, "-c", child, str(path)], check=True, timeout=30)
        assert wal.exists() and wal.stat().st_ino == inode, "the WAL was reset under us"
        first.add_evidence(
            "backup", [evidence.parse("backup", {**record, "id": "bk-2"})], time.time()
        )
        assert first.verify_chain() is None
    finally:
        second.close()
        first.close()
