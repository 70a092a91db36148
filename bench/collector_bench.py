"""Collector ingest throughput next to mosquitto_sub on the same broker.

    .venv/bin/python -m bench.collector_bench [--seconds 20] [--agents 20] [--batch 50]

Same load twice from fake agents (bench/blast.py, another process): first only
`mosquitto_sub -q 1` subscribes and counts what it receives, then only the collector
(ledger on, SQLite WAL synchronous=FULL) and we count the results it stored.
Needs Debian's mosquitto and mosquitto-clients. The quality bar is ≥ 0.8×.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.conftest import CollectorProcess
from tests.helpers.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent


def blast(port: int, seconds: float, agents: int, per_batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.blast", str(port), str(seconds), str(agents), str(per_batch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def baseline(broker: Mosquitto, args) -> tuple[int, float]:
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-t",
            "dui/v1/+/+/+/results",
            "-F",
            "x",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    count = [0]
    stamps: list[float] = []

    def read() -> None:
        assert sub.stdout is not None
        for _ in sub.stdout:
            count[0] += 1
            stamps.append(time.monotonic())

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(1)
    publisher = blast(broker.port, args.seconds, args.agents, args.batch)
    sent = int(publisher.communicate()[0])
    time.sleep(3)
    sub.terminate()
    sub.wait(10)
    elapsed = (stamps[-1] - stamps[0]) if len(stamps) > 1 else 1.0
    return sent, count[0] * args.batch / elapsed


def collector(broker: Mosquitto, workdir: Path, args) -> tuple[int, float]:
    process = CollectorProcess(workdir, {"mqtt": {"url": broker.url}, "log": {"level": "warning"}})
    process.start()
    try:
        before = process.metrics().get("dui_collector_results_total", 0.0)
        started = time.monotonic()
        publisher = blast(broker.port, args.seconds, args.agents, args.batch)
        sent = int(publisher.communicate()[0])
        expected = before + sent * args.batch
        last, last_change = before, time.monotonic()
        while time.monotonic() - last_change < 5:
            now_value = process.metrics().get("dui_collector_results_total", 0.0)
            if now_value != last:
                last, last_change = now_value, time.monotonic()
            if now_value >= expected:
                break
            time.sleep(0.2)
        stored = last - before
        elapsed = last_change - started
        return sent, stored / elapsed
    finally:
        process.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--batch", type=int, default=50, help="results per message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker_dir = Path(tmp) / "broker"
        broker_dir.mkdir()
        broker = Mosquitto(broker_dir)
        broker.start()
        try:
            sent_a, sub_rate = baseline(broker, args)
            work = Path(tmp) / "collector"
            work.mkdir()
            sent_b, collector_rate = collector(broker, work, args)
        finally:
            broker.stop()
    print(
        f"\n{args.agents} fake agents, {args.batch} results per message, "
        f"{args.seconds:g} s of publishing each run\n"
    )
    print(f"{'consumer':<34}{'messages sent':>15}{'results/s':>12}")
    print(f"{'mosquitto_sub -q 1 (nothing kept)':<34}{sent_a:>15}{sub_rate:>12.0f}")
    print(f"{'dui-collector (ledger on)':<34}{sent_b:>15}{collector_rate:>12.0f}")
    print(
        f"\nratio collector / mosquitto_sub: {collector_rate / sub_rate:.2f}  (quality bar: ≥ 0.8)"
    )


if __name__ == "__main__":
    main()
