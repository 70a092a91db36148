"""dui-agent's memory and CPU at its default schedule next to blackbox_exporter, on loopback.

    .venv/bin/python -m bench.agent_footprint [--minutes 3] [--warmup 30] [--worker thread]
    .venv/bin/python -m bench.agent_footprint --imports

The agent runs its default schedule (an http target with its dns probe, two latency
targets, every 30 s; context and inventory on) against loopback servers, publishing to
a loopback Mosquitto with a stand-in collector acking; blackbox_exporter is asked for
the same probes every 30 s, as Prometheus would. After the warm-up, RSS and PSS
(/proc/PID/smaps_rollup) of every process are sampled each second: medians per
process and summed, and CPU over the period. `--imports` prints what each import
costs the probe process and the main process, in import order. Needs Debian's
mosquitto and prometheus-blackbox-exporter and curl; no root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.agent_bench import start

ROOT = Path(__file__).resolve().parent.parent
THINK = 0.020
TOOLS = ("curl", "mosquitto", "prometheus-blackbox-exporter")
BLACKBOX_CONFIG = """modules:
  http_2xx: {prober: http, timeout: 10s, http: {preferred_ip_protocol: ip4}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
"""
# What each process imports, in the order it does, for --imports.
# Standard-library and third-party modules first, so each line is what it costs itself.
PROBE_IMPORTS = [
    "json",  # with re
    "threading",
    "concurrent.futures",
    "socket",
    "ssl",  # libssl, libcrypto
    "email.parser",  # for http.client's headers
    "http.client",
    "dataclasses",  # with inspect
    "subprocess",
    "platform",
    "pathlib",
    "agent.probe_process",
    "agent.probes.latency",
    "agent.probes.http",
    "agent.probes.dns",
    "agent.probes.context",
    "agent.probes.inventory",
]
MAIN_IMPORTS = [
    "ssl",
    "concurrent.futures",
    "asyncio",
    "msgspec",
    "paho.mqtt.client",
    "aiomqtt",
    "yaml",
    "click",
    "sqlite3",
    "runtime.version",
    "agent.config",
    "agent.spool",
    "agent.link",
    "agent.worker",
    "agent.scheduler",
    "agent.run",
    "agent.cli",
]
_IMPORT_COST = """
import importlib, sys
def rss():
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('VmRSS'))
prev = rss()
print(f"{'(interpreter)':<28}{prev / 1000:>8.1f}")
for name in sys.argv[1:]:
    importlib.import_module(name)
    now = rss()
    print(f"{name:<28}{(now - prev) / 1000:>+8.1f}{now / 1000:>8.1f}")
    prev = now
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in bytes, from /proc/PID/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0]) * 1024
    return values["Rss"], values["Pss"]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def blackbox_round(address: str, http_url: str, latency: list[str]) -> None:
    """blackbox_exporter probes only when asked: the http target (with its DNS) and
    10 TCP connects to each latency target, as the agent's default schedule does."""
    urls = [f"http://{address}/probe?module=http_2xx&target={http_url}"]
    for _ in range(10):
        urls += [f"http://{address}/probe?module=tcp_connect&target={t}" for t in latency]
    for url in urls:
        subprocess.run(["curl", "-s", "-o", "/dev/null", url], check=False)


def agent_config(workdir: Path, worker: str, broker: int, http_port: int, other_port: int) -> Path:
    config = workdir / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "org": "bench",
                "site": "bench",
                "agent": "footprint",
                "probe_worker": worker,
                "mqtt": {"url": f"mqtt://127.0.0.1:{broker}"},
                "spool": {"path": str(workdir / "spool.db")},
                "log": {"level": "warning"},
                "targets": [  # the default schedule: every 30 s, 10 samples per latency run
                    {
                        "name": "dui-login",
                        "role": "dui",
                        "http": {"url": f"http://localhost:{http_port}/"},
                        "dns": {},
                    },
                    {
                        "name": "dui-host",
                        "role": "dui",
                        "latency": {"host": "127.0.0.1", "port": http_port},
                    },
                    {
                        "name": "internet",
                        "role": "internet",
                        "latency": {"host": "127.0.0.1", "port": other_port},
                    },
                ],
            }
        )
    )
    return config


