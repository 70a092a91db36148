"""The sites' usage minutes (staff-activity data) are kept no longer than
`ledger.usage_retention`, the maximum the DPO's register states (docs/usage.md)."""

from __future__ import annotations

from pathlib import Path

from collector.config import USAGE_RETENTION, parse
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from tests.helpers.readiness import NOW, Sites, usage
from tests.test_config import collector_error


def minutes(ledger: SqliteLedger) -> list[int]:
    return [u.minute for u in ledger.usage(0, NOW + 3600)]


def test_prune_drops_the_usage_minutes_older_than_the_usage_retention(tmp_path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db")
    sites = Sites(Ingest(ledger, raw_retention=35 * 86400))
    # the minutes starting 160 s and 100 s before NOW (NOW is 40 s into its minute)
    sites.send("site-a", "p1", [usage(NOW - 120, True), usage(NOW - 60, True)])
    older, newer = minutes(ledger)
    assert (older * 60, newer * 60) == (NOW - 160, NOW - 100)
    # the default keeps both for 400 days
    ledger.prune(35 * 86400, NOW + USAGE_RETENTION - 160)
    assert minutes(ledger) == [older, newer]
    ledger.prune(35 * 86400, NOW + USAGE_RETENTION - 159)
    assert minutes(ledger) == [newer]
    # a minute starting exactly `usage_retention` ago stays; one a second older goes
    ledger.prune(35 * 86400, NOW, usage_retention=100)
    assert minutes(ledger) == [newer]
    ledger.prune(35 * 86400, NOW + 1, usage_retention=100)
    assert minutes(ledger) == [] and ledger.usage_totals() == {}
    ledger.close()


def test_usage_retention_is_configured_and_validated(tmp_path: Path) -> None:
    assert parse({}, files=False).ledger.usage_retention == 400 * 86400
    assert parse({"ledger": {"usage_retention": "90d"}}, files=False).ledger.usage_retention == (
        90 * 86400
    )
    line = collector_error(tmp_path, "ledger: {usage_retention: 0s}")
    assert "collector.yaml: ledger: usage_retention must be greater than zero" in line
