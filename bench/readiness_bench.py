"""What the readiness evaluation costs as the number of agents grows (run by hand).

    .venv/bin/python -m bench.readiness_bench [--agents 10 40] [--sites 2] [--days 7]

For each N, fills a temporary ledger through the real ingest with N agents spread over
`--sites` sites, each sending what an agent sends at its default schedule over `--days`
days: HTTP to the DUI and latency runs to the DUI and the gateway every 30 s, context
every 5 min, bandwidth every hour, inventory once a day. Then times `evaluate()` as the
collector's readiness round calls it (pilot=False) and as `dui-collector readiness` does
(with the pilot weeks of a pilot site), measures the round's peak memory with tracemalloc,
and gives the round's CPU share at the spacing collector/run.py uses (every 5 min, or
9 × its own duration when that is longer). The figures are in docs/readiness.md ("Cost").
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from collector.config import CollectorConfig, parse
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.readiness.evaluate import evaluate
from collector.run import READINESS_EVERY, READINESS_SPREAD

DEBIAN_12 = {"name": "Debian GNU/Linux", "version": "12", "build": "6.1.0"}
# (probe, target, role, every seconds, offset in the period)
SCHEDULE = (
    ("http", "dui-login", "dui", 30, 3),
    ("latency", "dui", "dui", 30, 9),
    ("latency", "gateway", "gateway", 30, 17),
    ("context", "workstation", "workstation", 300, 41),
    ("bandwidth", "link", "speedtest", 3600, 600),
    ("inventory", "workstation", "workstation", 86400, 1200),
)


def result(probe: str, target: str, role: str, ts: float, i: int) -> dict:
    """One result as the agent sends it, with plausible figures that vary a little."""
    out: dict = {
        "ts": ts,
        "probe": probe,
        "target": target,
        "role": role,
        "success": True,
        "duration_seconds": 0.35 + (i % 7) * 0.05,
        "error": None,
    }
    if probe == "latency":
        rtt = 0.018 if role == "dui" else 0.0008
        out.update(
            method="tcp",
            sent=10,
            received=10 - (i % 50 == 0),
            loss_ratio=0.0,
            rtt_seconds={"min": rtt, "avg": rtt * 1.1, "max": rtt * 1.5},
        )
    elif probe == "http":
        out.update(status_code=200)
    elif probe == "bandwidth":
        out.update(download_bytes_per_second=4e6 + (i % 5) * 1e5, upload_bytes_per_second=1e6)
    elif probe == "context":
        out.update(link="wired" if i % 4 else "wifi", wifi_signal_percent=None)
    elif probe == "inventory":
        out.update(
            os=DEBIAN_12,
            ram_bytes=16_000_000_000,
            browsers={"edge": "131.0"},
            hardware={"model": "OptiPlex 7010", "firmware_date": "2023-03-01"},
        )
    return out


def fill(ledger: SqliteLedger, agents: int, sites: int, start: float, days: int) -> int:
    """Every agent's results over `days` from `start`, through the real ingest."""
    end = start + days * 86400
    ingest = Ingest(ledger, raw_retention=35 * 86400)
    stored = 0
    for a in range(agents):
        site, agent = f"site-{a % sites}", f"poste-{a}"
        results = sorted(
            (
                result(probe, target, role, t, i)
                for probe, target, role, every, offset in SCHEDULE
                for i, t in enumerate(range(int(start) + offset, int(end), every))
            ),
            key=lambda r: r["ts"],
        )
        for part in range(0, len(results), 500):
            chunk = [{**r, "seq": part + k + 1} for k, r in enumerate(results[part : part + 500])]
            payload = json.dumps(
                {
                    "v": 1,
                    "org": "og",
                    "site": site,
                    "agent": agent,
                    "epoch": f"{a:016x}",
                    "first_seq": part + 1,
                    "results": chunk,
                }
            ).encode()
            out = ingest.process([(f"dui/v1/og/{site}/{agent}/results", payload)], now=end)
            stored += len(out.accepted)
    return stored


def config_for(path: Path, sites: int, go_live: dt.date) -> CollectorConfig:
    return parse(
        {
            "ledger": {"url": f"sqlite:///{path}"},
            "sites": {
                f"site-{s}": {
                    "users": 20,
                    **({"pilot": True, "go_live": go_live} if s == 0 else {}),
                }
                for s in range(sites)
            },
            "prerequisites": {
                "workstation": {
                    "max_age": "5y",
                    "min_ram": "8GB",
                    "os_maintained": True,
                    "browsers": {"edge": 120},
                },
                "site": {
                    "min_download_per_user": "1Mbit",
                    "max_dui_rtt": "100ms",
                    "max_loss": 0.01,
                    "max_gateway_rtt": "5ms",
                    "max_dui_p95": "3s",
                    "min_workstations_per_user": 0.3,
                    "min_wifi_signal": 40,
                },
            },
            "contracts": [
                {"id": "c", "targets": ["dui-login"], "availability": {"objective": 0.995}}
            ],
        }
    )


def measure(agents: int, sites: int, days: int) -> dict[str, float]:
    now = time.time()
    start = now - days * 86400
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        ledger = SqliteLedger(path)
        began = time.perf_counter()
        stored = fill(ledger, agents, sites, start, days)
        filled = time.perf_counter() - began
        ledger.close()
        go_live = dt.datetime.fromtimestamp(start, dt.UTC).date() + dt.timedelta(days=1)
        config = config_for(path, sites, go_live)
        reader = SqliteLedger(path, read_only=True)
        evaluate(config, reader, now, pilot=False)  # warm the page cache, as a running round
        tracemalloc.start()
        evaluate(config, reader, now, pilot=False)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        began, cpu = time.perf_counter(), time.process_time()
        found = evaluate(config, reader, now, pilot=False)
        round_s, round_cpu = time.perf_counter() - began, time.process_time() - cpu
        tracemalloc.start()
        evaluate(config, reader, now, pilot=True)
        report_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        began = time.perf_counter()
        evaluate(config, reader, now, pilot=True)
        report_s = time.perf_counter() - began
        reader.close()
    assert sum(len(s.workstations) for s in found.sites) == agents
    spacing = max(READINESS_EVERY, READINESS_SPREAD * round_s)
    return {
        "agents": agents,
        "stored": stored,
        "filled": filled,
        "round": round_s,
        "report": report_s,
        "peak_mb": peak / 1e6,
        "report_peak_mb": report_peak / 1e6,
        "per_result_us": round_s / stored * 1e6,
        "share": round_cpu / spacing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--sites", type=int, default=2)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    rows = [measure(n, args.sites, args.days) for n in args.agents]
    print(f"{args.sites} sites, {args.days} days of results per agent")
    print(
        "| agents | results | round: evaluate() | round: peak memory | report (pilot weeks too)"
        " | report: peak memory | µs per result | CPU share of the round |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['agents']} | {r['stored']:,} | {r['round']:.2f} s | {r['peak_mb']:.0f} MB"
            f" | {r['report']:.2f} s | {r['report_peak_mb']:.0f} MB | {r['per_result_us']:.1f}"
            f" | {r['share']:.2%} |"
        )
    print("(fill times: " + ", ".join(f"{r['filled']:.0f} s" for r in rows) + ")")


if __name__ == "__main__":
    main()
