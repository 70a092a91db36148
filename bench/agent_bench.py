"""dui-agent side by side with Prometheus blackbox_exporter, through a delaywire link.

    sudo .venv/bin/python -m bench.agent_bench [--rounds 15] [--busy-minutes 4]

One run measures, on the same link (10 ms each way, 20 Mbit/s) and the same server
(20 ms think time): timing error of TCP-connect RTT and HTTP connect / processing
phases against reference clients (a bare timed connect, curl), for the agent and for
blackbox_exporter; bandwidth against the link's rate. (Memory: bench/agent_footprint.py.)
The busy case runs a whole agent at its default schedule with
several targets on one host while it re-sends a spool backlog, and compares each of
its timed results with reference clients and blackbox_exporter measuring the same
server at the same time. Prints one table. Needs root, /dev/net/tun, Debian's
mosquitto, mosquitto-clients, prometheus-blackbox-exporter and curl.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DELAYWIRE = ROOT / "tools" / "delaywire.py"
NAME = "dwbench"
CLIENT, SERVER = f"{NAME}-a", f"{NAME}-b"
ADDR = "198.18.0.2"
DELAY_MS, RATE_MBIT, THINK = 10, 20, 0.020
HTTP_URL = f"http://{ADDR}:8080/"
SPEED_URL = f"http://{ADDR}:8081/speedtest"
BLACKBOX = "127.0.0.1:9115"
BLACKBOX_CONFIG = """modules:
  http_2xx: {prober: http, timeout: 10s, http: {preferred_ip_protocol: ip4}}
  tcp_connect: {prober: tcp, timeout: 5s, tcp: {preferred_ip_protocol: ip4}}
"""


def ns(namespace: str, *cmd: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *cmd]


def run(cmd: list[str], timeout: float = 120) -> str:
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=True
    ).stdout


def start(cmd: list[str], ready: str | None = "ready") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    if ready is not None:
        line = proc.stdout.readline().strip() if proc.stdout else ""
        if line != ready:
            proc.kill()
            raise RuntimeError(f"{cmd} did not start (said {line!r})")
    return proc


def wait_http(url: str, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if subprocess.run(ns(CLIENT, "curl", "-sf", "-o", "/dev/null", url)).returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def agent_check(workdir: Path, targets: list[dict]) -> list[dict]:
    config = workdir / "check.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "org": "bench",
                "site": "bench",
                "agent": "a1",
                "inventory": {"enabled": False},
                "context": {"enabled": False},
                "targets": targets,
            }
        )
    )
    out = run(ns(CLIENT, sys.executable, "-m", "agent", "check", "--json", "--config", str(config)))
    return json.loads(out)["results"]


def blackbox_probe(
    module: str, target: str, namespace: str = CLIENT, address: str = BLACKBOX
) -> dict[str, float]:
    out = run(
        ns(namespace, "curl", "-s", f"http://{address}/probe?module={module}&target={target}")
    )
    values: dict[str, float] = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def reference_rtts(spacing: float, namespace: str = CLIENT, samples: int = 10) -> list[float]:
    """Round trips of a bare timed connect to the server (tests/helpers/reference_client)."""
    cmd = [sys.executable, "-m", "tests.helpers.reference_client", ADDR, "8080"]
    return json.loads(run(ns(namespace, *cmd, str(samples), str(spacing))))


def curl_timings(url: str = HTTP_URL, namespace: str = CLIENT) -> tuple[float, float]:
    out = run(
        ns(
            namespace,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_connect} %{time_pretransfer} %{time_starttransfer}",
            url,
        )
    ).split()
    connect, pretransfer, starttransfer = map(float, out)
    return connect, starttransfer - pretransfer


def accuracy(workdir: Path, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Per figure: lists of agent, blackbox and reference values, interleaved by round.
    Each tool measures alone, one after the other, so none queues behind another's
    packets on the rate-limited link."""
    data: dict[str, dict[str, list[float]]] = {
        f: {"agent": [], "blackbox": [], "reference": []}
        for f in ("tcp_rtt", "http_connect", "http_processing")
    }
    http = {"name": "dui-login", "role": "dui", "http": {"url": HTTP_URL}}
    latency = {
        "name": "dui-host",
        "role": "dui",
        "latency": {"host": ADDR, "port": 8080, "samples": 10, "spacing": "20ms"},
    }
    for i in range(rounds):
        print(f"  accuracy round {i + 1}/{rounds}", file=sys.stderr)
        (result,) = agent_check(workdir, [latency])
        data["tcp_rtt"]["agent"].append(result["rtt_seconds"]["avg"])
        data["tcp_rtt"]["reference"].append(statistics.mean(reference_rtts(0.02)))
        # blackbox's tcp prober reports only the whole probe; the connect phase of its
        # http prober is its TCP-connect RTT.
        bb = blackbox_probe("http_2xx", HTTP_URL)
        data["tcp_rtt"]["blackbox"].append(bb['probe_http_duration_seconds{phase="connect"}'])
        (result,) = agent_check(workdir, [http])
        data["http_connect"]["agent"].append(result["phases"]["connect"])
        data["http_processing"]["agent"].append(result["phases"]["processing"])
        connect, processing = curl_timings()
        data["http_connect"]["reference"].append(connect)
        data["http_processing"]["reference"].append(processing)
        bb = blackbox_probe("http_2xx", HTTP_URL)
        data["http_connect"]["blackbox"].append(bb['probe_http_duration_seconds{phase="connect"}'])
        data["http_processing"]["blackbox"].append(
            bb['probe_http_duration_seconds{phase="processing"}']
        )
    return data


