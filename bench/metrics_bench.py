"""How long /metrics takes to render at N agents: the collector's fast exposition next to
prometheus_client rendering the same catalogue and samples, in one run.

    .venv/bin/python -m bench.metrics_bench [--agents 5000]
"""

from __future__ import annotations

import argparse
import time

from prometheus_client import generate_latest

from collector.ingest import Accepted, Outcome
from collector.metrics.exposition import Exposition
from collector.state import State
from tests.helpers.metrics_oracle import registry
from tests.test_collector_metrics import RESULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=5000)
    args = parser.parse_args()
    state = State(stale_after=300, forget_after=86400)
    now = time.time()
    ids = [("og", f"site-{i % 100}", f"poste-{i}") for i in range(args.agents)]
    state.apply(
        Outcome(
            seen=[(*a, 0.1) for a in ids],
            accepted=[Accepted(*a, r, now) for a in ids for r in RESULTS],
        ),
        now=now,
    )
    exposition = Exposition(state)
    fast = []
    for _ in range(4):
        began = time.perf_counter()
        body = exposition.render()
        fast.append(time.perf_counter() - began)
    began = time.perf_counter()
    generate_latest(registry(state))
    reference = time.perf_counter() - began
    lines = body.count(b"\n")
    print(f"{args.agents} agents, {lines:,} lines")
    print(f"fast exposition: first render {fast[0]:.3f} s, then {min(fast[1:]):.3f} s")
    print(f"prometheus_client, same samples: {reference:.3f} s")
    print(f"ratio (prometheus_client / fast, steady): {reference / min(fast[1:]):.1f}×")


if __name__ == "__main__":
    main()
