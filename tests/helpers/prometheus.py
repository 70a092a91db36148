"""A real Prometheus (Debian's `prometheus`) on a free loopback port, for end-to-end tests
of the dashboards and the alert rules: scrapes given targets every second, evaluates the
given rule files every second, keeps its data in a temporary folder.

    with prometheus_server(tmp_path, ["127.0.0.1:9108"], [rules_path]) as prom:
        prom.query('dui_sla_seconds_total')      # the instant vector's samples
        prom.query_range('up', start, end)         # as a time series panel asks
        prom.alerts()                              # /api/v1/alerts

Skips the test when the binary is missing; always stops the process it started.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import yaml

from tests.helpers.broker import end_process, free_port
from tests.helpers.poll import wait_until

INSTALL = "apt-get install -y prometheus"


def prometheus_binary() -> str:
    """The prometheus binary's path; skips the test when there is none."""
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    if not Path(binary).exists():
        pytest.skip(f"prometheus is not installed: {INSTALL}")
    return binary


class Prometheus:
    """The HTTP API of a running Prometheus (api/v1 answers, `data` unwrapped)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, path: str, **params: str) -> dict | list:
        """GET /api/v1/PATH?PARAMS; its `data`, or AssertionError with Prometheus's error."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as exc:  # 400/422: a bad query, said in the body
            body = json.loads(exc.read() or b"{}")
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """The samples of an instant query now: [{'metric': {...}, 'value': [ts, '1']}]."""
        data = self.api("query", query=expr)
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [{"value": result}]

    def query_range(self, expr: str, start: float, end: float, step: float = 1.0) -> list[dict]:
        """The series of a range query, as Grafana runs a time series or stat panel's:
        [{'metric': {...}, 'values': [[ts, '1'], ...]}]."""
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        return data["result"]

    def label_values(self, label: str, match: str | None = None) -> list[str]:
        """What Grafana's label_values(MATCH, LABEL) lists."""
        params = {"match[]": match} if match else {}
        return self.api(f"label/{label}/values", **params)

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def rules(self) -> list[dict]:
        """Every rule of every group, each with its group's name under 'group'."""
        return [
            {**rule, "group": group["name"]}
            for group in self.api("rules")["groups"]
            for rule in group["rules"]
        ]

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:  # refused before it listens, 503 while it starts
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def prometheus_server(
    workdir: Path, targets: Sequence[str], rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` (host:port, /metrics) every second, ready when the
    block starts, terminated when it ends."""
    binary = prometheus_binary()
    folder = workdir / "prometheus"
    folder.mkdir()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(Path(p).resolve()) for p in rule_files],
        "scrape_configs": [{"job_name": "dui", "static_configs": [{"targets": list(targets)}]}],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = folder / "prometheus.log"
    # All three paths given: Debian's defaults are /etc, /var/lib and 0.0.0.0:9090.
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={folder / 'prometheus.yml'}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    prom = Prometheus(port, log_path)
    try:

        def ready() -> bool:
            assert proc.poll() is None, f"prometheus exited {proc.returncode}: {prom.log()}"
            return prom.ready()

        wait_until(ready, 30, "prometheus ready", step=0.1)
        yield prom
    finally:
        end_process(proc, grace=10)