def bandwidth(workdir: Path, token_file: Path) -> dict[str, float]:
    target = {
        "name": "link",
        "role": "speedtest",
        "bandwidth": {
            "url": SPEED_URL,
            "max_bytes": "30MB",
            "timeout": "60s",
            "token_file": str(token_file),
        },
    }
    rates: dict[str, list[float]] = {"download": [], "upload": []}
    for i in range(3):
        print(f"  bandwidth run {i + 1}/3", file=sys.stderr)
        (r,) = agent_check(workdir, [target])
        rates["download"].append(r["download_bytes_per_second"])
        rates["upload"].append(r["upload_bytes_per_second"])
    return {k: statistics.median(v) for k, v in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="accuracy rounds (15)")
    parser.add_argument(
        "--only",
        choices=("accuracy", "bandwidth", "busy"),
        help="measure one part only",
    )
    parser.add_argument("--busy-minutes", type=float, default=4.0, help="busy period (4)")
    args = parser.parse_args()
    from bench.busy import measure as busy_measure  # here: bench.busy imports this module
    from bench.busy import table as busy_table

    for tool in ("ip", "curl", "mosquitto", "mosquitto_sub", "prometheus-blackbox-exporter"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(
                f"needs {tool} (apt-get install -y iproute2 curl mosquitto mosquitto-clients "
                "prometheus-blackbox-exporter)"
            )
    if args.only == "busy":
        with tempfile.TemporaryDirectory() as tmp:
            print(f"measuring the busy case for {args.busy_minutes:g} min", file=sys.stderr)
            busy_table(busy_measure(Path(tmp), args.busy_minutes), args.busy_minutes)
        return
    delaywire = [sys.executable, str(DELAYWIRE)]
    subprocess.run([*delaywire, "down", "--name", NAME], capture_output=True)
    subprocess.run(
        [
            *delaywire,
            "up",
            "--name",
            NAME,
            "--delay",
            f"{DELAY_MS}ms",
            "--rate",
            f"{RATE_MBIT}mbit",
        ],
        check=True,
        capture_output=True,
    )
    procs: list[subprocess.Popen[str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            token = workdir / "token"
            token.write_text("speedtest-token")
            bb_config = workdir / "blackbox.yml"
            bb_config.write_text(BLACKBOX_CONFIG)
            procs.append(
                start(
                    ns(
                        SERVER,
                        sys.executable,
                        "-m",
                        "tests.helpers.delayed_server",
                        "--bind",
                        ADDR,
                        "--port",
                        "8080",
                        "--think",
                        str(THINK),
                    )
                )
            )
            procs.append(
                start(ns(SERVER, sys.executable, "-m", "tests.helpers.speedtest", ADDR, "8081"))
            )
            blackbox = start(
                ns(
                    CLIENT,
                    "prometheus-blackbox-exporter",
                    f"--config.file={bb_config}",
                    f"--web.listen-address={BLACKBOX}",
                ),
                ready=None,
            )
            procs.append(blackbox)
            wait_http(f"http://{BLACKBOX}/metrics")
            acc = bw = None
            if args.only in (None, "accuracy"):
                print("measuring accuracy", file=sys.stderr)
                acc = accuracy(workdir, args.rounds)
            if args.only in (None, "bandwidth"):
                print("measuring bandwidth", file=sys.stderr)
                bw = bandwidth(workdir, token)
    finally:
        for proc in procs:
            proc.kill()
        subprocess.run([*delaywire, "down", "--name", NAME], capture_output=True)
    busy = None
    if args.only is None:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"measuring the busy case for {args.busy_minutes:g} min", file=sys.stderr)
            busy = busy_measure(Path(tmp), args.busy_minutes)
    report(acc, bw, args)
    if busy:
        busy_table(busy, args.busy_minutes)


def report(acc, bw, args) -> None:
    print(
        f"\ndui-agent vs blackbox_exporter 0.23 through delaywire: {DELAY_MS} ms each way, "
        f"{RATE_MBIT} Mbit/s, server think {THINK * 1000:g} ms"
    )
    if acc:
        accuracy_table(acc, args.rounds)
    if bw:
        bandwidth_table(bw)
    print("\n(errors are |median − reference median|)")


def accuracy_table(acc, rounds: int) -> None:
    med = statistics.median
    print(
        f"\n{'timing, ' + str(rounds) + ' rounds':<28}{'reference':>12}{'agent':>12}"
        f"{'blackbox':>12}{'agent err':>12}{'bb err':>10}{'err ratio':>11}"
    )
    for figure, label in (
        ("tcp_rtt", "TCP connect RTT (ms)"),
        ("http_connect", "HTTP connect phase (ms)"),
        ("http_processing", "HTTP processing phase (ms)"),
    ):
        d = acc[figure]
        ref = med(d["reference"])
        agent_err = abs(med(d["agent"]) - ref)
        bb_err = abs(med(d["blackbox"]) - ref)
        ratio = f"{agent_err / bb_err:.2f}" if bb_err > 0 else "-"
        print(
            f"{label:<28}{ref * 1e3:>12.3f}{med(d['agent']) * 1e3:>12.3f}"
            f"{med(d['blackbox']) * 1e3:>12.3f}{agent_err * 1e3:>12.3f}{bb_err * 1e3:>10.3f}"
            f"{ratio:>11}"
        )


def bandwidth_table(bw) -> None:
    rate = RATE_MBIT * 1e6 / 8
    print(f"\n{'bandwidth':<28}{'link rate':>12}{'agent':>12}{'agent/rate':>12}{'/0.965 rate':>12}")
    for direction in ("download", "upload"):
        value = bw[direction]
        print(
            f"{direction + ' (Mbit/s)':<28}{RATE_MBIT:>12.2f}{value * 8 / 1e6:>12.2f}"
            f"{value / rate:>12.3f}{value / (0.965 * rate):>12.3f}"
        )


if __name__ == "__main__":
    main()
