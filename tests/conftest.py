"""Fixtures with real parts: Mosquitto, the stand-in collector, the agent as a process."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.helpers.acker import Acker
from tests.helpers.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
DELAYWIRE = ROOT.parent / "shared" / "tools" / "delaywire.py"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def acker(mosquitto: Mosquitto):
    async with Acker(mosquitto.port) as stand_in:
        yield stand_in


class ServiceProcess:
    """A service under test as a real process: stop it with a signal, read its log."""

    proc: subprocess.Popen[bytes] | None
    log_path: Path

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.proc = None
        return code

    async def astop(self, sig: int = signal.SIGTERM) -> int:
        """stop() off the event loop, so the test's MQTT clients keep running."""
        return await asyncio.to_thread(self.stop, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class AgentProcess(ServiceProcess):
    """`dui-agent run` as a real process, with its config written from a dict."""

    def __init__(self, workdir: Path, config: dict) -> None:
        self.workdir = workdir
        self.config_path = workdir / "agent.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.spool_path = Path(config["spool"]["path"])
        self.log_path = workdir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )


def agent_config(tmp_path: Path, broker_url: str, targets: list[dict], **extra) -> dict:
    config = {
        "org": "og-test",
        "site": "site-a",
        "agent": "poste-1",
        "mqtt": {"url": broker_url, "ack_timeout": "2s"},
        "spool": {"path": str(tmp_path / "spool.db")},
        "targets": targets,
        "log": {"level": "debug"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    return config


def _processes(tmp_path: Path, kind: type, prefix: str) -> Iterator:
    """A factory of service processes, each in its own folder, all killed afterwards."""
    started: list[ServiceProcess] = []

    def make(config: dict) -> ServiceProcess:
        workdir = tmp_path / f"{prefix}{len(started)}"
        workdir.mkdir()
        process = kind(workdir, config)
        started.append(process)
        return process

    yield make
    for process in started:
        if process.proc is not None:
            process.stop(signal.SIGKILL)


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator:
    yield from _processes(tmp_path, AgentProcess, "agent")


def netns_unavailable() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux to build network namespaces"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if not shutil.which("ip"):
        return "no ip command (iproute2)"
    if not DELAYWIRE.exists():
        return f"{DELAYWIRE} not found"
    return None


class Wire:
    """A delaywire link: client namespace `{name}-a` (198.18.0.1) and server `{name}-b`."""

    client_addr = "198.18.0.1"
    server_addr = "198.18.0.2"

    def __init__(self, name: str) -> None:
        self.name = name
        self.client_ns = f"{name}-a"
        self.server_ns = f"{name}-b"

    def up(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(DELAYWIRE), "up", "--name", self.name, *args],
            check=True,
            timeout=60,
            capture_output=True,
        )

    def down(self) -> None:
        subprocess.run(
            [sys.executable, str(DELAYWIRE), "down", "--name", self.name],
            timeout=60,
            capture_output=True,
        )

    def in_client(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.client_ns, *cmd]

    def in_server(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, *cmd]


@pytest.fixture
def delaywire() -> Iterator:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    wires: list[Wire] = []

    def make(*args: str) -> Wire:
        wire = Wire(f"dw{os.getpid() % 10000}{len(wires)}")
        wire.down()  # leftovers of an interrupted run
        wire.up(*args)
        wires.append(wire)
        return wire

    yield make
    for wire in wires:
        wire.down()


def wait_until(predicate, timeout: float, what: str = "condition", step: float = 0.05) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class CollectorProcess(ServiceProcess):
    """`dui-collector run` as a real process on free loopback ports."""

    def __init__(self, workdir: Path, config: dict) -> None:
        from tests.helpers.broker import free_port

        self.workdir = workdir
        self.http_port = free_port()
        config.setdefault("http", {})["listen"] = f"127.0.0.1:{self.http_port}"
        config.setdefault("ledger", {}).setdefault("url", f"sqlite:///{workdir / 'ledger.db'}")
        self.ledger_path = Path("/" + config["ledger"]["url"].removeprefix("sqlite://").lstrip("/"))
        self.config_path = workdir / "collector.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait_connected: bool = True) -> None:
        from tests.helpers.broker import wait_port

        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        wait_port(self.http_port, timeout=20)
        if wait_connected:
            wait_until(lambda: self.get("/healthz")[0] == 200, 20, "collector healthy")

    def get(self, path: str) -> tuple[int, str]:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError as exc:
            return 0, str(exc)

    def metrics(self) -> dict[str, float]:
        """Samples as {'name{a="1",b="2"}': value}, label names sorted."""
        from prometheus_client.parser import text_string_to_metric_families

        status, text = self.get("/metrics")
        assert status == 200, text
        values = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return values

    def ledger(self):
        import sqlite3

        return sqlite3.connect(f"file:{self.ledger_path}?mode=ro", uri=True, timeout=10)


@pytest.fixture
def collector_process(tmp_path: Path) -> Iterator:
    yield from _processes(tmp_path, CollectorProcess, "collector")


def ledger_seqs(collector: CollectorProcess, agent: str = "poste-1") -> dict[str, list[int]]:
    db = collector.ledger()
    try:
        rows = db.execute(
            "SELECT epoch, seq FROM results WHERE agent = ? ORDER BY epoch, seq", (agent,)
        ).fetchall()
    finally:
        db.close()
    out: dict[str, list[int]] = {}
    for epoch, seq in rows:
        out.setdefault(epoch, []).append(seq)
    return out
