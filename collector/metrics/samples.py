"""The samples of each catalogue family, read from the collector's state and the live SLA
reports at scrape time. A sample is (family name, label values in the family's order,
value); a histogram's value is its Histogram."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Union

from collector.render.formats import printable
from collector.sla.engine import STATES
from collector.sla.now import LiveReport
from collector.sla.period import CLAUSES
from collector.state import AgentView, Histogram, State
from wire.probes import PROBES
from wire.schema import Result

if TYPE_CHECKING:
    from collector.readiness.model import Readiness

Value = Union[float, Histogram]  # noqa: UP007 - a runtime alias
Sample = tuple[str, tuple[str, ...], Value]
PHASES = ("resolve", "connect", "tls", "processing", "transfer")


def _http(r: Result) -> Iterator[tuple[str, tuple[str, ...], float]]:
    if r.phases is not None:
        for phase in PHASES:
            value = getattr(r.phases, phase)
            if value is not None:
                yield "dui_http_duration_seconds", (phase,), value
    if r.status_code is not None:
        yield "dui_http_status_code", (), r.status_code
    if r.tls_expiry_ts is not None:
        yield "dui_tls_cert_expiry_timestamp_seconds", (), r.tls_expiry_ts


def _latency(r: Result) -> Iterator[tuple[str, tuple[str, ...], float]]:
    if r.rtt_seconds is not None:
        yield "dui_latency_rtt_min_seconds", (), r.rtt_seconds.min
        yield "dui_latency_rtt_avg_seconds", (), r.rtt_seconds.avg
        yield "dui_latency_rtt_max_seconds", (), r.rtt_seconds.max
    if r.jitter_seconds is not None:
        yield "dui_latency_jitter_seconds", (), r.jitter_seconds
    if r.loss_ratio is not None:
        yield "dui_latency_loss_ratio", (), r.loss_ratio


def _bandwidth(r: Result) -> Iterator[tuple[str, tuple[str, ...], float]]:
    if r.download_bytes_per_second is not None:
        yield "dui_bandwidth_bytes_per_second", ("download",), r.download_bytes_per_second
    if r.upload_bytes_per_second is not None:
        yield "dui_bandwidth_bytes_per_second", ("upload",), r.upload_bytes_per_second


def _dns(r: Result) -> Iterator[tuple[str, tuple[str, ...], float]]:
    if r.success and r.duration_seconds is not None:
        yield "dui_dns_lookup_seconds", (), r.duration_seconds


# The probe kinds whose results have families of their own, beside dui_probe_success
# and dui_probe_duration_seconds that every kind has. Extra labels follow TARGET's.
KIND_SAMPLES: dict[str, Callable[[Result], Iterator[tuple[str, tuple[str, ...], float]]]] = {
    "http": _http,
    "latency": _latency,
    "bandwidth": _bandwidth,
    "dns": _dns,
}


def result_samples(probe: str, r: Result) -> Iterator[tuple[str, tuple[str, ...], float]]:
    """The samples of one agent's last result of one probe; the label values given are
    those after the TARGET labels (org, site, agent, target, role)."""
    yield "dui_probe_success", (probe,), 1.0 if r.success else 0.0
    if r.duration_seconds is not None:
        yield "dui_probe_duration_seconds", (probe,), r.duration_seconds
    kind = KIND_SAMPLES.get(probe)
    if kind is not None:
        yield from kind(r)


def agent_samples(ids: tuple[str, str, str], view: AgentView, up: bool) -> Iterator[Sample]:
    yield "dui_agent_up", ids, 1.0 if up else 0.0
    yield "dui_agent_last_seen_timestamp_seconds", ids, view.last_seen
    yield "dui_agent_info", (*ids, view.version or "", view.os or "", view.link or ""), 1.0
    if view.spool_results is not None:
        yield "dui_agent_spool_results", ids, view.spool_results
    if view.dropped_results is not None:
        yield "dui_agent_dropped_results_total", ids, view.dropped_results
    yield "dui_agent_lost_results_total", ids, view.lost_results
    if view.ignored_acks is not None:
        yield "dui_agent_ignored_acks_total", ids, view.ignored_acks
    if view.clock_offset is not None:
        yield "dui_agent_clock_offset_seconds", ids, view.clock_offset
    signal = _wifi_signal(view)
    if signal is not None:
        yield "dui_agent_wifi_signal_ratio", ids, signal / 100


def _wifi_signal(view: AgentView) -> int | None:
    """The signal of the newest result that says which link the workstation uses: a
    workstation moved to a cable has no signal any more."""
    newest = max(
        (
            (ts, r)
            for (_, _, probe), (ts, r) in view.last.items()
            if probe in PROBES and "link" in PROBES[probe].fields
        ),
        key=lambda item: item[0],
        default=None,
    )
    if newest is None or newest[1].link != "wifi":
        return None
    return newest[1].wifi_signal_percent


def site_samples(s: State, now: float) -> Iterator[Sample]:
    for key, n in s.results_total.items():
        yield "dui_probe_results_total", key, n
    for key, h in s.http_response.items():
        yield "dui_http_response_seconds", key, h
    for key, h in s.latency_rtt.items():
        yield "dui_latency_rtt_seconds", key, h
    for key in sorted(s.usage_minutes.keys() | s.usage_recent.keys()):
        yield "dui_site_workstations_in_use", key, s.workstations_in_use(key, now)
        yield "dui_site_usage_minutes_total", key, s.usage_minutes.get(key, 0)


def collector_samples(s: State) -> Iterator[Sample]:
    for outcome in ("accepted", "duplicate", "rejected"):
        yield "dui_collector_messages_total", (outcome,), s.messages.get(outcome, 0)
    for reason, n in sorted(s.rejected_messages.items()):
        yield "dui_collector_rejected_messages_total", (reason,), n
    for reason, n in sorted(s.rejected_results.items()):
        yield "dui_collector_rejected_results_total", (reason,), n
    yield "dui_collector_results_total", (), s.results_stored
    yield "dui_collector_ingest_lag_seconds", (), s.ingest_lag
    yield "dui_collector_mqtt_connected", (), 1.0 if s.mqtt_connected else 0.0
    yield "dui_collector_capped_results_total", (), s.capped_results
    for task, n in sorted(s.task_failures.items()):
        yield "dui_collector_task_failures_total", (task,), n


def _stamp(value: object) -> float | None:
    return value.timestamp() if value is not None else None  # type: ignore[attr-defined]


def sla_samples(reports: dict[str, LiveReport]) -> Iterator[Sample]:
    """The contract families, from each contract's typed live report."""
    for contract_id, live in reports.items():
        p = live.period
        ids = (contract_id, p.contract.vendor or "")
        for state in STATES:
            yield "dui_sla_seconds_total", (*ids, state), live.counted.get(state, 0) * 60
        for state in STATES:
            yield "dui_sla_period_seconds", (*ids, state), p.minutes[state] * 60
        if p.availability is not None:
            yield "dui_sla_availability_ratio", ids, float(p.availability)
        yield "dui_sla_objective_ratio", ids, float(p.objective)
        if p.coverage is not None:
            yield "dui_sla_coverage_ratio", ids, p.coverage
        yield "dui_sla_error_budget_remaining_ratio", ids, p.error_budget_remaining_ratio
        for state in STATES:
            yield "dui_sla_service_state", (*ids, state), 1.0 if live.state == state else 0.0
        for attribution in ("vendor", "local", "unknown"):
            value = getattr(p.downtime, attribution)
            yield "dui_sla_downtime_seconds", (*ids, attribution), value
        opened = live.open_incident
        yield "dui_sla_incident_open", ids, 1.0 if opened else 0.0
        yield "dui_sla_incident_duration_seconds", ids, opened.duration_seconds if opened else 0.0
        yield "dui_sla_incidents", ids, len(p.incidents)
        yield "dui_sla_rto_breaches", ids, p.rto_breaches
        if p.contract.rto is not None:
            yield "dui_sla_rto_target_seconds", ids, p.contract.rto
        if p.contract.rpo is not None:
            yield "dui_sla_rpo_target_seconds", ids, p.contract.rpo
        if p.penalty is not None:
            yield "dui_sla_penalty_amount", ids, float(p.penalty.amount)
        for name, when in (
            ("dui_backup_last_success_timestamp_seconds", p.backups.last_success),
            ("dui_backup_oldest_restore_point_timestamp_seconds", p.backups.oldest_restore_point),
            ("dui_restore_test_last_success_timestamp_seconds", p.restore_tests.last_success),
        ):
            stamp = _stamp(when)
            if stamp is not None:
                yield name, ids, stamp
        if p.restore_tests.last_duration_seconds is not None:
            yield (
                "dui_restore_test_last_duration_seconds",
                ids,
                p.restore_tests.last_duration_seconds,
            )
        for clause in CLAUSES:
            value = p.clauses.get(clause)
            if value is not None:
                yield "dui_sla_clause_compliant", (*ids, clause), 1.0 if value else 0.0
        yield "dui_maintenance_active", ids, 1.0 if live.maintenance_active else 0.0


