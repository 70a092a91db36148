"""How long the status page `/` takes on a month of data, served over HTTP.

    .venv/bin/python -m bench.status_bench [--sites 10] [--days 30] [--requests 20]

Fills a ledger as `bench/sla_bench.py` does, runs one SLA round (what the service does
every minute) so the state holds the contract's live report, then times GET / through the
real aiohttp server, and, for comparison, one on-demand evaluation of the month (what
`/api/v1/contracts/{id}` does per request, and what the page would cost if it did too).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.sla_bench import fill
from collector.config import parse
from collector.http import http_server
from collector.ingest import Outcome
from collector.ledger import SqliteLedger
from collector.live import LiveSla
from collector.state import State
from wire.schema import AgentStatus


def fetch(url: str) -> float:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - began


async def serve_and_time(config, state, ledger, now: float, requests: int) -> list[float]:
    async with http_server(config, state, ledger, clock=lambda: now) as port:
        url = f"http://127.0.0.1:{port}/?lang=fr"
        await asyncio.to_thread(fetch, url)  # templates compiled once
        return [await asyncio.to_thread(fetch, url) for _ in range(requests)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    start = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
    now = start + args.days * 86400 - 3600  # still inside the month
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        contract = {
            "id": "c",
            "vendor": "Éditeur",
            "targets": ["dui-login"],
            "availability": {"objective": 0.995},
            "service_hours": {"timezone": "UTC"},
            "rto": "4h",
        }
        config = parse(
            {
                "http": {"listen": "127.0.0.1:0"},
                "ledger": {"url": f"sqlite:///{path}"},
                "contracts": [contract],
            }
        )
        ledger = SqliteLedger(path)
        stored = fill(ledger, args.sites, start, args.days * 1440, now)
        state = State(stale_after=120, forget_after=86400)
        status = AgentStatus(v=1, state="online", version="1.0", os="Linux")
        for s in range(args.sites):
            state.apply(Outcome(statuses=[("og", f"site-{s}", f"poste-{s}", status)]), now=now)
        live = LiveSla(config, SqliteLedger(path))
        began = time.perf_counter()
        live.tick(now)  # an SLA round: the state now holds the month's live report
        round_seconds = time.perf_counter() - began
        state.sla = dict(live.reports)
        began = time.perf_counter()
        live.evaluate(config.contracts[0], now)
        on_demand = time.perf_counter() - began
        times = asyncio.run(serve_and_time(config, state, ledger, now, args.requests))
        live.ledger.close()
        ledger.close()
    print(f"{args.sites} sites × {args.days} days: {stored:,} results")
    print(f"SLA round (every minute, in the background): {round_seconds:.2f} s")
    print(
        f"GET / over HTTP, {args.requests} requests: median {statistics.median(times) * 1000:.1f}"
        f" ms, max {max(times) * 1000:.1f} ms"
    )
    print(f"for comparison, one on-demand evaluation of the month: {on_demand * 1000:.0f} ms")


if __name__ == "__main__":
    main()