def measure(minutes: float, warmup: float, worker: str) -> dict[str, dict[str, float]]:
    procs: list[subprocess.Popen[str]] = []
    py = sys.executable
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            broker = free_port()
            (workdir / "mosquitto.conf").write_text(
                f"listener {broker} 127.0.0.1\nallow_anonymous true\n"
            )
            procs.append(start(["mosquitto", "-c", str(workdir / "mosquitto.conf")], ready=None))
            time.sleep(0.5)
            procs.append(start([py, "-m", "bench.ack_forever", str(broker)]))
            ports = [free_port(), free_port()]
            server = [py, "-m", "tests.helpers.delayed_server", "--think", str(THINK)]
            for port in ports:
                procs.append(start([*server, "--bind", "127.0.0.1", "--port", str(port)]))
            bb_address = f"127.0.0.1:{free_port()}"
            (workdir / "blackbox.yml").write_text(BLACKBOX_CONFIG)
            blackbox = start(
                [
                    "prometheus-blackbox-exporter",
                    f"--config.file={workdir / 'blackbox.yml'}",
                    f"--web.listen-address={bb_address}",
                ],
                ready=None,
            )
            procs.append(blackbox)
            config = agent_config(workdir, worker, broker, *ports)
            agent = subprocess.Popen(
                [py, "-m", "agent", "run", "--config", str(config)],
                cwd=ROOT,
                stderr=subprocess.DEVNULL,
            )
            procs.append(agent)
            return sample(agent.pid, blackbox.pid, bb_address, ports, minutes, warmup)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def sample(
    agent: int, blackbox: int, bb_address: str, ports: list[int], minutes: float, warmup: float
) -> dict[str, dict[str, float]]:
    http_url = f"http://localhost:{ports[0]}/"
    latency = [f"127.0.0.1:{p}" for p in ports]
    end = time.monotonic() + warmup + minutes * 60
    measuring_from = end - minutes * 60
    samples: dict[str, list[tuple[int, int]]] = {}
    cpu_start: dict[str, float] = {}
    next_round = time.monotonic() + 1
    wall_start = 0.0
    pids: dict[str, int] = {}
    while time.monotonic() < end:
        if time.monotonic() >= next_round:
            blackbox_round(bb_address, http_url, latency)
            next_round += 30
        kids = children(agent)
        pids = {"agent main": agent, "blackbox": blackbox}
        if kids:
            pids["agent probe process"] = kids[0]
        if time.monotonic() >= measuring_from:
            if not cpu_start:
                cpu_start = {name: cpu_seconds(pid) for name, pid in pids.items()}
                wall_start = time.monotonic()
            for name, pid in pids.items():
                samples.setdefault(name, []).append(memory(pid))
        time.sleep(1)
    wall = time.monotonic() - wall_start
    out = {
        name: {
            "rss": statistics.median(r for r, _ in values),
            "pss": statistics.median(p for _, p in values),
            "cpu": (cpu_seconds(pids[name]) - cpu_start.get(name, 0.0)) / wall,
        }
        for name, values in samples.items()
    }
    summed = [
        tuple(map(sum, zip(*rows, strict=True)))
        for rows in zip(samples["agent main"], samples.get("agent probe process", []), strict=False)
    ]
    if summed:
        out["agent, summed"] = {
            "rss": statistics.median(r for r, _ in summed),
            "pss": statistics.median(p for _, p in summed),
            "cpu": out["agent main"]["cpu"] + out["agent probe process"]["cpu"],
        }
    return out


def report(out: dict[str, dict[str, float]], minutes: float) -> None:
    b = out["blackbox"]
    print(
        f"\n{'footprint, ' + format(minutes, 'g') + ' min, default schedule':<36}"
        f"{'RSS MB':>8}{'PSS MB':>8}{'CPU %':>8}{'RSS/bb':>8}{'PSS/bb':>8}"
    )
    for name in ("agent main", "agent probe process", "agent, summed", "blackbox"):
        if name not in out:
            continue
        f = out[name]
        print(
            f"{name:<36}{f['rss'] / 1e6:>8.1f}{f['pss'] / 1e6:>8.1f}{f['cpu'] * 100:>8.3f}"
            f"{f['rss'] / b['rss']:>8.2f}{f['pss'] / b['pss']:>8.2f}"
        )


def imports() -> None:
    """What each import adds to RSS, in the probe process's and the main process's order."""
    for title, cmd, names in (
        ("probe process", [sys.executable, "-I"], PROBE_IMPORTS),
        ("main process", [sys.executable], MAIN_IMPORTS),
    ):
        print(f"\n{title:<28}{'+MB':>8}{'RSS MB':>8}")
        code = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{_IMPORT_COST}"
        subprocess.run([*cmd, "-c", code, *names], cwd=ROOT, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="measured period (3)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before (30)")
    parser.add_argument("--imports", action="store_true", help="per-import costs only")
    parser.add_argument(
        "--worker", choices=("process", "thread"), default="process", help="probe_worker"
    )
    args = parser.parse_args()
    if args.imports:
        imports()
        return
    for tool in TOOLS:
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"needs {tool} (apt-get install -y {' '.join(TOOLS)})")
    print(f"measuring for {args.minutes:g} min after {args.warmup:g} s", file=sys.stderr)
    report(measure(args.minutes, args.warmup, args.worker), args.minutes)


if __name__ == "__main__":
    main()
