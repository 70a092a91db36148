"""/metrics: the names of DESIGN.md §6, rendered at scrape time from the State.

One custom prometheus_client collector reads the in-memory view and yields
families; nothing else touches the exposition. No timestamps, and no URLs, IPs,
error texts or sequence numbers in labels.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from collector.state import Histogram, State

TARGET = ["org", "site", "agent", "target", "role"]
SITE = ["org", "site", "target", "role"]
AGENT = ["org", "site", "agent"]


def _buckets(h: Histogram) -> list[tuple[str, float]]:
    out, running = [], 0
    for bound, count in zip(h.bounds, h.counts, strict=False):
        running += count
        out.append((repr(float(bound)), running))
    out.append(("+Inf", running + h.counts[-1]))
    return out


class StateCollector:
    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        yield from self.agent_families()
        yield from self.site_families()

    def agent_families(self) -> Iterator[Metric]:
        """Families with one series per agent (or agent and target)."""
        s = self.state
        now = time.time()
        g = GaugeMetricFamily
        success = g(
            "dui_probe_success",
            "Last result of a probe: 1 success, 0 failure",
            labels=[*TARGET, "probe"],
        )
        duration = g(
            "dui_probe_duration_seconds",
            "Duration of the last probe run",
            labels=[*TARGET, "probe"],
        )
        phases = g(
            "dui_http_duration_seconds", "Last HTTP probe, by phase", labels=[*TARGET, "phase"]
        )
        status = g("dui_http_status_code", "Last HTTP status code", labels=TARGET)
        expiry = g(
            "dui_tls_cert_expiry_timestamp_seconds",
            "TLS certificate expiry (Unix time)",
            labels=TARGET,
        )
        rtt = {
            k: g(f"dui_latency_rtt_{k}_seconds", f"Last latency run, {k} round trip", labels=TARGET)
            for k in ("min", "avg", "max")
        }
        jitter = g(
            "dui_latency_jitter_seconds",
            "Last latency run, mean |Δ| of consecutive RTTs",
            labels=TARGET,
        )
        loss = g("dui_latency_loss_ratio", "Last latency run, share of samples lost", labels=TARGET)
        bandwidth = g(
            "dui_bandwidth_bytes_per_second", "Last bandwidth test", labels=[*TARGET, "direction"]
        )
        dns = g("dui_dns_lookup_seconds", "Last DNS resolution time", labels=TARGET)
        up = g(
            "dui_agent_up", "1 when the agent sent anything within agents.stale_after", labels=AGENT
        )
        last_seen = g(
            "dui_agent_last_seen_timestamp_seconds", "Last message from the agent", labels=AGENT
        )
        info = g(
            "dui_agent_info", "Agent version, OS and link", labels=[*AGENT, "version", "os", "link"]
        )
        spool = g("dui_agent_spool_results", "Results waiting in the agent's spool", labels=AGENT)
        dropped = CounterMetricFamily(
            "dui_agent_dropped_results", "Results the agent's full spool dropped", labels=AGENT
        )
        offset = g(
            "dui_agent_clock_offset_seconds", "Collector time minus agent time", labels=AGENT
        )
        for (org, site, agent), view in s.agents.items():
            ids = [org, site, agent]
            up.add_metric(ids, 1.0 if s.up(view, now) else 0.0)
            last_seen.add_metric(ids, view.last_seen)
            info.add_metric([*ids, view.version or "", view.os or "", view.link or ""], 1.0)
            if view.spool_results is not None:
                spool.add_metric(ids, view.spool_results)
            if view.dropped_results is not None:
                dropped.add_metric(ids, view.dropped_results)
            if view.clock_offset is not None:
                offset.add_metric(ids, view.clock_offset)
            for (target, role, probe), (_, r) in view.last.items():
                labels = [*ids, target, role]
                success.add_metric([*labels, probe], 1.0 if r.success else 0.0)
                if r.duration_seconds is not None:
                    duration.add_metric([*labels, probe], r.duration_seconds)
                if probe == "http":
                    if r.phases is not None:
                        for phase in ("resolve", "connect", "tls", "processing", "transfer"):
                            value = getattr(r.phases, phase)
                            if value is not None:
                                phases.add_metric([*labels, phase], value)
                    if r.status_code is not None:
                        status.add_metric(labels, r.status_code)
                    if r.tls_expiry_ts is not None:
                        expiry.add_metric(labels, r.tls_expiry_ts)
                elif probe == "latency":
                    if r.rtt_seconds is not None:
                        for k in ("min", "avg", "max"):
                            rtt[k].add_metric(labels, getattr(r.rtt_seconds, k))
                    if r.jitter_seconds is not None:
                        jitter.add_metric(labels, r.jitter_seconds)
                    if r.loss_ratio is not None:
                        loss.add_metric(labels, r.loss_ratio)
                elif probe == "bandwidth":
                    for direction in ("download", "upload"):
                        value = getattr(r, f"{direction}_bytes_per_second")
                        if value is not None:
                            bandwidth.add_metric([*labels, direction], value)
                elif probe == "dns" and r.success and r.duration_seconds is not None:
                    dns.add_metric(labels, r.duration_seconds)
        yield from (
            success,
            duration,
            phases,
            status,
            expiry,
            *rtt.values(),
            jitter,
            loss,
            bandwidth,
            dns,
            up,
            last_seen,
            info,
            spool,
            dropped,
            offset,
        )

    def site_families(self) -> Iterator[Metric]:
        """Families per site and target, the contracts', and the collector's own."""
        s = self.state
        yield from sla_families(s.sla)
        g = GaugeMetricFamily
        results = CounterMetricFamily(
            "dui_probe_results",
            "Distinct results stored, per site",
            labels=[*SITE, "probe", "result"],
        )
        for key, n in s.results_total.items():
            results.add_metric(list(key), n)
        yield results
        for name, text, table in (
            (
                "dui_http_response_seconds",
                "HTTP response time of successful results, per site",
                s.http_response,
            ),
            ("dui_latency_rtt_seconds", "Average RTT of each latency run, per site", s.latency_rtt),
        ):
            family = HistogramMetricFamily(name, text, labels=SITE)
            for key, h in table.items():
                family.add_metric(list(key), _buckets(h), h.total)
            yield family

        messages = CounterMetricFamily(
            "dui_collector_messages", "Result batches, by outcome", labels=["outcome"]
        )
        for outcome in ("accepted", "duplicate", "rejected"):
            messages.add_metric([outcome], s.messages.get(outcome, 0))
        yield messages
        for name, table in (
            ("dui_collector_rejected_messages", s.rejected_messages),
            ("dui_collector_rejected_results", s.rejected_results),
        ):
            family = CounterMetricFamily(name, "Rejected, by reason", labels=["reason"])
            for reason, n in sorted(table.items()):
                family.add_metric([reason], n)
            yield family
        yield CounterMetricFamily(
            "dui_collector_results", "Distinct results stored", value=s.results_stored
        )
        lag = HistogramMetricFamily(
            "dui_collector_ingest_lag_seconds", "Ingest time minus (corrected) measurement time"
        )
        lag.add_metric([], _buckets(s.ingest_lag), s.ingest_lag.total)
        yield lag
        yield g(
            "dui_collector_mqtt_connected",
            "1 while connected to the broker",
            value=1.0 if s.mqtt_connected else 0.0,
        )


SLA = ["contract", "vendor"]
CLAUSES = ("availability", "rto", "rpo", "backup_frequency", "retention", "restore_test")


def _stamp(text: str | None) -> float | None:
    import datetime as dt

    return dt.datetime.fromisoformat(text).timestamp() if text else None


def sla_families(docs: dict[str, dict]) -> Iterator[Metric]:
    """The contract families of DESIGN.md §6 from each contract's current document."""
    g = GaugeMetricFamily
    minutes_total = CounterMetricFamily(
        "dui_sla_minutes", "Minutes counted once, when final", labels=[*SLA, "state"]
    )
    period = g(
        "dui_sla_period_minutes", "Current period's minutes by state", labels=[*SLA, "state"]
    )
    ratio = g("dui_sla_availability_ratio", "Current period availability", labels=SLA)
    objective = g("dui_sla_objective_ratio", "Contract objective", labels=SLA)
    budget = g(
        "dui_sla_error_budget_remaining_ratio",
        "Share of the period's error budget left",
        labels=SLA,
    )
    service = g("dui_sla_service_state", "1 on the current state", labels=[*SLA, "state"])
    downtime = g(
        "dui_sla_downtime_seconds",
        "Current period downtime by attribution",
        labels=[*SLA, "attribution"],
    )
    open_ = g("dui_sla_incident_open", "1 while an incident is open", labels=SLA)
    open_duration = g("dui_sla_incident_duration_seconds", "Open incident's duration", labels=SLA)
    incidents = g("dui_sla_incidents", "Incidents this period", labels=SLA)
    breaches = g("dui_sla_rto_breaches", "RTO breaches this period", labels=SLA)
    rto = g("dui_sla_rto_target_seconds", "Contract RTO", labels=SLA)
    rpo = g("dui_sla_rpo_target_seconds", "Contract RPO", labels=SLA)
    amount = g("dui_sla_penalty_amount", "Penalty owed this period", labels=SLA)
    backup_last = g(
        "dui_backup_last_success_timestamp_seconds", "Last successful backup", labels=SLA
    )
    backup_oldest = g(
        "dui_backup_oldest_restore_point_timestamp_seconds",
        "Oldest restore point still held",
        labels=SLA,
    )
    restore_last = g(
        "dui_restore_test_last_success_timestamp_seconds",
        "Last successful restore test",
        labels=SLA,
    )
    restore_duration = g(
        "dui_restore_test_last_duration_seconds",
        "Duration of the last successful restore test",
        labels=SLA,
    )
    compliant = g(
        "dui_sla_clause_compliant", "1 when the clause is met, 0 when not", labels=[*SLA, "clause"]
    )
    maintenance = g("dui_maintenance_active", "1 inside a maintenance window", labels=SLA)
    for contract_id, doc in docs.items():
        ids = [contract_id, doc.get("vendor") or ""]
        for state, n in doc.get("minutes_counted", {}).items():
            minutes_total.add_metric([*ids, state], n)
        for state, n in doc["minutes"].items():
            period.add_metric([*ids, state], n)
        if doc["availability"] is not None:
            ratio.add_metric(ids, doc["availability"])
        objective.add_metric(ids, doc["objective"])
        m = doc["minutes"]
        evaluated = m["up"] + m["degraded"] + m["down"]
        allowed = (1 - doc["objective"]) * evaluated
        budget.add_metric(
            ids,
            1.0
            if evaluated == 0
            else (1 - m["down"] / allowed if allowed else (0.0 if m["down"] else 1.0)),
        )
        for state in ("up", "degraded", "down", "unknown", "excluded"):
            service.add_metric([*ids, state], 1.0 if doc.get("state") == state else 0.0)
        for attribution, seconds in doc["downtime_seconds"].items():
            downtime.add_metric([*ids, attribution], seconds)
        opened = doc.get("open_incident")
        open_.add_metric(ids, 1.0 if opened else 0.0)
        open_duration.add_metric(ids, opened["duration_seconds"] if opened else 0.0)
        incidents.add_metric(ids, len(doc["incidents"]))
        breaches.add_metric(ids, sum(i["rto_breach"] for i in doc["incidents"]))
        if doc.get("rto_seconds") is not None:
            rto.add_metric(ids, doc["rto_seconds"])
        if doc.get("rpo_seconds") is not None:
            rpo.add_metric(ids, doc["rpo_seconds"])
        if doc["penalty"] is not None:
            amount.add_metric(ids, float(doc["penalty"]["amount"]))
        for family, value in (
            (backup_last, doc["backups"]["last_success"]),
            (backup_oldest, doc["backups"]["oldest_restore_point"]),
            (restore_last, doc["restore_tests"]["last_success"]),
        ):
            stamp = _stamp(value)
            if stamp is not None:
                family.add_metric(ids, stamp)
        if doc["restore_tests"]["last_duration_seconds"] is not None:
            restore_duration.add_metric(ids, doc["restore_tests"]["last_duration_seconds"])
        for clause in CLAUSES:
            value = doc["clauses"].get(clause)
            if value is not None:
                compliant.add_metric([*ids, clause], 1.0 if value else 0.0)
        maintenance.add_metric(ids, 1.0 if doc.get("maintenance_active") else 0.0)
    yield from (
        minutes_total,
        period,
        ratio,
        objective,
        budget,
        service,
        downtime,
        open_,
        open_duration,
        incidents,
        breaches,
        rto,
        rpo,
        amount,
        backup_last,
        backup_oldest,
        restore_last,
        restore_duration,
        compliant,
        maintenance,
    )


def registry(state: State) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StateCollector(state))  # type: ignore[arg-type]
    ProcessCollector(registry=reg)
    return reg
