"""Usage (staff activity) is aggregated per site and minute at ingest and never stored
per workstation: five simulated workstations on two sites publish usage and other
results through a real Mosquitto to the collector; the per-site minutes, /metrics and a
dump of every table and column of the ledger prove it. Also: exactly-once across a gap
and a restart, the v3 → v4 migration, local days (DST) and the agent's 1m interval."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from collector.ingest import USAGE_MINUTES_KEPT, Ingest
from collector.ledger import LedgerError, SqliteLedger, UsageMinute
from collector.ledger.sqlite_schema import SCHEMA
from collector.readiness.usage import DayUsage, usage_days
from tests.helpers.batches import batch_json, results_topic
from tests.helpers.cli import collector_cli
from tests.helpers.inprocess import collector_in_process, replay_clock
from tests.helpers.poll import await_until
from tests.test_collector_ingest import result as http_result

pytestmark = pytest.mark.timeout(300)

PARIS = ZoneInfo("Europe/Paris")
# The collector's clock: 5 s into a minute, so "the minute that ended 60 s to 2 min ago"
# stays the same for the 55 s the checks below may take.
K = int(dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC).timestamp()) // 60
NOW = K * 60 + 5
RETENTION = 35 * 86400  # the raw results kept, as the collector's default
MINUTES = range(K - 10, K)  # the minutes measured, the newest ending 5 s before NOW
# (site, agent): three workstations at site-a, two at site-b
AGENTS = [
    ("site-a", "poste-1"),
    ("site-a", "poste-2"),
    ("site-a", "poste-3"),
    ("site-b", "accueil-1"),
    ("site-b", "accueil-2"),
]


def in_use(j: int, minute: int) -> bool:
    return (minute + j) % 3 != 0


def failed(j: int, minute: int) -> bool:
    """One workstation could not read its connections once: not counted as reporting."""
    return j == 4 and minute == K - 2


def usage_result(seq: int, ts: float, used: bool, success: bool = True) -> dict:
    return {
        "seq": seq,
        "ts": ts,
        "probe": "usage",
        "target": "dui",
        "role": "workstation",
        "success": success,
        "duration_seconds": 0.01,
        "error": None if success else "internal",
        "in_use": used if success else None,
    }


def agent_results(j: int) -> list[dict]:
    """Each minute: an HTTP result and a usage result, seqs in order."""
    out: list[dict] = []
    for minute in MINUTES:
        ts = minute * 60 + 5 + j
        out.append(http_result(len(out) + 1, ts))
        out.append(usage_result(len(out) + 1, ts + 1, in_use(j, minute), not failed(j, minute)))
    return out


def expected_minutes() -> dict[tuple[int, str], tuple[int, int]]:
    """(minute, site) → (reporting, in use)."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for j, (site, _) in enumerate(AGENTS):
        for minute in MINUTES:
            reporting, used = out.get((minute, site), (0, 0))
            ok = not failed(j, minute)
            out[minute, site] = (reporting + ok, used + (ok and in_use(j, minute)))
    return out


def epoch_of(j: int) -> str:
    return f"{j + 1:016x}"


async def publish_all(port: int) -> None:
    """Every workstation publishes its results in two batches (QoS 1) and waits for the
    ack covering them."""
    for j, (site, agent) in enumerate(AGENTS):
        results = agent_results(j)
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"{site}-{agent}") as client:
            await client.subscribe(f"dui/v1/og/{site}/{agent}/ack", qos=1)
            for part in (results[:7], results[7:]):
                payload = batch_json(part, site=site, agent=agent, epoch=epoch_of(j), first_seq=1)
                await client.publish(results_topic("og", site, agent), payload, qos=1)
            async with asyncio.timeout(60):
                async for message in client.messages:
                    if json.loads(message.payload)["seq"] == len(results):
                        break


def stored_minutes(path) -> dict[tuple[int, str], tuple[int, int]]:
    ledger = SqliteLedger(path, read_only=True)
    try:
        rows = list(ledger.usage(MINUTES[0] * 60, NOW))
        assert rows == sorted(rows)  # by minute, then org and site
        site_b = list(ledger.usage(MINUTES[0] * 60, NOW, site="site-b"))
        assert site_b == [r for r in rows if r.site == "site-b"]
    finally:
        ledger.close()
    assert all(r.org == "og" for r in rows)
    return {(r.minute, r.site): (r.reporting, r.in_use) for r in rows}


