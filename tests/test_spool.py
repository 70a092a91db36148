"""The on-disk spool: durable numbering, epochs, acks, bounds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.spool import Spool


def result(ts: float | None = None, pad: int = 0) -> dict:
    return {
        "ts": ts or time.time(),
        "probe": "dns",
        "target": "t",
        "role": "dui",
        "success": True,
        "error": None,
        "pad": "x" * pad,
    }


def test_seq_and_epoch_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, 10**6, 86400).open()
    assert [spool.append(result()) for _ in range(3)] == [1, 2, 3]
    epoch = spool.epoch
    spool.close()
    spool = Spool(path, 10**6, 86400).open()
    assert spool.epoch == epoch and spool.append(result()) == 4
    assert spool.count() == 4 and spool.first_seq() == 1


def test_deleted_spool_starts_a_new_epoch_at_one(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path, 10**6, 86400).open()
    spool.append(result())
    old = spool.epoch
    spool.close()
    for leftover in tmp_path.glob("spool.db*"):
        leftover.unlink()
    spool = Spool(path, 10**6, 86400).open()
    assert spool.epoch != old and spool.append(result()) == 1


def test_ack_deletes_only_covered_results(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10**6, 86400).open()
    for _ in range(5):
        spool.append(result())
    spool.mark_sent(5)
    assert spool.ack(3) == 3
    assert spool.first_seq() == 4 and spool.count() == 2
    assert spool.ack(3) == 0
    spool.ack(5)
    assert spool.count() == 0 and spool.first_seq() == 6


def test_no_ack_above_what_was_sent(tmp_path: Path) -> None:
    """`sent` is durable, so after a restart the collector's acks of what was published
    before it still apply and an ack of what never went out still does not."""
    path = tmp_path / "s.db"
    spool = Spool(path, 10**6, 86400).open()
    for _ in range(5):
        spool.append(result())
    assert spool.sent == 0
    spool.mark_sent(3)
    spool.mark_sent(2)  # a re-send never lowers it
    with pytest.raises(ValueError, match="above the highest seq sent"):
        spool.ack(4)
    assert spool.count() == 5
    spool.close()
    spool = Spool(path, 10**6, 86400).open()
    assert spool.sent == 3 and spool.ack(3) == 3 and spool.count() == 2


def test_read_after_respects_both_limits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10**7, 86400).open()
    for _ in range(10):
        spool.append(result(pad=1000))
    rows = spool.read_after(2, max_results=4, max_bytes=10**6)
    assert [seq for seq, _ in rows] == [3, 4, 5, 6]
    assert json.loads(rows[0][1])["seq"] == 3
    rows = spool.read_after(0, max_results=500, max_bytes=2500)
    assert [seq for seq, _ in rows] == [1, 2]
    big = spool.read_after(0, max_results=500, max_bytes=10)  # never empty while results wait
    assert [seq for seq, _ in big] == [1]


def test_full_spool_drops_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 5000, 86400).open()
    for _ in range(20):
        spool.append(result(pad=1000))
    assert spool.bytes <= 5000
    assert spool.dropped == 20 - spool.count()
    kept = spool.count()
    assert spool.first_seq() == 21 - kept
    spool.close()
    assert Spool(tmp_path / "s.db", 5000, 86400).open().dropped == 20 - kept


def test_results_older_than_max_age_are_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", 10**6, 3600).open()
    spool.append(result(ts=time.time() - 7200))
    spool.append(result(ts=time.time() - 7100))
    spool.append(result())
    assert spool.dropped == 2 and spool.first_seq() == 3


def test_not_a_spool_is_a_clear_error(tmp_path: Path) -> None:
    from agent.spool import SpoolError

    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SpoolError, match="not a spool: move the file away"):
        Spool(path, 10**6, 86400).open()
    assert path.read_bytes().startswith(b"this is not sqlite")  # left untouched
