"""The busy case of bench/agent_bench.py: a whole agent, busy, against references.

A `dui-agent run` at its default schedule (every 30 s) with several targets on one
host — three pages, a 404, a closed port, two latency targets of 10 samples, dns —
and inventory, context and usage, while it re-sends a pre-filled spool backlog to a
broker whose only subscriber never acks (ack_timeout 10 s: the whole backlog again
every 10 s). Meanwhile, in the same minutes and through the same link, reference
clients (curl, a bare timed connect) and blackbox_exporter measure the same server.
Each timed result of the agent is compared with the median of the references.

The link has no rate limit (11 ms each way, server think 137 ms, as in the issue
that found the skew), so concurrent flows do not queue behind each other's packets.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from agent.spool import Spool
from bench.agent_bench import (
    DELAYWIRE,
    ROOT,
    blackbox_probe,
    curl_timings,
    ns,
    reference_rtts,
    start,
)

NAME = "dwbusy"
CLIENT, SERVER = f"{NAME}-a", f"{NAME}-b"
ADDR = "198.18.0.2"
DELAY_MS, THINK = 11, 0.137
BASE = f"http://{ADDR}:8080"
BLACKBOX = "127.0.0.1:9116"
PORT = 18831
BACKLOG = 10_000
PAGES = ("page-a", "page-b", "page-c")
LATENCY = ("host-a", "host-b")


def config(workdir: Path) -> Path:
    path = workdir / "busy.yaml"
    http = {f"{name}": {"http": {"url": f"{BASE}/{name}"}} for name in PAGES}
    targets = [{"name": name, "role": "dui", **probe} for name, probe in http.items()]
    targets[0]["dns"] = {}
    targets += [
        {"name": "missing", "role": "dui", "http": {"url": f"{BASE}/missing"}},
        {"name": "closed", "role": "dui", "http": {"url": f"http://{ADDR}:8081/"}},
    ]
    targets += [
        {"name": name, "role": "dui", "latency": {"host": ADDR, "port": 8080}} for name in LATENCY
    ]
    path.write_text(
        yaml.safe_dump(
            {
                "org": "bench",
                "site": "bench",
                "agent": "busy",
                "mqtt": {"url": f"mqtt://127.0.0.1:{PORT}", "ack_timeout": "10s"},
                "spool": {"path": str(workdir / "busy-spool.db")},
                "log": {"level": "warning"},
                "targets": targets,
            }
        )
    )
    return path


def prefill(workdir: Path) -> None:
    """A backlog the agent has never had acked: BACKLOG small results."""
    spool = Spool(workdir / "busy-spool.db", 50_000_000, 7 * 86400).open()
    try:
        now = time.time() - 3600
        for i in range(BACKLOG):
            spool.append(
                {
                    "ts": now + i * 0.1,
                    "probe": "usage",
                    "target": "dui",
                    "role": "workstation",
                    "success": True,
                    "in_use": False,
                }
            )
    finally:
        spool.close()


def references(stop: threading.Event, ref: dict[str, list[float]], bb: dict[str, list]) -> None:
    """curl, a bare timed connect and blackbox_exporter, over and over until `stop`."""
    while not stop.is_set():
        connect, processing = curl_timings(f"{BASE}/ref", CLIENT)
        ref["http_connect"].append(connect)
        ref["http_processing"].append(processing)
        ref["tcp_rtt"].append(statistics.mean(reference_rtts(0.1, CLIENT)))
        phases = blackbox_probe("http_2xx", f"{BASE}/bb", CLIENT, BLACKBOX)
        bb["http_connect"].append(phases['probe_http_duration_seconds{phase="connect"}'])
        bb["http_processing"].append(phases['probe_http_duration_seconds{phase="processing"}'])
        bb["tcp_rtt"].append(phases['probe_http_duration_seconds{phase="connect"}'])
        stop.wait(random.uniform(0.5, 2.0))  # drift against the agent's 30 s grid


def agent_figures(lines: list[str], since: float) -> dict[str, list[float]]:
    """The agent's timed figures from the batches it published (each result once)."""
    seen: set[tuple[str, int]] = set()
    out: dict[str, list[float]] = {"http_connect": [], "http_processing": [], "tcp_rtt": []}
    for extra in ("tcp_rtt_kernel", "http_connect_kernel", "tcp_rtt_wake", "http_connect_wake"):
        out[extra] = []  # kernel figures; user space − kernel of the same handshakes
    for line in lines:
        try:
            batch = json.loads(line)
        except ValueError:
            continue
        for r in batch.get("results", []):
            key = (batch["epoch"], r["seq"])
            if key in seen or r["ts"] < since or not r.get("success"):
                continue
            seen.add(key)
            if r["probe"] == "http" and r["target"] in PAGES:
                out["http_connect"].append(r["phases"]["connect"])
                out["http_processing"].append(r["phases"]["processing"])
                if "connect_kernel" in r["phases"]:
                    out["http_connect_kernel"].append(r["phases"]["connect_kernel"])
                    wake = r["phases"]["connect"] - r["phases"]["connect_kernel"]
                    out["http_connect_wake"].append(wake)
            elif r["probe"] == "latency" and r["target"] in LATENCY:
                out["tcp_rtt"].append(r["rtt_seconds"]["avg"])
                if r.get("kernel_rtt_seconds"):
                    out["tcp_rtt_kernel"].append(r["kernel_rtt_seconds"]["avg"])
                    wake = r["rtt_seconds"]["avg"] - r["kernel_rtt_seconds"]["avg"]
                    out["tcp_rtt_wake"].append(wake)
    return out


