"""The collector's in-memory view: last values per agent and target, per-site counters
and histograms, per-site usage, agents, collector counters. Ingest updates it; /metrics
renders it. Usage arrives per site and minute only: no agent id to show it by.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from collector.ingest import Outcome
from collector.ledger.types import AgentKey, UsageMinute
from collector.metrics.catalogue import HTTP_RESPONSE_BUCKETS, LAG_BUCKETS, LATENCY_BUCKETS
from wire.probes import PROBES
from wire.schema import AgentStatus, Result

if TYPE_CHECKING:
    from collector.sla.now import LiveReport


# (target, role, probe) series one agent may have on /metrics; a real agent has about 10.
# Beyond it (targets or probes invented by a hostile agent) results are stored, not shown.
MAX_SERIES_SLOTS = 64
# dui_site_workstations_in_use reads the newest minute that ended at least USAGE_SETTLE
# ago (its results have had time to arrive) and at most USAGE_WINDOW ago: a site whose
# workstations all went quiet (switched off) reads 0, not its last busy minute.
USAGE_SETTLE = 60.0
USAGE_WINDOW = 600.0


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, +Inf last
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        index = len(self.bounds)
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                index = i
                break
        self.counts[index] += 1
        self.total += value


@dataclass
class AgentView:
    last_seen: float = 0.0
    version: str | None = None
    os: str | None = None
    link: str | None = None
    state: str = "online"
    spool_results: int | None = None
    dropped_results: int | None = None
    ignored_acks: int | None = None
    lost_results: int = 0  # seqs below a batch's first_seq never received
    clock_offset: float | None = None
    # (target, role, probe) → (ts, result)
    last: dict[tuple[str, str, str], tuple[float, Result]] = field(default_factory=dict)


class State:
    def __init__(self, stale_after: float, forget_after: float) -> None:
        self.stale_after = stale_after
        self.forget_after = forget_after
        self.agents: dict[AgentKey, AgentView] = {}
        # per site: (org, site, target, role) → ...
        self.results_total: dict[tuple[str, str, str, str, str, str], int] = {}
        self.http_response: dict[tuple[str, str, str, str], Histogram] = {}
        self.latency_rtt: dict[tuple[str, str, str, str], Histogram] = {}
        self.messages: dict[str, int] = {"accepted": 0, "duplicate": 0, "rejected": 0}
        self.rejected_messages: dict[str, int] = {}
        self.rejected_results: dict[str, int] = {}
        self.results_stored = 0
        self.capped_results = 0
        self.ingest_lag = Histogram(LAG_BUCKETS)
        self._mqtt_connected = False
        self.mqtt_lost_at: float | None = None  # monotonic; None until first connected
        self.sla: dict[str, LiveReport] = {}  # contract id → its live report
        # usage per (org, site): recent minutes (UTC minute → [reporting, in use]) and
        # workstation-minutes in use since the ledger began (loaded at start)
        self.usage_recent: dict[tuple[str, str], dict[int, list[int]]] = {}
        self.usage_minutes: dict[tuple[str, str], int] = {}
        self.task_failures: dict[str, int] = {}  # background task → failed rounds

    @property
    def mqtt_connected(self) -> bool:
        return self._mqtt_connected

    @mqtt_connected.setter
    def mqtt_connected(self, value: bool) -> None:
        if self._mqtt_connected and not value:
            self.mqtt_lost_at = time.monotonic()
        self._mqtt_connected = value

    def _agent(self, key: AgentKey) -> AgentView:
        view = self.agents.get(key)
        if view is None:
            view = self.agents[key] = AgentView()
        return view

    def apply(self, outcome: Outcome, now: float | None = None) -> None:
        now = time.time() if now is None else now
        for table, counts in (
            (self.messages, outcome.messages),
            (self.rejected_messages, outcome.rejected_messages),
            (self.rejected_results, outcome.rejected_results),
        ):
            for key, n in counts.items():
                table[key] = table.get(key, 0) + n
        for org, site, agent, offset in outcome.seen:
            view = self._agent((org, site, agent))
            view.last_seen, view.state = now, "online"
            if offset is not None:
                view.clock_offset = offset
        for org, site, agent, status in outcome.statuses:
            self._status((org, site, agent), status, now)
        for key, n in outcome.lost.items():
            self._agent(key).lost_results += n
        for lag in outcome.lags:
            self.ingest_lag.observe(max(0.0, lag))
        for item in outcome.accepted:
            self._result(item.org, item.site, item.agent, item.result, item.ts)
        for org, site, minute, in_use in outcome.usage:
            self.add_usage(org, site, minute, 1, int(in_use), now)

    def load_usage(
        self, totals: dict[tuple[str, str], int], recent: Iterable[UsageMinute], now: float
    ) -> None:
        """At start, from the ledger: the counters go on from what is stored, and the
        recent minutes give the gauge its value before new results arrive."""
        for key, n in totals.items():
            self.usage_minutes[key] = self.usage_minutes.get(key, 0) + n
        for row in recent:
            self.add_usage(
                row.org, row.site, row.minute, row.reporting, row.in_use, now, total=False
            )

    def add_usage(
        self,
        org: str,
        site: str,
        minute: int,
        reporting: int,
        in_use: int,
        now: float,
        total: bool = True,
    ) -> None:
        key = (org, site)
        if total:
            self.usage_minutes[key] = self.usage_minutes.get(key, 0) + in_use
        recent = self.usage_recent.setdefault(key, {})
        oldest = int((now - USAGE_WINDOW - USAGE_SETTLE) // 60)
        if minute < oldest:
            return  # late: counted in the total, too old for the gauge
        row = recent.setdefault(minute, [0, 0])
        row[0] += reporting
        row[1] += in_use
        if len(recent) > 2 * USAGE_WINDOW // 60:
            for old in [m for m in recent if m < oldest]:
                del recent[old]

    def workstations_in_use(self, key: tuple[str, str], now: float) -> int:
        """Workstations in use at a site in the newest minute that ended between
        USAGE_SETTLE and USAGE_WINDOW ago and has usage results; 0 when none has."""
        newest = int((now - USAGE_SETTLE) // 60) - 1  # ended at least USAGE_SETTLE ago
        oldest = math.ceil((now - USAGE_WINDOW) / 60) - 1  # ended at most USAGE_WINDOW ago
        recent = self.usage_recent.get(key, {})
        for minute in sorted((m for m in recent if oldest <= m <= newest), reverse=True):
            reporting, in_use = recent[minute]
            if reporting:
                return in_use
        return 0

    def _status(self, key: AgentKey, status: AgentStatus, now: float) -> None:
        view = self._agent(key)
        view.state = status.state
        if status.state == "online":
            view.last_seen = now
            view.version = status.version or view.version
            view.os = status.os or view.os
            view.spool_results = status.spool_results
            view.dropped_results = status.dropped_results
            view.ignored_acks = status.ignored_acks

    def _result(self, org: str, site: str, agent: str, r: Result, ts: float) -> None:
        self.results_stored += 1
        view = self._agent((org, site, agent))
        slot = (r.target, r.role, r.probe)
        if slot not in view.last and len(view.last) >= MAX_SERIES_SLOTS:
            self.capped_results += 1  # stored, not exposed: /metrics stays bounded
            return
        previous = view.last.get(slot)
        if previous is None or previous[0] <= ts:  # late results do not replace newer ones
            view.last[slot] = (ts, r)
        fields = PROBES[r.probe].fields if r.probe in PROBES else ()
        if "link" in fields:  # context and inventory say which link the workstation uses
            view.link = r.link or view.link
        if "version" in fields:
            view.version = r.version or view.version
        site_key = (org, site, r.target, r.role)
        outcome = "success" if r.success else "failure"
        counter = (*site_key, r.probe, outcome)
        self.results_total[counter] = self.results_total.get(counter, 0) + 1
        if r.probe == "http" and r.success and r.duration_seconds is not None:
            self.http_response.setdefault(site_key, Histogram(HTTP_RESPONSE_BUCKETS)).observe(
                r.duration_seconds
            )
        if r.probe == "latency" and r.rtt_seconds is not None:
            self.latency_rtt.setdefault(site_key, Histogram(LATENCY_BUCKETS)).observe(
                r.rtt_seconds.avg
            )

    def forget(self, now: float | None = None) -> None:
        """Drop agents silent for longer than forget_after (their series leave /metrics)."""
        now = time.time() if now is None else now
        for key in [k for k, v in self.agents.items() if now - v.last_seen > self.forget_after]:
            del self.agents[key]

    def up(self, view: AgentView, now: float) -> bool:
        return view.state == "online" and now - view.last_seen <= self.stale_after
