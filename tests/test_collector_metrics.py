"""/metrics: the fast exposition agrees sample for sample with the prometheus_client
reference rendering, for every probe kind, stale agents and awkward label values."""

from __future__ import annotations

import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from collector.ingest import Accepted, Outcome
from collector.metrics.exposition import Exposition
from collector.state import State
from tests.helpers.batches import decoded_result
from tests.helpers.metrics_oracle import registry
from wire.schema import AgentStatus


def result(probe: str, target: str, role: str, **extra):
    return decoded_result(probe, target, role, time.time(), **extra)


RESULTS = [
    result(
        "http",
        "dui-login",
        "dui",
        status_code=200,
        tls_expiry_ts=1.8e9,
        phases={
            "resolve": 0.001,
            "connect": 0.01,
            "tls": 0.02,
            "processing": 0.2,
            "transfer": 0.02,
        },
    ),
    result("dns", "dui-login", "dui"),
    result(
        "latency",
        "gateway",
        "gateway",
        method="tcp",
        sent=10,
        received=9,
        rtt_seconds={"min": 0.001, "avg": 0.002, "max": 0.004},
        jitter_seconds=0.0005,
        loss_ratio=0.1,
    ),
    result(
        "bandwidth",
        "link",
        "speedtest",
        download_bytes_per_second=2.4e6,
        upload_bytes_per_second=9.1e5,
    ),
    result("http", "dui-parcours", "dui", success=False, error="timeout"),
    result(
        "context",
        "workstation",
        "workstation",
        version="1.0.0",
        link="wifi",
        wifi_signal_percent=62,
    ),
]


def samples(text: str) -> set:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.startswith(("process_", "python_"))
    }


def test_fast_exposition_equals_the_reference() -> None:
    state = State(stale_after=60, forget_after=3600)
    now = time.time()
    out = Outcome(
        statuses=[
            (
                "og",
                "s1",
                "stale",
                AgentStatus(v=1, state="online", version='1.0 "beta"\\x', os="Windows\n10"),
            )
        ]
    )
    state.apply(out, now=now - 600)
    out = Outcome(
        seen=[("og", "s1", "a1", -0.5), ("og", "s2", "a2", None)],
        accepted=[
            Accepted("og", site, agent, r, now)
            for site, agent in (("s1", "a1"), ("s2", "a2"))
            for r in RESULTS
        ],
        messages={"accepted": 2},
        rejected_results={"future": 1},
        lags=[1.0, 30.0],
    )
    state.apply(out, now=now)
    exposition = Exposition(state)
    reference = samples(generate_latest(registry(state)).decode())
    for _ in range(2):  # the second render uses cached lines
        assert samples(exposition.render().decode()) == reference
    state.apply(
        Outcome(
            accepted=[
                Accepted(
                    "og", "s1", "a1", result("dns", "dui-login", "dui", success=False), now + 1
                )
            ]
        )
    )
    reference = samples(generate_latest(registry(state)).decode())
    assert samples(exposition.render().decode()) == reference, "a changed result re-renders"
    names = {name for name, _, _ in reference}
    assert {
        "dui_bandwidth_bytes_per_second",
        "dui_tls_cert_expiry_timestamp_seconds",
        "dui_http_response_seconds_bucket",
        "dui_collector_ingest_lag_seconds_count",
        "dui_agent_dropped_results_total",
    } - names == {"dui_agent_dropped_results_total"}


def test_render_time_at_5000_agents_is_printed() -> None:
    state = State(stale_after=300, forget_after=86400)
    now = time.time()
    accepted = [
        Accepted("og", f"site-{i % 100}", f"poste-{i}", r, now)
        for i in range(5000)
        for r in RESULTS
    ]
    state.apply(
        Outcome(
            seen=[("og", f"site-{i % 100}", f"poste-{i}", 0.1) for i in range(5000)],
            accepted=accepted,
        ),
        now=now,
    )
    exposition = Exposition(state)
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        body = exposition.render()
        timings.append(time.perf_counter() - started)
    lines = body.count(b"\n")
    print(
        f"/metrics at 5000 agents: {lines} lines, first render {timings[0]:.2f} s, "
        f"then {min(timings[1:]):.2f} s"
    )
    assert lines > 5000 * 30
