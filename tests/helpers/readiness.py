"""Hand-built sites for the readiness tests: inventories, latency, HTTP and bandwidth
results stored through the real ingest into a real SQLite ledger, as agents would send them."""

from __future__ import annotations

import itertools
from typing import Any

from collector.ingest import Ingest
from tests.helpers.batches import batch_json, results_topic
from tests.helpers.inventories import linux_os

NOW = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
DEBIAN_12 = linux_os('NAME="Debian GNU/Linux"\nVERSION_ID="12"\n')  # maintained to 2028-06-30
GOOD_BROWSERS = {"edge": "131.0.2903.70", "chrome": None, "firefox": None}
PREREQUISITES = {
    "workstation": {
        "max_age": "5y",
        "min_ram": "8GB",
        "os_maintained": True,
        "browsers": {"edge": 120, "chrome": 120, "firefox": 115},
    },
    "site": {
        "min_download_per_user": "1Mbit",  # 125 000 B/s
        "max_dui_rtt": "100ms",
        "max_loss": 0.01,
        "max_gateway_rtt": "5ms",
        "max_dui_p95": "3s",
        "min_workstations_per_user": 0.5,
        "min_wifi_signal": 40,
    },
}


def usage(at: float, in_use: bool) -> dict[str, Any]:
    """A usage result (the agent's opt-in probe) measured at `at`."""
    return {"ts": at, "probe": "usage", "target": "dui", "role": "workstation",
            "success": True, "duration_seconds": 0.01, "in_use": in_use, "error": None}  # fmt: skip


class Sites:
    """Writes results for (site, agent) through `ingest`, one batch per call, each agent
    with its own epoch and increasing seqs."""

    def __init__(self, ingest: Ingest, org: str = "og", now: float = NOW) -> None:
        self.ingest, self.org, self.now = ingest, org, now
        self._seq: dict[tuple[str, str], itertools.count[int]] = {}

    def send(self, site: str, agent: str, results: list[dict[str, Any]]) -> None:
        seqs = self._seq.setdefault((site, agent), itertools.count(1))
        for i in range(0, len(results), 400):
            chunk = [{**r, "seq": next(seqs)} for r in results[i : i + 400]]
            payload = batch_json(
                chunk,
                epoch="0123456789abcdef",
                org=self.org,
                site=site,
                agent=agent,
                first_seq=chunk[0]["seq"],
            )
            out = self.ingest.process([(results_topic(self.org, site, agent), payload)], self.now)
            assert out.messages == {"accepted": 1}, out.messages

    def _result(self, probe: str, target: str, role: str, ago: float, **extra: Any) -> dict:
        return {
            "ts": self.now - ago,
            "probe": probe,
            "target": target,
            "role": role,
            "success": True,
            "duration_seconds": 0.1,
            "error": None,
            **extra,
        }

    def workstation(
        self,
        site: str,
        agent: str,
        *,
        link: str = "wired",
        signal: int | None = None,
        firmware: str = "2023-03-01",
        ram: int = 16_000_000_000,
        os: dict[str, Any] | None = None,
        browsers: dict[str, str | None] | None = None,
        ago: float = 3600,
    ) -> None:
        """An inventory result (the workstation's facts and its link)."""
        inventory = self._result(
            "inventory",
            "workstation",
            "workstation",
            ago,
            os=os or DEBIAN_12,
            hardware={"vendor": "Dell Inc.", "model": "OptiPlex 7010", "firmware_date": firmware},
            ram_bytes=ram,
            browsers=browsers or GOOD_BROWSERS,
            link=link,
            wifi_signal_percent=signal,
        )
        self.send(site, agent, [inventory])

    def latency(
        self,
        site: str,
        agent: str,
        role: str,
        rtt: float,
        *,
        received: int = 10,
        runs: int = 6,
        start: float = 6 * 86400,
        span: float | None = None,
    ) -> None:
        """`runs` latency runs of 10 probes spread over `span` (default `start`) from `start`
        ago."""
        step = (start if span is None else span) / runs
        self.send(
            site,
            agent,
            [
                self._result(
                    "latency",
                    role,
                    role,
                    start - i * step,
                    method="tcp",
                    sent=10,
                    received=received,
                    rtt_seconds={"min": rtt, "avg": rtt, "max": rtt} if received else None,
                    loss_ratio=(10 - received) / 10,
                    success=received > 0,
                )
                for i in range(runs)
            ],
        )

    def http(
        self,
        site: str,
        agent: str,
        durations: list[float],
        *,
        failures: int = 0,
        start: float = 6 * 86400,
        span: float | None = None,
    ) -> None:
        """HTTP results to the DUI spread over `span` (default `start`) from `start` ago: the
        durations, then the failures."""
        n = len(durations) + failures
        step = (start if span is None else span) / max(n, 1)
        results = [
            self._result(
                "http", "dui-login", "dui", start - i * step, duration_seconds=d, status_code=200
            )
            for i, d in enumerate(durations)
        ] + [
            self._result(
                "http",
                "dui-login",
                "dui",
                start - (len(durations) + i) * step,
                success=False,
                duration_seconds=10.0,
                error="timeout",
            )
            for i in range(failures)
        ]
        self.send(site, agent, results)

    def bandwidth(self, site: str, agent: str, rates: list[float]) -> None:
        """Bandwidth runs (download bytes/s), one a day."""
        self.send(
            site,
            agent,
            [
                self._result(
                    "bandwidth",
                    "link",
                    "speedtest",
                    86400 * (i + 0.5),
                    duration_seconds=6.0,
                    download_bytes_per_second=r,
                    upload_bytes_per_second=r / 4,
                )
                for i, r in enumerate(rates)
            ],
        )

    def healthy(
        self, site: str, agents: list[str], *, link: str = "wired", signal: int | None = None
    ) -> None:
        """Workstations that pass every workstation check, measuring a clean DUI and LAN."""
        for agent in agents:
            self.workstation(site, agent, link=link, signal=signal)
            self.latency(site, agent, "dui", 0.020)
            self.latency(site, agent, "gateway", 0.001)
            self.http(site, agent, [0.4, 0.5, 0.6, 0.8] * 5)