def site_metrics(collector) -> dict[str, float]:
    usage = ("dui_site_workstations_in_use{", "dui_site_usage_minutes_total{")
    return {k: v for k, v in collector.metrics().items() if k.startswith(usage)}


def expected_metrics() -> dict[str, float]:
    expected = expected_minutes()
    out = {}
    for site in ("site-a", "site-b"):
        ids = f'org="og",site="{site}"'
        out[f"dui_site_workstations_in_use{{{ids}}}"] = expected[K - 2, site][1]
        total = sum(used for (_, s), (_, used) in expected.items() if s == site)
        out[f"dui_site_usage_minutes_total{{{ids}}}"] = total
    return out


async def test_usage_is_counted_per_site_and_never_stored_per_workstation(
    tmp_path, mosquitto
) -> None:
    contract = {"id": "dui-x", "targets": ["dui-login"], "availability": {"objective": 0.99}}
    config = {"mqtt": {"url": mosquitto.url}, "contracts": [contract]}
    want = expected_metrics()
    assert want['dui_site_workstations_in_use{org="og",site="site-a"}'] == 2  # not trivial
    async with collector_in_process(tmp_path, config, replay_clock(NOW)) as collector:
        await publish_all(mosquitto.port)
        got = await await_until(
            lambda: asyncio.to_thread(site_metrics, collector),
            30,
            "the usage metrics",
            until=lambda m: m == want,
        )
        assert got == want
        text = (await asyncio.to_thread(collector.get, "/metrics"))[1]
        status_page = (await asyncio.to_thread(collector.get, "/"))[1]
        status, api = await asyncio.to_thread(collector.get, "/api/v1/contracts/dui-x")
        assert status == 200 and '"site-a"' in api
        ledger_path = collector.ledger_path
        config_path = collector.config_path
    assert stored_minutes(ledger_path) == expected_minutes()

    # /metrics: every series that names an agent is free of usage
    agent_lines = [line for line in text.splitlines() if 'agent="' in line]
    assert agent_lines and not [line for line in agent_lines if "usage" in line]
    assert 'probe="usage"' not in text
    for shown in (status_page, api, report(config_path)):  # what people read
        assert "poste-1" in shown or "site-a" in shown, shown
        assert "in_use" not in shown and "usage" not in shown.lower()

    # The proof: every table, every column of the ledger file
    dump = dump_ledger(ledger_path)
    agents = {agent for _, agent in AGENTS}
    assert set(dump) >= {"results", "usage_minutes", "settled_seqs", "watermarks"}
    for table, (columns, rows) in dump.items():
        for row in rows:
            for value in row:
                text_value = value.decode() if isinstance(value, bytes) else str(value)
                assert "in_use" not in text_value and '"usage"' not in text_value, (table, row)
            if agents & set(row):  # a row naming a workstation holds no usage value or time
                assert table in ("results", "watermarks", "settled_seqs", "rejects"), table
                if table == "results":
                    assert row[columns.index("probe")] != "usage"
    assert "usage" not in {row[dump["results"][0].index("probe")] for row in dump["results"][1]}
    assert dump["settled_seqs"][0] == ["org", "site", "agent", "epoch", "seq"]  # no time, no value
    assert dump["usage_minutes"][0] == ["minute", "org", "site", "reporting", "in_use"]
    assert not [c for c in dump["usage_minutes"][0] if "agent" in c]
    # nor in a free page of the file (the JSON key; the column name is in sqlite_master)
    assert b'"in_use"' not in ledger_path.read_bytes()

    # A restart: the counter goes on from the ledger, and the same batches re-sent
    # (an agent that missed its acks) count nothing twice.
    async with collector_in_process(tmp_path, config, replay_clock(NOW)) as collector:
        assert await asyncio.to_thread(site_metrics, collector) == want
        await publish_all(mosquitto.port)
        # every re-sent batch answered as a duplicate (they arrive after publish returns)
        duplicate = 'dui_collector_messages_total{outcome="duplicate"}'
        await await_until(
            lambda: asyncio.to_thread(collector.metrics),
            30,
            "every re-sent batch seen",
            until=lambda m: m.get(duplicate, 0) >= 2 * len(AGENTS),
        )
        metrics = await asyncio.to_thread(collector.metrics)
        assert metrics[duplicate] == 2 * len(AGENTS)
        assert await asyncio.to_thread(site_metrics, collector) == want
    assert stored_minutes(ledger_path) == expected_minutes()


