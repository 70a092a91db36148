"""The contract engine while the collector runs: every minute, each contract's current
period is evaluated again (late data included); minutes that became final are counted
once, for good, in dui_sla_minutes_total (the ledger remembers which)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from collector import chain
from collector.config import CollectorConfig, Contract
from collector.sla.engine import DAY, SiteMinute
from collector.sla.report import (
    _windows,
    evaluate_period,
    frozen,
    month_bounds,
    records,
    touched_minutes,
)
from runtime.logs import fields

log = logging.getLogger("dui.collector.sla")
STATES = ("up", "degraded", "down", "unknown", "excluded")


class Live:
    def __init__(self, config: CollectorConfig, ledger_path: Path) -> None:
        self.config = config
        self.finalize_after = float(config.ledger.finalize_after)
        self.db = sqlite3.connect(ledger_path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout=5000")
        self.docs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # one evaluation at a time on the connection
        # contract → (period's first minute, minute records, newest received_at read)
        self._cache: dict[str, tuple[int, dict[int, dict[str, SiteMinute]], float]] = {}
        self.counted: dict[str, dict[str, int]] = {}

    def close(self) -> None:
        self.db.close()

    def tick(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for contract in self.config.contracts:
            try:
                with self._lock:
                    self._freeze(contract, now)
                self.evaluate_one(contract, now)
            except Exception:
                log.exception("contract evaluation failed", extra=fields(contract=contract.id))

    def _freeze(self, contract: Contract, now: float) -> None:
        """Freeze the months that ended more than `close_after` ago: their report goes
        into the hash chain and late data no longer changes it."""

        zone = contract.service_hours.timezone
        local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
        year, month = local.year, local.month
        for _ in range(2):  # the last two months, in case the collector was down
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            name = f"{year}-{month:02d}"
            start, end = month_bounds(name, zone)
            if end.timestamp() + float(self.config.ledger.close_after) > now:
                continue
            if frozen(self.db, contract.id, name) is not None:
                continue
            document = evaluate_period(self.db, contract, start, end, end.timestamp())[0]
            document.update(frozen=True, frozen_at=now)
            self.db.execute("BEGIN IMMEDIATE")
            try:
                entry, _ = chain.append(
                    self.db, "month", contract.id, name, json.dumps(document, sort_keys=True), now
                )
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
            log.info(
                "month frozen",
                extra=fields(contract=contract.id, month=name, chain_hash=entry.hash),
            )

    def evaluate_one(self, contract: Contract, now: float) -> dict[str, Any]:
        with self._lock:
            return self._evaluate(contract, now)

    def _evaluate(self, contract: Contract, now: float) -> dict[str, Any]:
        zone = contract.service_hours.timezone

        local = dt.datetime.fromtimestamp(now, ZoneInfo(zone))
        start, month_end = month_bounds(f"{local.year}-{local.month:02d}", zone)
        current_minute = int(now // 60)
        end = min(month_end, dt.datetime.fromtimestamp(current_minute * 60, dt.UTC))
        if end <= start:
            end = start + dt.timedelta(minutes=1)
        doc, ev = evaluate_period(
            self.db, contract, start, end, now, known=self._records(contract, start, month_end)
        )
        last_state = ev.states.get(current_minute - 1, "unknown")
        open_incident = None
        if doc["incidents"] and ev.states.get(current_minute - 1) == "down":
            first = doc["incidents"][-1]
            open_incident = {
                **first,
                "duration_seconds": now - dt.datetime.fromisoformat(first["start"]).timestamp(),
            }
        active = any(w.start <= current_minute < w.end for w in _windows(self.db, contract))
        doc.update(
            state=last_state,
            open_incident=open_incident,
            sites=self._sites(contract, now),
            evaluated_at=now,
            maintenance_active=active,
            rto_seconds=contract.rto,
            rpo_seconds=contract.rpo,
        )
        self._count_final(contract, ev.states, now)
        doc["minutes_counted"] = dict(self.counted.get(contract.id, {}))
        self.docs[contract.id] = doc
        return doc

    def _records(
        self, contract: Contract, start: dt.datetime, end: dt.datetime
    ) -> dict[int, dict[str, SiteMinute]]:
        """The period's minute records: read once, then only the minutes that received
        results since the last evaluation are read again (late data included)."""
        first, last = int(start.timestamp()) // 60, int(end.timestamp()) // 60
        cached = self._cache.get(contract.id)
        if cached is None or cached[0] != first:
            seen = self.db.execute("SELECT COALESCE(MAX(received_at), 0) FROM results").fetchone()[
                0
            ]
            cached = (first, records(self.db, contract, first, last), seen)
        else:
            touched, seen = touched_minutes(self.db, contract, cached[2])
            for minute in touched:
                if first - DAY <= minute < last:
                    fresh = records(self.db, contract, minute, minute + 1, history=0)
                    cached[1].pop(minute, None)
                    if minute in fresh:
                        cached[1][minute] = fresh[minute]
            cached = (first, cached[1], seen)
        self._cache[contract.id] = cached
        return cached[1]

    def _count_final(self, contract: Contract, states: dict[int, str], now: float) -> None:
        """Count each minute once, when it is final, from the first start on."""
        final = int((now - self.finalize_after) // 60)  # minutes < final are final
        row = self.db.execute(
            "SELECT MAX(minute) FROM sla_counted WHERE contract = ?", (contract.id,)
        ).fetchone()
        since = row[0] + 1 if row[0] is not None else final - 1
        first = min(states, default=since)
        if since < first:  # last period's closing minutes turned final after the rollover
            previous = evaluate_period(
                self.db,
                contract,
                dt.datetime.fromtimestamp(since * 60, dt.UTC),
                dt.datetime.fromtimestamp(first * 60, dt.UTC),
                now,
            )[1]
            states = {**previous.states, **states}
        new = [(contract.id, m, states[m]) for m in range(since, final) if m in states]
        if new:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany(
                "INSERT OR IGNORE INTO sla_counted (contract, minute, state) VALUES (?, ?, ?)", new
            )
            self.db.execute("COMMIT")
        totals = dict.fromkeys(STATES, 0)
        for state, n in self.db.execute(
            "SELECT state, COUNT(*) FROM sla_counted WHERE contract = ? GROUP BY state",
            (contract.id,),
        ):
            totals[state] = n
        self.counted[contract.id] = totals

    def _sites(self, contract: Contract, now: float) -> dict[str, dict[str, Any]]:
        """Per site over the last hour: p95 of the contract's pages, loss to the DUI, and
        the site's last vote."""
        marks = ",".join("?" * len(contract.targets))
        rows = self.db.execute(
            "SELECT site, duration, success FROM results WHERE ts >= ? AND target IN ("
            + marks
            + ") AND probe IN ('http', 'scenario')",
            (now - 3600, *contract.targets),
        )
        durations: dict[str, list[float]] = {}
        failing: dict[str, list[bool]] = {}
        for site, duration, success in rows:
            if success and duration is not None:
                durations.setdefault(site, []).append(duration)
            failing.setdefault(site, []).append(not success)
        losses: dict[str, list[float]] = {}
        for site, body in self.db.execute(
            "SELECT site, body FROM results WHERE ts >= ? AND probe = 'latency' AND role = 'dui'",
            (now - 3600,),
        ):
            loss = json.loads(body).get("loss_ratio")
            if loss is not None:
                losses.setdefault(site, []).append(loss)
        out = {}
        for site in sorted(set(durations) | set(failing)):
            values = sorted(durations.get(site, []))
            p95 = (
                values[min(len(values) - 1, math.ceil(0.95 * len(values)) - 1)] if values else None
            )
            recent = failing.get(site, [])[-4:]
            out[site] = {
                "p95_seconds": p95,
                "loss_ratio": sum(losses[site]) / len(losses[site]) if site in losses else None,
                "state": "failed" if recent and sum(recent) * 2 > len(recent) else "ok",
            }
        return out
