"""The agent and the collector as real processes, with their configs written from dicts.

`process_factory` makes them for a fixture, each in its own folder, and kills whatever a
test left running.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from tests.helpers import ROOT
from tests.helpers.broker import end_process, free_port, wait_port
from tests.helpers.poll import wait_until


class ServiceProcess:
    """A service under test as a real process: start it, stop it with a signal, read its log."""

    module: str  # run as `python -m MODULE run --config CONFIG`
    proc: subprocess.Popen[bytes] | None
    config_path: Path
    log_path: Path

    def __init__(self, workdir: Path, config: dict) -> None:
        self.workdir = workdir
        self.config_path = workdir / f"{self.module}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / f"{self.module}.log"
        self.proc = None

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open by the child
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "run", "--config", str(self.config_path)],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        code = end_process(self.proc, sig, grace=20)
        self.proc = None
        return code

    async def astop(self, sig: int = signal.SIGTERM) -> int:
        """stop() off the event loop, so the test's MQTT clients keep running."""
        return await asyncio.to_thread(self.stop, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class AgentProcess(ServiceProcess):
    """`dui-agent run` as a real process."""

    module = "agent"

    def __init__(self, workdir: Path, config: dict) -> None:
        super().__init__(workdir, config)
        self.spool_path = Path(config["spool"]["path"])


def agent_config(tmp_path: Path, broker_url: str, targets: list[dict], **extra) -> dict:
    """An agent config for site-a/poste-1; `extra` sections are merged into the defaults."""
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


class CollectorProcess(ServiceProcess):
    """`dui-collector run` as a real process on free loopback ports."""

    module = "collector"

    def __init__(self, workdir: Path, config: dict) -> None:
        self.http_port = free_port()
        config.setdefault("http", {})["listen"] = f"127.0.0.1:{self.http_port}"
        config.setdefault("ledger", {}).setdefault("url", f"sqlite:///{workdir / 'ledger.db'}")
        self.ledger_path = Path("/" + config["ledger"]["url"].removeprefix("sqlite://").lstrip("/"))
        super().__init__(workdir, config)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, wait_connected: bool = True) -> None:
        super().start()
        wait_port(self.http_port, timeout=20)
        if wait_connected:
            wait_until(lambda: self.get("/healthz")[0] == 200, 20, "collector healthy")

    def get(self, path: str) -> tuple[int, str]:
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

    def ledger(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.ledger_path}?mode=ro", uri=True, timeout=10)


def ledger_seqs(collector: CollectorProcess, agent: str = "poste-1") -> dict[str, list[int]]:
    """The seqs the collector stored for `agent`, per epoch, in order."""
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


def process_factory(
    tmp_path: Path, kind: type[ServiceProcess], prefix: str
) -> Iterator[Callable[[dict], ServiceProcess]]:
    """Yields make(config): a process in its own folder; all are killed afterwards."""
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