LABEL_MAX = 64  # an inventory's model or OS string, as a label: bounded


def bounded(text: str | None) -> str:
    """An inventory string fit for a label: printable, one line, at most LABEL_MAX chars."""
    return printable(text)[:LABEL_MAX]


def _maintained(value: bool | None) -> str:
    return "unknown" if value is None else "true" if value else "false"


def readiness_samples(r: Readiness | None) -> Iterator[Sample]:
    """The readiness families, from the last readiness round's typed result: per
    workstation its inventory, per site the OS count, each prerequisite met or not (absent
    when unknown) and the site's verdict (absent while unknown); none recomputed here."""
    if r is None:
        return
    for site in r.sites:
        ids = (site.org, site.site)
        counts = {"true": 0, "false": 0, "unknown": 0}
        for w in site.workstations:
            agent = (w.org, w.site, w.agent)
            maintained = _maintained(w.os_maintained)
            counts[maintained] += 1
            info = (bounded(w.os_name), bounded(w.os_version), maintained, bounded(w.model))
            yield "dui_workstation_info", (*agent, *info), 1.0
            if w.age_seconds is not None:
                yield "dui_workstation_age_seconds", agent, w.age_seconds
            if w.ram_bytes is not None:
                yield "dui_workstation_ram_bytes", agent, w.ram_bytes
        if site.workstations:
            for maintained, n in counts.items():
                yield "dui_site_workstations", (*ids, maintained), n
        for check in site.checks:
            met = site.met(check.id)
            if met is not None:
                yield "dui_prerequisite_met", (*ids, check.id), 1.0 if met else 0.0
        if site.verdict != "unknown":
            yield "dui_site_ready", ids, 1.0 if site.verdict == "pass" else 0.0


def shared_samples(s: State, now: float) -> Iterator[Sample]:
    """Every sample but the per-agent ones (few series: not cached)."""
    yield from site_samples(s, now)
    yield from collector_samples(s)
    yield from sla_samples(s.sla)
    yield from readiness_samples(s.readiness)
