"""Every metric family the collector exposes: name, type, help, labels, unit. The names
are an interface (dashboards and rules depend on them): extend, don't rename."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TARGET = ("org", "site", "agent", "target", "role")
SITE = ("org", "site", "target", "role")
AGENT = ("org", "site", "agent")
# per site only: usage is staff activity, never per workstation; readiness is per site
SITE_ONLY = ("org", "site")
SLA = ("contract", "vendor")

# dui_http_response_seconds: a LAN or nearby DUI answers in milliseconds, and a p95 read
# from buckets that start at 0.1 s says 95 ms for a 2 ms page.
HTTP_RESPONSE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0, 86400.0)


@dataclass(frozen=True)
class Family:
    name: str  # as exposed: counters end in _total, as their samples do
    type: Literal["gauge", "counter", "histogram"]
    help: str
    labels: tuple[str, ...]
    unit: str  # the base unit the name ends with ("" when it has none)
    section: str
    buckets: tuple[float, ...] = ()


def _f(
    name: str,
    kind: Literal["gauge", "counter", "histogram"],
    help_: str,
    labels: tuple[str, ...],
    unit: str,
    section: str,
    buckets: tuple[float, ...] = (),
) -> Family:
    return Family(name, kind, help_, tuple(labels), unit, section, buckets)


PROBE = "Probe results (last value per agent and target)"
PER_SITE = "Per site, across agents"
AGENTS = "Agents"
COLLECTOR = "Collector"
CONTRACTS = "Contracts (current period unless said)"
READINESS = "Readiness and use"

# fmt: off
FAMILIES: tuple[Family, ...] = (
    _f("dui_probe_success", "gauge", "Last result of a probe: 1 success, 0 failure", (*TARGET, "probe"), "", PROBE),
    _f("dui_probe_duration_seconds", "gauge", "Duration of the last probe run", (*TARGET, "probe"), "seconds", PROBE),
    _f("dui_http_duration_seconds", "gauge", "Last HTTP probe, by phase", (*TARGET, "phase"), "seconds", PROBE),
    _f("dui_http_status_code", "gauge", "Last HTTP status code", TARGET, "", PROBE),
    _f("dui_tls_cert_expiry_timestamp_seconds", "gauge", "TLS certificate expiry (Unix time)", TARGET, "seconds", PROBE),
    _f("dui_latency_rtt_min_seconds", "gauge", "Last latency run, min round trip", TARGET, "seconds", PROBE),
    _f("dui_latency_rtt_avg_seconds", "gauge", "Last latency run, avg round trip", TARGET, "seconds", PROBE),
    _f("dui_latency_rtt_max_seconds", "gauge", "Last latency run, max round trip", TARGET, "seconds", PROBE),
    _f("dui_latency_jitter_seconds", "gauge", "Last latency run, mean |Δ| of consecutive RTTs (RFC 3550 style)", TARGET, "seconds", PROBE),
    _f("dui_latency_loss_ratio", "gauge", "Last latency run, share of samples lost", TARGET, "ratio", PROBE),
    _f("dui_bandwidth_bytes_per_second", "gauge", "Last bandwidth test", (*TARGET, "direction"), "bytes_per_second", PROBE),
    _f("dui_dns_lookup_seconds", "gauge", "Last DNS resolution time", TARGET, "seconds", PROBE),
    _f("dui_agent_up", "gauge", "1 when the agent sent anything within agents.stale_after", AGENT, "", AGENTS),
    _f("dui_agent_last_seen_timestamp_seconds", "gauge", "Last message from the agent (Unix time)", AGENT, "seconds", AGENTS),
    _f("dui_agent_info", "gauge", "Agent version, OS and link", (*AGENT, "version", "os", "link"), "", AGENTS),
    _f("dui_agent_spool_results", "gauge", "Results waiting in the agent's spool", AGENT, "", AGENTS),
    _f("dui_agent_dropped_results_total", "counter", "Results the agent removed from its full spool before an ack (they may still have arrived: see dui_agent_lost_results_total)", AGENT, "", AGENTS),
    _f("dui_agent_lost_results_total", "counter", "Results that never arrived: seqs below a batch's first_seq never stored nor rejected here (since the collector started)", AGENT, "", AGENTS),
    _f("dui_agent_ignored_acks_total", "counter", "Acks the agent ignored as above anything it sent: forged, or another client on the broker (since the agent started)", AGENT, "", AGENTS),
    _f("dui_agent_clock_offset_seconds", "gauge", "Collector time minus agent time", AGENT, "seconds", AGENTS),
    _f("dui_agent_wifi_signal_ratio", "gauge", "Wi-Fi signal of the agent's workstation, 0 to 1, from its last context or inventory result (absent when not on Wi-Fi)", AGENT, "ratio", AGENTS),
    _f("dui_probe_results_total", "counter", "Distinct results stored, per site", (*SITE, "probe", "result"), "", PER_SITE),
    _f("dui_http_response_seconds", "histogram", "HTTP response time of successful results, per site", SITE, "seconds", PER_SITE, HTTP_RESPONSE_BUCKETS),
    _f("dui_latency_rtt_seconds", "histogram", "Average RTT of each latency run, per site", SITE, "seconds", PER_SITE, LATENCY_BUCKETS),
    _f("dui_site_workstations_in_use", "gauge", "Workstations that used the DUI in the last complete minute: the newest minute that ended 60 s to 10 min ago and has usage results (0 when none has); opt-in usage probe, per site only", SITE_ONLY, "", PER_SITE),
    _f("dui_site_usage_minutes_total", "counter", "Workstation-minutes of DUI use stored for the site (each usage result saying in use counts one minute); goes on from the ledger across restarts", SITE_ONLY, "", PER_SITE),
    _f("dui_collector_messages_total", "counter", "Result batches, by outcome", ("outcome",), "", COLLECTOR),
    _f("dui_collector_rejected_messages_total", "counter", "Rejected messages, by reason", ("reason",), "", COLLECTOR),
    _f("dui_collector_rejected_results_total", "counter", "Rejected results, by reason", ("reason",), "", COLLECTOR),
    _f("dui_collector_results_total", "counter", "Distinct results stored", (), "", COLLECTOR),
    _f("dui_collector_ingest_lag_seconds", "histogram", "Ingest time minus (corrected) measurement time", (), "seconds", COLLECTOR, LAG_BUCKETS),
    _f("dui_collector_mqtt_connected", "gauge", "1 while connected to the broker", (), "", COLLECTOR),
    _f("dui_collector_capped_results_total", "counter", "Results stored but not shown on /metrics: their agent already has 64 target/probe series", (), "", COLLECTOR),
    _f("dui_collector_task_failures_total", "counter", "Background task rounds that failed, by task", ("task",), "", COLLECTOR),
    _f("dui_sla_seconds_total", "counter", "Time in each state, 60 per minute, counted once when the minute is final", (*SLA, "state"), "seconds", CONTRACTS),
    _f("dui_sla_period_seconds", "gauge", "Current period's time by state (recomputed with late data)", (*SLA, "state"), "seconds", CONTRACTS),
    _f("dui_sla_availability_ratio", "gauge", "Current period availability (absent while no minute was evaluated)", SLA, "ratio", CONTRACTS),
    _f("dui_sla_objective_ratio", "gauge", "Contract availability objective", SLA, "ratio", CONTRACTS),
    _f("dui_sla_coverage_ratio", "gauge", "Current period's share of service minutes with measurements (absent before the first service minute)", SLA, "ratio", CONTRACTS),
    _f("dui_sla_error_budget_remaining_ratio", "gauge", "Share of the period's error budget left", SLA, "ratio", CONTRACTS),
    _f("dui_sla_service_state", "gauge", "1 on the state of the last evaluated minute", (*SLA, "state"), "", CONTRACTS),
    _f("dui_sla_downtime_seconds", "gauge", "Current period downtime by attribution", (*SLA, "attribution"), "seconds", CONTRACTS),
    _f("dui_sla_incident_open", "gauge", "1 while an incident is open", SLA, "", CONTRACTS),
    _f("dui_sla_incident_duration_seconds", "gauge", "Open incident's duration (0 when none)", SLA, "seconds", CONTRACTS),
    _f("dui_sla_incidents", "gauge", "Incidents this period", SLA, "", CONTRACTS),
    _f("dui_sla_rto_breaches", "gauge", "RTO breaches this period", SLA, "", CONTRACTS),
    _f("dui_sla_rto_target_seconds", "gauge", "Contract RTO", SLA, "seconds", CONTRACTS),
    _f("dui_sla_rpo_target_seconds", "gauge", "Contract RPO", SLA, "seconds", CONTRACTS),
    _f("dui_sla_penalty_amount", "gauge", "Penalty owed this period, in the contract's currency", SLA, "", CONTRACTS),
    _f("dui_backup_last_success_timestamp_seconds", "gauge", "Last successful backup (Unix time)", SLA, "seconds", CONTRACTS),
    _f("dui_backup_oldest_restore_point_timestamp_seconds", "gauge", "Oldest restore point still held (Unix time)", SLA, "seconds", CONTRACTS),
    _f("dui_restore_test_last_success_timestamp_seconds", "gauge", "Last successful restore test (Unix time)", SLA, "seconds", CONTRACTS),
    _f("dui_restore_test_last_duration_seconds", "gauge", "Duration of the last successful restore test", SLA, "seconds", CONTRACTS),
    _f("dui_sla_clause_compliant", "gauge", "1 when the clause is met, 0 when not (absent when not evaluated)", (*SLA, "clause"), "", CONTRACTS),
    _f("dui_maintenance_active", "gauge", "1 inside a maintenance window", SLA, "", CONTRACTS),
    _f("dui_workstation_info", "gauge", "The workstation's last inventory: OS, version, maintained (true, false, unknown) and model (1)", (*AGENT, "os", "os_version", "os_maintained", "model"), "", READINESS),
    _f("dui_workstation_age_seconds", "gauge", "Workstation age from its firmware date (absent when not reported)", AGENT, "seconds", READINESS),
    _f("dui_workstation_ram_bytes", "gauge", "Memory the workstation's OS reports", AGENT, "bytes", READINESS),
    _f("dui_site_workstations", "gauge", "Workstations with an inventory, by OS maintained: true, false or unknown", (*SITE_ONLY, "os_maintained"), "", READINESS),
    _f("dui_prerequisite_met", "gauge", "1 when the site prerequisite is met, 0 when not (absent when unknown or not configured)", (*SITE_ONLY, "check"), "", READINESS),
    _f("dui_site_ready", "gauge", "1 when every configured prerequisite of the site is met, 0 when one is not (absent while one is unknown)", SITE_ONLY, "", READINESS),
)
# fmt: on

BY_NAME = {f.name: f for f in FAMILIES}
INDEX = {f.name: i for i, f in enumerate(FAMILIES)}
