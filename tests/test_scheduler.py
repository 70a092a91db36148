"""Scheduling: jobs from the config, the bandwidth gate, off-peak windows, `check --json`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import time

import msgspec
import pytest
import yaml

from agent.config import parse
from agent.scheduler import (
    MINUTE_OFFSET,
    Gate,
    Job,
    build_jobs,
    dui_hosts,
    in_window,
    next_minute_run,
    run_once,
)
from agent.worker import ThreadRunner
from tests.helpers import ROOT
from tests.helpers.poll import await_until
from tests.helpers.servers import http_server, silent_server
from tests.helpers.speedtest import speedtest_server
from wire.schema import Result


def at(hhmm: str) -> dt.datetime:
    return dt.datetime.combine(dt.date(2026, 11, 23), dt.time.fromisoformat(hhmm))


def test_windows_including_midnight() -> None:
    assert in_window(None, at("12:00"))
    assert in_window("20:00-07:00", at("23:59")) and in_window("20:00-07:00", at("06:59"))
    assert not in_window("20:00-07:00", at("07:00")) and not in_window("20:00-07:00", at("12:00"))
    assert in_window("08:00-12:00", at("08:00")) and not in_window("08:00-12:00", at("12:00"))
    assert in_window("00:00-24:00", at("23:59"))


CONFIG = {
    "org": "og",
    "site": "s1",
    "agent": "a1",
    "proxy": "none",
    "targets": [
        {
            "name": "dui-login",
            "role": "dui",
            "http": {"url": "https://dui.example/login"},
            "dns": {},
        },
        {"name": "dui-host", "role": "dui", "latency": {"host": "api.dui.example"}},
        {"name": "gw", "role": "gateway", "latency": {"host": "auto"}},
        {
            "name": "link",
            "role": "speedtest",
            "bandwidth": {"url": "https://collector.example/speedtest", "window": "20:00-07:00"},
        },
    ],
    "usage": {"enabled": True},
}


def test_jobs_from_config() -> None:
    config = parse(CONFIG)
    jobs = {(j.target, j.kind): j for j in build_jobs(config)}
    assert set(jobs) == {
        ("dui-login", "http"),
        ("dui-login", "dns"),
        ("dui-host", "latency"),
        ("gw", "latency"),
        ("link", "bandwidth"),
        ("workstation", "inventory"),
        ("workstation", "context"),
        ("dui", "usage"),
    }
    assert jobs[("dui-login", "dns")].params["host"] == "dui.example"
    assert jobs[("link", "bandwidth")].window == "20:00-07:00"
    assert jobs[("link", "bandwidth")].params["site"] == "s1"
    assert (
        jobs[("workstation", "inventory")].at_start
        and jobs[("workstation", "inventory")].interval == 86400
    )
    assert jobs[("dui", "usage")].params["hosts"] == ["api.dui.example", "dui.example"]
    assert dui_hosts(config) == ["api.dui.example", "dui.example"]
    assert [k for (_, k), j in jobs.items() if j.per_minute] == ["usage"]


def test_usage_runs_once_per_wall_clock_minute() -> None:
    """Each usage result is one workstation-minute: runs fall one per UTC minute, at the
    same second of it, whether the previous run ended early or overran its minute."""
    minute = 29_925_000 * 60
    for offset in (MINUTE_OFFSET[0], 17.3, MINUTE_OFFSET[1]):
        runs = [next_minute_run(minute - 1, offset)]
        for took in (0.0, 1.5, 20.0, 0.2):  # each run ends `took` after it started
            runs.append(next_minute_run(runs[-1] + took, offset))
        assert [int(t // 60) - minute // 60 for t in runs] == [0, 1, 2, 3, 4]
        assert {round(t % 60, 6) for t in runs} == {offset}
    overran = next_minute_run(minute + 10 + 65, 10)  # a run that took 65 s: skip a minute
    assert overran == minute + 120 + 10


async def test_bandwidth_waits_for_timed_probes_and_holds_them_off() -> None:
    gate = Gate()
    order: list[str] = []

    async def hold(name: str, exclusive: bool, seconds: float) -> None:
        async with gate.hold(exclusive):
            order.append(f"{name}+")
            await asyncio.sleep(seconds)  # the probe's run: holding the gate is what is tested
            order.append(f"{name}-")

    latency = asyncio.create_task(hold("latency", False, 0.2))
    await await_until(lambda: order == ["latency+"], 5, "latency holding the gate", step=0.01)
    bandwidth = asyncio.create_task(hold("bandwidth", True, 0.2))
    await await_until(  # the gate counts the exclusive holds that wait
        lambda: gate._waiting_exclusive == 1, 5, "bandwidth waiting at the gate", step=0.01
    )
    http = asyncio.create_task(hold("http", False, 0.05))  # arrives while bandwidth waits
    await asyncio.gather(latency, bandwidth, http)
    assert order == ["latency+", "latency-", "bandwidth+", "bandwidth-", "http+", "http-"]


async def test_context_gets_the_clock_offset_and_skipped_runs_give_nothing(tmp_path) -> None:
    config = parse({**CONFIG, "targets": CONFIG["targets"][:1]})
    context = next(
        j
        for j in build_jobs(config, extra=lambda: {"clock_offset_seconds": -0.8})
        if j.kind == "context"
    )
    async with ThreadRunner() as runner:
        result = await run_once(context, runner)
        assert result["clock_offset_seconds"] == -0.8
        token = tmp_path / "token"
        with speedtest_server(hold=60) as server:
            token.write_text(server.token)
            server.claim("s1", "someone-else")
            job = Job(
                "bandwidth",
                "link",
                "speedtest",
                {
                    "url": f"http://127.0.0.1:{server.server_address[1]}/speedtest",
                    "timeout": 5.0,
                    "token_file": str(token),
                    "site": "s1",
                    "agent": "a1",
                },
                3600,
                5.0,
            )
            assert await run_once(job, runner, Gate()) is None


def test_check_json_is_the_wire_schema(tmp_path) -> None:
    token = tmp_path / "token"
    with http_server() as url, silent_server() as port, speedtest_server(rate=2e6) as speed:
        token.write_text(speed.token)
        config = {
            "org": "og",
            "site": "s1",
            "agent": "a1",
            "usage": {"enabled": True},
            "targets": [
                {"name": "dui-login", "role": "dui", "http": {"url": url}, "dns": {}},
                {
                    "name": "dui-host",
                    "role": "dui",
                    "latency": {"host": "127.0.0.1", "port": port, "samples": 3},
                },
                {
                    "name": "link",
                    "role": "speedtest",
                    "bandwidth": {
                        "url": f"http://127.0.0.1:{speed.server_address[1]}/speedtest",
                        "max_bytes": "4MB",
                        "token_file": str(token),
                        "window": "00:00-00:01",
                    },
                },
            ],
        }
        path = tmp_path / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        started = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "check", "--json", "--config", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    results = json.loads(proc.stdout)["results"]
    wire = [msgspec.convert(r, Result) for r in results]
    assert [r.seq for r in wire] == list(range(1, len(wire) + 1))
    assert {r.probe for r in wire} == {
        "http",
        "dns",
        "latency",
        "bandwidth",
        "inventory",
        "context",
        "usage",
    }
    failed = [(r.probe, r.error) for r in wire if not r.success]
    assert not failed and all(r.ts >= started - 1 for r in wire), failed
    bandwidth = next(r for r in wire if r.probe == "bandwidth")  # check ignores the window
    # accuracy is tested through delaywire (test_accuracy.py); here: a plausible figure
    assert bandwidth.download_bytes_per_second == pytest.approx(2e6, rel=0.5)


def test_check_table_lists_every_probe(tmp_path) -> None:
    with http_server() as url:
        path = tmp_path / "agent.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "org": "og",
                    "site": "s1",
                    "targets": [
                        {
                            "name": "dui-login",
                            "role": "dui",
                            "http": {"url": url + "missing", "expect_regex": "absent"},
                        }
                    ],
                }
            )
        )
        proc = subprocess.run(
            [sys.executable, "-m", "agent", "check", "--config", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1  # the regex is not there
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TARGET", "PROBE", "ROLE", "RESULT", "TIME", "DETAIL"]
    assert any("FAIL body" in line and "HTTP 200" in line for line in lines)
    assert any(line.startswith("workstation  inventory") for line in lines)
    assert "3 probes, 2 ok, 1 failed" in proc.stdout
