"""The SQLite ledger's schema, versioned: each entry of SCHEMA migrates one version up
(PRAGMA user_version), and the per-minute rollup upsert."""

from __future__ import annotations

# Response-time buckets (seconds) of the per-minute rollups. They are the ledger's own
# (a stored layout), not the /metrics histogram's, which may change without a migration.
ROLLUP_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)

SCHEMA = [
    # version 1
    """
    CREATE TABLE results (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, ts REAL NOT NULL, probe TEXT NOT NULL, target TEXT NOT NULL,
        role TEXT NOT NULL, success INTEGER NOT NULL, duration REAL, body BLOB NOT NULL,
        received_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch, seq)
    ) WITHOUT ROWID;
    CREATE INDEX results_ts ON results (ts);
    CREATE TABLE rejects (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, reason TEXT NOT NULL, received_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch, seq)
    ) WITHOUT ROWID;
    CREATE TABLE watermarks (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (org, site, agent, epoch)
    ) WITHOUT ROWID;
    CREATE TABLE rollups (
        minute INTEGER NOT NULL, org TEXT NOT NULL, site TEXT NOT NULL, target TEXT NOT NULL,
        role TEXT NOT NULL, probe TEXT NOT NULL,
        results INTEGER NOT NULL, failures INTEGER NOT NULL, duration_sum REAL NOT NULL,
        b0 INTEGER NOT NULL DEFAULT 0, b1 INTEGER NOT NULL DEFAULT 0,
        b2 INTEGER NOT NULL DEFAULT 0, b3 INTEGER NOT NULL DEFAULT 0,
        b4 INTEGER NOT NULL DEFAULT 0, b5 INTEGER NOT NULL DEFAULT 0,
        b6 INTEGER NOT NULL DEFAULT 0, b7 INTEGER NOT NULL DEFAULT 0,
        b8 INTEGER NOT NULL DEFAULT 0, b9 INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (minute, org, site, target, role, probe)
    ) WITHOUT ROWID;
    """,
    # version 2: the hash chain (evidence, maintenance, closed months) and the minutes
    # already counted in dui_sla_seconds_total
    """
    CREATE TABLE chain (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, contract TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL,
        received_at REAL NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
        UNIQUE (kind, contract, key)
    );
    CREATE TABLE sla_counted (
        contract TEXT NOT NULL, minute INTEGER NOT NULL, state TEXT NOT NULL,
        PRIMARY KEY (contract, minute)
    ) WITHOUT ROWID;
    """,
    # version 3: what arrived since the last evaluation, for incremental SLA evaluation
    """
    CREATE INDEX results_received ON results (received_at);
    """,
    # version 4: usage (staff activity) kept per site and minute only, never per
    # workstation; the seqs of usage results settled above a watermark gap, with no time
    # and no value, so that dedup stays exactly-once. Usage results stored raw by an
    # older version are folded into the per-site minutes (a workstation once per minute,
    # as ingest counts it: an older agent could run the probe twice in a minute) and
    # deleted.
    """
    CREATE TABLE usage_minutes (
        minute INTEGER NOT NULL, org TEXT NOT NULL, site TEXT NOT NULL,
        reporting INTEGER NOT NULL, in_use INTEGER NOT NULL,
        PRIMARY KEY (minute, org, site)
    ) WITHOUT ROWID;
    CREATE TABLE settled_seqs (
        org TEXT NOT NULL, site TEXT NOT NULL, agent TEXT NOT NULL, epoch TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (org, site, agent, epoch, seq)
    ) WITHOUT ROWID;
    INSERT INTO usage_minutes (minute, org, site, reporting, in_use)
        SELECT CAST(ts / 60 AS INTEGER), org, site,
            COUNT(DISTINCT CASE WHEN success THEN agent END),
            COUNT(DISTINCT CASE WHEN success
                AND coalesce(json_extract(CAST(body AS TEXT), '$.in_use'), 0) = 1
                THEN agent END)
        FROM results WHERE probe = 'usage' AND json_valid(CAST(body AS TEXT))
        GROUP BY CAST(ts / 60 AS INTEGER), org, site;
    INSERT INTO settled_seqs (org, site, agent, epoch, seq)
        SELECT r.org, r.site, r.agent, r.epoch, r.seq FROM results AS r
        LEFT JOIN watermarks AS w
            ON w.org = r.org AND w.site = r.site AND w.agent = r.agent AND w.epoch = r.epoch
        WHERE r.probe = 'usage' AND r.seq > coalesce(w.seq, 0);
    DELETE FROM results WHERE probe = 'usage';
    DELETE FROM rollups WHERE probe = 'usage';
    """,
    # version 5: each agent's newest inventory and context (readiness, every metrics round)
    # read through small partial indexes, not a scan of the whole raw retention; partial,
    # so the 95 % of results that are probes cost no write and no byte more
    """
    CREATE INDEX results_inventory ON results (org, site, agent, ts, probe, success)
        WHERE probe = 'inventory' AND success;
    CREATE INDEX results_context ON results (org, site, agent, ts, probe, success)
        WHERE probe = 'context' AND success;
    """,
]
# The probes whose newest successful result per agent has an index (Ledger.latest).
LATEST_PROBES = ("inventory", "context")
_BUCKET_COLUMNS = [f"b{i}" for i in range(10)]
ROLLUP_SQL = (
    "INSERT INTO rollups (minute, org, site, target, role, probe, results, failures,"
    f" duration_sum, {', '.join(_BUCKET_COLUMNS)}) VALUES ({', '.join(['?'] * 19)})"
    " ON CONFLICT (minute, org, site, target, role, probe) DO UPDATE SET"
    " results = results + excluded.results, failures = failures + excluded.failures,"
    " duration_sum = duration_sum + excluded.duration_sum, "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _BUCKET_COLUMNS)
)


# Adds a group's counts to a site's minute (a minute's results may arrive in many groups).
USAGE_SQL = (
    "INSERT INTO usage_minutes (minute, org, site, reporting, in_use) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (minute, org, site) DO UPDATE SET"
    " reporting = reporting + excluded.reporting, in_use = in_use + excluded.in_use"
)


def bucket_index(seconds: float) -> int:
    """Index of the first rollup bucket whose upper bound holds `seconds` (9: above 30 s)."""
    for i, bound in enumerate(ROLLUP_BUCKETS):
        if seconds <= bound:
            return i
    return len(ROLLUP_BUCKETS)
