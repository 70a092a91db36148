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
        """Families per site and target, and the collector's own."""
        s = self.state
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


def registry(state: State) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(StateCollector(state))  # type: ignore[arg-type]
    ProcessCollector(registry=reg)
    return reg