def report(config_path) -> str:
    day = dt.datetime.fromtimestamp(NOW, dt.UTC).date()
    proc = collector_cli(
        "report", "--config", str(config_path), "--contract", "dui-x", "--format", "json",
        "--from", str(day), "--to", str(day + dt.timedelta(days=1)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def dump_ledger(path) -> dict[str, tuple[list[str], list[tuple]]]:
    """table → (its columns, all its rows), for every table in sqlite_master."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [
            r[0]
            for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")
        ]
        out = {}
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')
            out[table] = ([d[0] for d in cursor.description], cursor.fetchall())
        return out
    finally:
        db.close()


# -- exactly-once without per-workstation data -------------------------------------------

EPOCH = "0123456789abcdef"
TOPIC = results_topic("og", "site-a", "poste-1")
T = NOW - 600


def usage_batch(seqs: list[int], first_seq: int = 1) -> bytes:
    results = [usage_result(s, T + 60 * s, s % 2 == 1) for s in seqs]
    return batch_json(results, epoch=EPOCH, first_seq=first_seq)


def ack(outcome) -> int:
    ((_, payload),) = outcome.acks
    return json.loads(payload)["seq"]


def usage_counts(ledger: SqliteLedger) -> tuple[int, int]:
    rows = list(ledger.usage(0, NOW + 3600))
    return sum(r.reporting for r in rows), sum(r.in_use for r in rows)


def opened(path) -> tuple[SqliteLedger, Ingest]:
    """The ledger at `path` and an ingest into it, as the collector opens them at start."""
    ledger = SqliteLedger(path)
    return ledger, Ingest(ledger, raw_retention=RETENTION)


def settled(path) -> list[int]:
    db = sqlite3.connect(path)
    try:
        return [r[0] for r in db.execute("SELECT seq FROM settled_seqs ORDER BY seq")]
    finally:
        db.close()


def test_usage_above_a_gap_counts_once_before_and_after_a_restart(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    ledger, ingest = opened(path)
    assert ack(ingest.process([(TOPIC, usage_batch([1, 2, 4, 5]))], now=NOW)) == 2
    assert usage_counts(ledger) == (4, 2) and settled(path) == [4, 5]
    again = ingest.process([(TOPIC, usage_batch([4, 5]))], now=NOW)
    assert again.messages == {"duplicate": 1} and again.usage == []
    assert usage_counts(ledger) == (4, 2)
    ledger.close()

    ledger, ingest = opened(path)  # a restart: the seqs above the gap are known again
    again = ingest.process([(TOPIC, usage_batch([1, 2, 4, 5]))], now=NOW)
    assert again.messages == {"duplicate": 1} and ack(again) == 2
    assert usage_counts(ledger) == (4, 2)
    filled = ingest.process([(TOPIC, usage_batch([3, 4, 5]))], now=NOW)
    assert ack(filled) == 5 and filled.usage == [("og", "site-a", (T + 180) // 60, True)]
    assert usage_counts(ledger) == (5, 3)
    assert settled(path) == []  # the watermark passed them: nothing left per workstation
    assert ledger.counts()["results"] == 0
    ledger.close()


def test_a_group_that_fills_its_own_gap_leaves_no_settled_seq(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    ledger, ingest = opened(path)
    out = ingest.process(
        [(TOPIC, usage_batch([2, 3])), (TOPIC, usage_batch([1])), (TOPIC, usage_batch([3]))],
        now=NOW,
    )
    assert ack(out) == 3 and usage_counts(ledger) == (3, 2) and settled(path) == []
    ledger.close()


def minute_batch(seqs: list[int], ts: list[float], epoch: str = EPOCH, used=True) -> bytes:
    results = [usage_result(s, t, used) for s, t in zip(seqs, ts, strict=True)]
    return batch_json(results, epoch=epoch, first_seq=1)


def test_a_workstation_counts_once_per_minute_whatever_it_sends(tmp_path) -> None:
    """500 usage results for one minute, more in a later batch, the same minute again
    from a new epoch: one workstation-minute. Another workstation counts beside it; a
    result more than USAGE_MINUTES_KEPT minutes behind is not counted, nor a successful
    one that does not say whether in use. Every seq is settled all the same."""
    ledger, ingest = opened(tmp_path / "ledger.db")
    m = T - T % 60
    flood = ingest.process([(TOPIC, minute_batch(list(range(1, 501)), [m + 1] * 500))], now=NOW)
    assert ack(flood) == 500 and flood.usage == [("og", "site-a", m // 60, True)]
    again = ingest.process([(TOPIC, minute_batch([501, 502], [m + 30, m + 59]))], now=NOW)
    assert ack(again) == 502 and again.usage == [] and again.messages == {"accepted": 1}
    other_epoch = ingest.process([(TOPIC, minute_batch([1], [m + 2], "f" * 16))], now=NOW)
    assert ack(other_epoch) == 1 and other_epoch.usage == []
    poste_2 = results_topic("og", "site-a", "poste-2")
    both = ingest.process(
        [
            (poste_2, batch_json([usage_result(1, m + 3, False)], agent="poste-2", epoch=EPOCH)),
            (TOPIC, minute_batch([503], [m + 61])),  # the next minute counts
        ],
        now=NOW,
    )
    assert both.usage == [("og", "site-a", m // 60, False), ("og", "site-a", m // 60 + 1, True)]
    late = m + 61 - 60 * USAGE_MINUTES_KEPT
    older = ingest.process([(TOPIC, minute_batch([504, 505], [late, late + 60]))], now=NOW)
    assert older.usage == [("og", "site-a", m // 60 + 2 - USAGE_MINUTES_KEPT, True)]
    unsaid = usage_result(506, m + 121, True)
    del unsaid["in_use"]
    bad = ingest.process([(TOPIC, batch_json([unsaid], epoch=EPOCH))], now=NOW)
    assert ack(bad) == 506 and bad.usage == [] and bad.rejected_results == {"schema": 1}
    assert usage_counts(ledger) == (4, 3)
    assert ledger.usage_totals() == {("og", "site-a"): 3}
    ledger.close()


def test_a_failed_message_leaves_its_minutes_uncounted_on_the_isolated_path(tmp_path) -> None:
    """A message whose writes fail is undone alone (one savepoint per message): its
    workstation's minute is not marked counted, so its re-sent results count, once; the
    messages kept beside it count once per workstation and minute."""
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path)
    ledger.db.execute(  # a real write failure for site-x only
        "CREATE TRIGGER refuse BEFORE INSERT ON usage_minutes WHEN NEW.site = 'site-x'"
        " BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    ingest = Ingest(ledger, raw_retention=RETENTION)
    m = T - T % 60
    site_x = results_topic("og", "site-x", "poste-9")
    x_batch = batch_json(
        [usage_result(1, m + 5, True)], epoch=EPOCH, site="site-x", agent="poste-9"
    )
    out = ingest.process(
        [
            (TOPIC, minute_batch([1], [m + 1])),
            (site_x, x_batch),
            (TOPIC, minute_batch([2], [m + 2])),  # the same minute: not counted again
        ],
        now=NOW,
    )
    assert out.rejected_messages == {"internal": 1}
    assert out.usage == [("og", "site-a", m // 60, True)]
    assert [json.loads(p)["seq"] for _, p in out.acks] == [2]  # site-x not acked
    ledger.db.execute("DROP TRIGGER refuse")
    resent = ingest.process([(site_x, x_batch), (site_x, x_batch)], now=NOW)
    assert resent.usage == [("og", "site-x", m // 60, True)]
    assert ledger.usage_totals() == {("og", "site-a"): 1, ("og", "site-x"): 1}
    ledger.close()


def test_prune_forgets_the_settled_seqs_of_an_epoch_silent_for_the_retention(tmp_path) -> None:
    """Seqs above a gap that never closes (the agent moved to a new epoch) would name the
    workstation forever: they go with the retention, and its results sent again then are
    too old to count."""
    path = tmp_path / "ledger.db"
    ledger, ingest = opened(path)
    ingest.process([(TOPIC, usage_batch([1, 2, 4, 5]))], now=NOW)
    ledger.prune(raw_retention=RETENTION, now=NOW + 34 * 86400)
    assert settled(path) == [4, 5]  # still within the retention: still needed
    later = NOW + 36 * 86400
    ledger.prune(raw_retention=RETENTION, now=later)
    assert settled(path) == []
    ingest = Ingest(ledger, raw_retention=RETENTION)  # a restart, then the seqs again
    again = ingest.process([(TOPIC, usage_batch([3, 4, 5]))], now=later)
    assert again.usage == [] and again.rejected_results == {"too_old": 3}
    assert usage_counts(ledger) == (4, 2)
    ledger.close()


def test_prune_keeps_the_usage_minutes(tmp_path) -> None:
    ledger, ingest = opened(tmp_path / "ledger.db")
    ingest.process([(TOPIC, usage_batch([1, 2, 3]))], now=NOW)
    ledger.prune(raw_retention=60, now=NOW + 399 * 86400)  # within usage_retention
    assert usage_counts(ledger) == (3, 2)
    assert ledger.usage_totals() == {("og", "site-a"): 2}
    ledger.close()


# -- the v3 → v4 migration -----------------------------------------------------------------


def v3_ledger(path) -> None:
    """A ledger as version 3 left it: usage results stored raw, per workstation."""
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(SCHEMA[:3], start=1):
        db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    rows = []
    for agent, seqs in (("poste-1", [1, 2, 3, 5]), ("poste-2", [1, 2])):
        for seq in seqs:
            r = usage_result(seq, T + 60 * seq, seq != 2)
            rows.append(
                ("og", "site-a", agent, EPOCH, seq, r["ts"], "usage", "dui", "workstation", 1,
                 0.01, json.dumps(r).encode(), NOW)
            )  # fmt: skip
    rows.append(
        ("og", "site-a", "poste-1", EPOCH, 6, T, "http", "dui-login", "dui", 1, 0.3,
         json.dumps(http_result(6, T)).encode(), NOW)
    )  # fmt: skip
    db.executemany(f"INSERT INTO results VALUES ({','.join('?' * 13)})", rows)
    db.executemany(
        "INSERT INTO watermarks VALUES (?, ?, ?, ?, ?, ?)",
        [("og", "site-a", "poste-1", EPOCH, 3, NOW), ("og", "site-a", "poste-2", EPOCH, 2, NOW)],
    )
    db.execute(
        "INSERT INTO rollups (minute, org, site, target, role, probe, results, failures,"
        " duration_sum) VALUES (?, 'og', 'site-a', 'dui', 'workstation', 'usage', 1, 0, 0.01)",
        (int(T // 60),),
    )
    db.close()


def test_migration_from_v3_folds_usage_into_site_minutes_and_deletes_it(tmp_path) -> None:
    path = tmp_path / "ledger.db"
    v3_ledger(path)
    assert b'"in_use"' in path.read_bytes()
    old = SqliteLedger(path, read_only=True)  # read-only: not migrated, and says so
    with pytest.raises(LedgerError, match=r"schema version 3; usage per site needs version 4"):
        list(old.usage(0, NOW))
    old.close()
    ledger = SqliteLedger(path)
    db = ledger.db
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(SCHEMA) == 5
    assert db.execute("SELECT probe FROM results").fetchall() == [("http",)]
    assert db.execute("SELECT COUNT(*) FROM rollups WHERE probe = 'usage'").fetchone()[0] == 0
    # poste-1 and poste-2 in minutes 1 and 2 of T, poste-1 alone in 3 and 5; seq 2 not in use
    assert usage_counts(ledger) == (6, 4)
    assert list(ledger.usage(0, NOW))[:2] == [
        UsageMinute(int(T // 60) + 1, "og", "site-a", 2, 2),
        UsageMinute(int(T // 60) + 2, "og", "site-a", 2, 0),
    ]
    assert settled(path) == [5]  # poste-1's seq 5 sits above its watermark (3)
    ingest = Ingest(ledger, raw_retention=RETENTION)
    again = ingest.process([(TOPIC, usage_batch([4, 5], first_seq=1))], now=NOW)
    # 4 new (not in use), 5 not again; 6 (an http result) was stored already
    assert ack(again) == 6 and usage_counts(ledger) == (7, 4)
    ledger.close()
    assert b'"in_use"' not in path.read_bytes()  # overwritten, not left in free pages


def test_the_upgrade_counts_a_workstation_once_per_minute(tmp_path) -> None:
    """An older agent could run the probe twice in a minute (a shorter interval, its
    jitter): the upgrade folds a workstation once per minute, as ingest counts it."""
    path = tmp_path / "ledger.db"
    v3_ledger(path)
    db = sqlite3.connect(path, isolation_level=None)
    twice = [usage_result(seq, T + 60 + 30, True) for seq in (7, 8)]  # seq 1's minute again
    db.executemany(
        "INSERT INTO results VALUES ('og', 'site-a', 'poste-1', ?, ?, ?, 'usage', 'dui',"
        " 'workstation', 1, 0.01, ?, ?)",
        [(EPOCH, r["seq"], r["ts"], json.dumps(r).encode(), NOW) for r in twice],
    )
    db.close()
    ledger = SqliteLedger(path)
    try:  # as without them: poste-1 and poste-2 both in use in that minute
        assert next(iter(ledger.usage(0, NOW))) == UsageMinute(
            int(T // 60) + 1, "og", "site-a", 2, 2
        )
        assert usage_counts(ledger) == (6, 4)
    finally:
        ledger.close()


def test_the_upgrade_leaves_no_usage_in_the_files_while_the_collector_runs(tmp_path) -> None:
    """In WAL mode the zeroed pages sit in the WAL until a checkpoint: the upgrade
    checkpoints at once, so a copy of the files taken while the collector runs on (a
    snapshot, a file backup) holds no usage per workstation."""
    path = tmp_path / "ledger.db"
    v3_ledger(path)
    ledger = SqliteLedger(path)  # stays open, as the collector does
    try:
        files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        assert "ledger.db" in files and usage_counts(ledger) == (6, 4)
        assert {name: b'"in_use"' in data for name, data in files.items()} == dict.fromkeys(
            files, False
        )
        assert b"dui-login" in files["ledger.db"]  # the other results are there, unharmed
    finally:
        ledger.close()


# -- local days ------------------------------------------------------------------------


def minutes_of_local_day(day: dt.date, org_site=("og", "site-a")) -> list[UsageMinute]:
    start = dt.datetime.combine(day, dt.time(), PARIS).timestamp()
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), PARIS).timestamp()
    return [
        UsageMinute(m, *org_site, 3, 1 + (m % 2)) for m in range(int(start) // 60, int(end) // 60)
    ]


def test_usage_days_follow_local_days_dst_included() -> None:
    autumn, spring, plain = dt.date(2026, 10, 25), dt.date(2026, 3, 29), dt.date(2026, 11, 24)
    rows = [*minutes_of_local_day(spring), *minutes_of_local_day(autumn)]
    rows += minutes_of_local_day(plain, ("og", "site-b"))
    days = usage_days(rows, PARIS)
    # 23 h, 25 h, 24 h of minutes alternating 1 and 2 workstations in use
    assert days[("og", "site-a")] == [
        DayUsage(spring, 23 * 60 * 3 // 2, 2),
        DayUsage(autumn, 25 * 60 * 3 // 2, 2),
    ]
    assert days[("og", "site-b")] == [DayUsage(plain, 24 * 60 * 3 // 2, 2)]
    # 23:30 UTC on the 24th of October is already the 25th in Paris
    late = int(dt.datetime(2026, 10, 24, 23, 30, tzinfo=dt.UTC).timestamp()) // 60
    assert usage_days([UsageMinute(late, "og", "s", 1, 1)], PARIS)[("og", "s")][0].day == autumn
    assert usage_days([], PARIS) == {}


# -- the agent's interval ------------------------------------------------------------------


def test_the_agent_refuses_a_usage_interval_other_than_one_minute(tmp_path) -> None:
    from tests.helpers.cli import agent_cli

    config = tmp_path / "agent.yaml"
    config.write_text(
        "org: og\nsite: s1\ntargets: [{name: dui, role: dui, http: {url: 'https://dui.example/'}}]\n"
        "usage: {enabled: true, interval: 5m}\n"
    )
    proc = agent_cli("check", "--config", str(config))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"dui-agent: config error: {config}: usage: interval must be 1m: the collector counts"
        " each usage result as one minute of use (remove the key or write 1m)"
    ]


def test_the_in_use_gauge_reads_the_last_complete_minute() -> None:
    from collector.state import State

    state = State(stale_after=300, forget_after=3600)
    key, now = ("og", "s"), K * 60 + 5
    state.add_usage(*key, K - 1, 3, 3, now)  # ended 5 s ago: not complete yet
    state.add_usage(*key, K - 2, 2, 1, now)  # ended 65 s ago
    state.add_usage(*key, K - 3, 2, 2, now)
    assert state.workstations_in_use(key, now) == 1
    assert state.workstations_in_use(key, now + 55) == 3  # K - 1 ended 60 s ago
    # K - 1 ended 600 s ago: still read; 601 s: gone, and nothing newer: 0
    assert state.workstations_in_use(key, K * 60 + 600) == 3
    assert state.workstations_in_use(key, K * 60 + 601) == 0
    assert state.usage_minutes == {key: 6} and state.workstations_in_use(("og", "x"), now) == 0
