"""How long the collector's minute-by-minute contract evaluation takes on a month of data.

    .venv/bin/python -m bench.sla_bench [--sites 10] [--days 30]

Fills a ledger through the real ingest (two http results and one gateway run per site
and minute), then times the first evaluation of the month (reads every raw result)
and the next one after a minute of new results (reads only what arrived).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import tracemalloc
from pathlib import Path

from collector.config import parse
from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.live import LiveSla


def fill(
    ledger: SqliteLedger, sites: int, start: int, minutes: int, now: float, epoch: int = 0
) -> int:
    ingest = Ingest(ledger, raw_retention=400 * 86400)
    now = max(now, start + minutes * 60 + 60)  # every result is in the past when stored
    stored = 0
    for s in range(sites):
        site, agent = f"site-{s}", f"poste-{s}"
        seq = 0
        for block in range(0, minutes, 200):
            results = []
            for minute in range(block, min(block + 200, minutes)):
                t = start + minute * 60
                for offset, probe, target, role in (
                    (10, "http", "dui-login", "dui"),
                    (40, "http", "dui-login", "dui"),
                    (20, "latency", "gateway", "gateway"),
                ):
                    seq += 1
                    results.append(
                        {
                            "seq": seq,
                            "ts": t + offset,
                            "probe": probe,
                            "target": target,
                            "role": role,
                            "success": minute % 997 != 0,
                            "duration_seconds": 0.4,
                            "error": None,
                        }
                    )
            for part in range(0, len(results), 500):
                payload = json.dumps(
                    {
                        "v": 1,
                        "org": "og",
                        "site": site,
                        "agent": agent,
                        "epoch": f"{epoch:08x}{s:08x}",
                        "first_seq": 1,
                        "results": results[part : part + 500],
                    }
                ).encode()
                stored += len(
                    ingest.process(
                        [(f"dui/v1/og/{site}/{agent}/results", payload)], now=now
                    ).accepted
                )
    return stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    month = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    start = int(month.timestamp())
    now = start + args.days * 86400 - 3600  # still inside the month
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        config = parse(
            {
                "ledger": {"url": f"sqlite:///{path}"},
                "contracts": [
                    {
                        "id": "c",
                        "targets": ["dui-login"],
                        "availability": {"objective": 0.995},
                        "service_hours": {"timezone": "UTC"},
                    }
                ],
            }
        )
        ledger = SqliteLedger(path)
        began = time.perf_counter()
        stored = fill(ledger, args.sites, start, args.days * 1440, now)
        filled = time.perf_counter() - began
        contract = config.contracts[0]
        tracemalloc.start()  # memory on a first instance, timing on a second, untraced
        traced_ledger = SqliteLedger(path)
        traced = LiveSla(config, traced_ledger)
        traced.evaluate(contract, now)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced_ledger.close()
        live_ledger = SqliteLedger(path)
        live = LiveSla(config, live_ledger)
        began = time.perf_counter()
        live.evaluate(contract, now)
        first = time.perf_counter() - began
        fill(ledger, args.sites, int(now), 1, now + 60, epoch=1)  # a minute of new results
        began = time.perf_counter()
        report = live.evaluate(contract, now + 60)
        incremental = time.perf_counter() - began
        live_ledger.close()
        ledger.close()
    print(f"{args.sites} sites × {args.days} days: {stored:,} results stored in {filled:.1f} s")
    print(f"first evaluation of the month: {first:.2f} s; next minute: {incremental:.2f} s")
    print(
        f"memory (tracemalloc): {peak / 1e6:.0f} MB at the peak of the first evaluation,"
        f" {retained / 1e6:.0f} MB kept for the next ones"
    )
    print(f"(minutes: {report.period.minutes})")


if __name__ == "__main__":
    main()