def measure(workdir: Path, minutes: float) -> dict:
    delaywire = [sys.executable, str(DELAYWIRE)]
    subprocess.run([*delaywire, "down", "--name", NAME], capture_output=True)
    subprocess.run(
        [*delaywire, "up", "--name", NAME, "--delay", f"{DELAY_MS}ms"],
        check=True,
        capture_output=True,
    )
    procs: list[subprocess.Popen[str]] = []
    try:
        server = ns(SERVER, sys.executable, "-m", "tests.helpers.delayed_server")
        procs.append(start([*server, "--bind", ADDR, "--port", "8080", "--think", str(THINK)]))
        bb_config = workdir / "busy-blackbox.yml"
        bb_config.write_text(
            "modules:\n  http_2xx: {prober: http, timeout: 10s, "
            "http: {preferred_ip_protocol: ip4}}\n"
        )
        procs.append(
            start(
                ns(
                    CLIENT,
                    "prometheus-blackbox-exporter",
                    f"--config.file={bb_config}",
                    f"--web.listen-address={BLACKBOX}",
                ),
                ready=None,
            )
        )
        broker_conf = workdir / "busy-mosquitto.conf"
        broker_conf.write_text(f"listener {PORT} 127.0.0.1\nallow_anonymous true\nuser root\n")
        procs.append(start(ns(CLIENT, "mosquitto", "-c", str(broker_conf)), ready=None))
        time.sleep(1)  # the broker and the exporter listening; both are checked below
        sub = subprocess.Popen(
            ns(CLIENT, "mosquitto_sub", "-p", str(PORT), "-q", "1", "-t", "dui/v1/+/+/+/results"),
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(sub)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(sub.stdout or ()), daemon=True)
        reader.start()
        prefill(workdir)
        since = time.time()
        agent = subprocess.Popen(
            ns(CLIENT, sys.executable, "-m", "agent", "run", "--config", str(config(workdir))),
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        procs.append(agent)
        ref = {"http_connect": [], "http_processing": [], "tcp_rtt": []}
        bb: dict[str, list] = {"http_connect": [], "http_processing": [], "tcp_rtt": []}
        stop = threading.Event()
        worker = threading.Thread(target=references, args=(stop, ref, bb), daemon=True)
        worker.start()
        time.sleep(minutes * 60)  # the period measured: the agent runs its own schedule
        stop.set()
        worker.join(60)
        agent.terminate()
        agent.wait(30)
        sub.terminate()
        reader.join(10)
        load = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        subprocess.run([*delaywire, "down", "--name", NAME], capture_output=True)
    resent = sum(1 for line in lines if '"usage"' in line)
    return {
        "agent": agent_figures(lines, since),
        "reference": ref,
        "blackbox": bb,
        "batches": len(lines),
        "backlog_batches": resent,
        "load": load,
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def table(busy: dict, minutes: float) -> None:
    med = statistics.median
    ref = {name: med(values) for name, values in busy["reference"].items()}
    print(
        f"\nbusy, {minutes:g} min: {DELAY_MS} ms each way, think {THINK * 1000:g} ms, "
        f"{busy['batches']} batches published ({busy['backlog_batches']} carrying the "
        f"{BACKLOG}-result backlog), load average {' '.join(busy['load'])}"
    )
    print(
        f"{'figure':<34}{'reference':>10}{'n':>5}{'agent med':>10}{'p95':>8}"
        f"{'n':>5}{'bb med':>8}{'p95':>8}   (errors in ms)"
    )
    rows = (
        ("tcp_rtt", "tcp_rtt", "TCP connect RTT (avg of 10)"),
        ("tcp_rtt_kernel", "tcp_rtt", "TCP RTT, kernel tcpi_rtt"),
        ("http_connect", "http_connect", "HTTP connect phase"),
        ("http_connect_kernel", "http_connect", "HTTP connect, kernel tcpi_rtt"),
        ("http_processing", "http_processing", "HTTP processing phase"),
    )
    for figure, reference, label in rows:
        agent = [abs(v - ref[reference]) * 1e3 for v in busy["agent"][figure]]
        bb = [abs(v - ref[reference]) * 1e3 for v in busy["blackbox"].get(figure, [])]
        bb_text = (
            f"{len(bb):>5}{med(bb):>8.3f}{p95(bb):>8.3f}" if bb else f"{'-':>5}{'-':>8}{'-':>8}"
        )
        agent_text = f"{len(agent):>5}{med(agent):>10.3f}{p95(agent):>8.3f}" if agent else " -"
        print(f"{label:<34}{ref[reference] * 1e3:>10.3f}{agent_text}{bb_text}")
    print("\nthe link's own noise: each reference's error to the reference median (ms)")
    for name, values in busy["reference"].items():
        errors = [abs(v - ref[name]) * 1e3 for v in values]
        print(f"  {name:<32}n {len(errors):>3}  median {med(errors):.3f}  p95 {p95(errors):.3f}")
    print("the agent's wake-up: user-space − kernel figure of the same handshakes (ms)")
    for name in ("tcp_rtt_wake", "http_connect_wake"):
        wake = [v * 1e3 for v in busy["agent"][name]]
        if wake:
            print(f"  {name:<32}n {len(wake):>3}  median {med(wake):.3f}  p95 {p95(wake):.3f}")
