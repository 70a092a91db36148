"""The generated dashboards and alert rules against a real Prometheus: two sites' agents
(played by the test) publish through a real Mosquitto to the collector; Prometheus scrapes
its /metrics every second with the generated rules loaded. After a healthy stretch (with a
local fault at one site: with two sites and quorum 0.5, a down minute if the collector
did not attribute it) the fast-burn alert has never fired; after a vendor outage at
every site it fires for the contract; every query of every panel of every dashboard
returns data; every rule evaluates without error.

The collector runs in the test's loop on a clock 60 times as fast as the real one, so a
minute becomes final (and moves dui_sla_seconds_total) every real second: the ratio of
down to counted seconds in Prometheus's windows, which is what the burn rates compare,
is the scenario's own ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from collector.config import CollectorConfig, load
from dashboards.build import build_dashboards, panel_queries
from dashboards.rules import build_rules
from tests.helpers.batches import batch_json, results_topic
from tests.helpers.grafana import Answer, answers, empty_queries
from tests.helpers.inprocess import collector_in_process, replay_clock
from tests.helpers.inventories import WIN10_PRO, WIN11_ENT
from tests.helpers.poll import await_until
from tests.helpers.prometheus import Prometheus, prometheus_binary, prometheus_server
from tests.test_evidence import post
from tests.test_sla_e2e import contract, iso
from wire.schema import agent_topics

pytestmark = pytest.mark.timeout(120)

SPEED = 60.0  # collector seconds per real second
START = int(dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC).timestamp())  # a Monday, 08:00
CONTRACT = "dui-vendor-2026"
TOKEN = "v3ndor"  # contract()'s evidence token
FAST_BURN = "DuiSlaErrorBudgetBurnFast"
# site → (agent, link): one workstation per site, one on Wi-Fi
SITES = {"site-a": ("poste-1", "wired"), "site-b": ("poste-2", "wifi")}
# site → its workstation's inventory: site-a a recent PC on a maintained Windows 11,
# site-b an old one on Windows 10 past its end of support (readiness fails there)
INVENTORY = {
    "site-a": {
        "os": WIN11_ENT,
        "hardware": {"vendor": "HP", "model": "EliteBook 840 G8", "firmware_date": "2023-03-15"},
        "ram_bytes": 16 * 2**30,
    },
    "site-b": {
        "os": WIN10_PRO,
        "hardware": {"vendor": "Dell", "model": "OptiPlex 7050", "firmware_date": "2017-06-01"},
        "ram_bytes": 8 * 2**30,
    },
}
FAULTY = "site-b"  # its LAN goes down for a few minutes


def collector_config(tmp_path: Path, broker_url: str) -> dict:
    return {
        "mqtt": {"url": broker_url},
        # a minute is final one minute after its end: one real second here
        "ledger": {"finalize_after": "60s"},
        "sites": {
            # pilot since the week before: the pilot dashboard's weeks and time range
            "site-a": {"name": "CMP Nord", "pilot": True, "go_live": "2026-10-26", "users": 12},
            "site-b": {"name": "CMP Sud", "users": 8},
        },
        "prerequisites": {
            "workstation": {
                "max_age": "5y",
                "min_ram": "8GB",
                "os_maintained": True,
                "browsers": {"edge": 120, "firefox": 115},
            },
            "site": {
                "min_download_per_user": "1MB",
                "max_dui_rtt": "150ms",
                "max_loss": 0.05,
                "max_gateway_rtt": "20ms",
                "max_dui_p95": "2s",
            },
        },
        "contracts": [contract(tmp_path)],  # test_sla_e2e's: objective 99.5 %, RTO 15 min
    }


@dataclass
class Agent:
    """One site's workstation as the collector sees it: results minute by minute."""

    site: str
    name: str
    link: str
    seq: int = 0
    results: list[dict] = field(default_factory=list)

    def add(self, ts: float, probe: str, target: str, role: str, ok: bool, **extra) -> None:
        self.seq += 1
        body = {"seq": self.seq, "ts": ts, "probe": probe, "target": target, "role": role}
        self.results.append({**body, "success": ok, "error": None if ok else "timeout", **extra})

    def minute(self, minute: int, outage: bool, lan_down: bool) -> None:
        """Every kind of result of one minute: DUI checks, references, bandwidth, context.
        `outage`: the vendor's application fails; `lan_down`: this site's network does."""
        t = minute * 60
        dui_ok = not (outage or lan_down)
        rtt = {"min": 0.018, "avg": 0.021, "max": 0.03}
        for offset in (10, 40):
            http = (
                {
                    "status_code": 200,
                    "duration_seconds": 0.3 + 0.1 * (offset == 40),
                    "phases": {
                        "resolve": 0.002,
                        "connect": 0.02,
                        "tls": 0.04,
                        "processing": 0.2,
                        "transfer": 0.03,
                    },
                    "tls_expiry_ts": START + 60 * 86400,
                }
                if dui_ok
                else {"duration_seconds": 10.0}
            )
            self.add(t + offset, "http", "dui-login", "dui", dui_ok, **http)
        # the vendor's application fails, its servers still answer TCP connects
        refs = [("dui-login", "dui"), ("gateway", "gateway"), ("internet", "internet")]
        for n, (target, role) in enumerate(refs):
            if lan_down:
                self.add(t + 20 + n, "latency", target, role, False, sent=10, received=0)
                continue
            scale = {"dui": 1.0, "gateway": 0.1, "internet": 0.6}[role]
            self.add(
                t + 20 + n,
                "latency",
                target,
                role,
                True,
                method="tcp",
                sent=10,
                received=10,
                rtt_seconds={k: v * scale for k, v in rtt.items()},
                jitter_seconds=0.002 * scale,
                loss_ratio=0.0,
                duration_seconds=0.5,
            )
        self.add(t + 5, "dns", "dui-login", "dui", not lan_down, duration_seconds=0.004)
        self.add(t + 1, "usage", "dui", "workstation", True, in_use=True)  # as agents send it
        if not lan_down:
            self.add(
                t + 50,
                "bandwidth",
                "speedtest",
                "speedtest",
                True,
                download_bytes_per_second=12.5e6,
                upload_bytes_per_second=4e6,
                duration_seconds=6.0,
            )
        wifi = {"wifi_signal_percent": 72} if self.link == "wifi" else {}
        self.add(
            t + 55,
            "context",
            "workstation",
            "workstation",
            True,
            version="0.1.0",
            link=self.link,
            clock_offset_seconds=0.04,
            **wifi,
        )
        if minute % 10 == 0 or not any(r["probe"] == "inventory" for r in self.results):
            self.add(
                t + 56,
                "inventory",
                "workstation",
                "workstation",
                True,
                **INVENTORY[self.site],
                disk_free_bytes=120 * 2**30,
                browsers={"edge": "131.0", "firefox": "132.0"},
                link=self.link,
                **wifi,
            )

    def batch(self) -> bytes | None:
        """The results not yet sent, as one batch (and forget them: acks are not needed)."""
        if not self.results:
            return None
        payload = batch_json(
            self.results,
            site=self.site,
            agent=self.name,
            epoch="e2e0" + self.site[-1] * 12,
            first_seq=self.results[0]["seq"],
            clock_offset_seconds=0.04,
        )
        self.results = []
        return payload


@dataclass
class Scenario:
    """The agents of every site, publishing each minute of the collector's clock a little
    ahead of it (results may be up to 5 minutes in the future), until `stop`."""

    clock: Callable[[], float]
    # what the minutes published from now on are: a vendor outage, a site's LAN down
    outage: bool = False
    lan_down: str | None = None
    next_minute: int = START // 60 - 3  # before the collector's first counted minute
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    agents: list[Agent] = field(
        default_factory=lambda: [Agent(site, a, link) for site, (a, link) in SITES.items()]
    )

    async def run(self, port: int) -> None:
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    aiomqtt.Client("127.0.0.1", port, identifier=f"{a.site}-{a.name}")
                )
                for a in self.agents
            ]
            while not self.stop.is_set():
                ahead = int(self.clock() // 60) + 2
                for minute in range(self.next_minute, ahead + 1):
                    for agent in self.agents:
                        agent.minute(minute, self.outage, agent.site == self.lan_down)
                self.next_minute = max(self.next_minute, ahead + 1)
                for agent, client in zip(self.agents, clients, strict=True):
                    backlog = len(agent.results)
                    payload = agent.batch()
                    if payload is not None:
                        topic = results_topic("og", agent.site, agent.name)
                        await client.publish(topic, payload, qos=1)
                    status = {
                        "v": 1,
                        "state": "online",
                        "version": "0.1.0",
                        "os": "Windows 11 23H2",
                        "spool_results": backlog,
                        "dropped_results": 0,
                        "ignored_acks": 0,
                    }
                    topic = agent_topics("og", agent.site, agent.name)["status"]
                    await client.publish(topic, json.dumps(status), qos=1, retain=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), 0.25)


def post_evidence(api: str) -> None:
    """Daily backups for the ten days before, a restore test a month ago."""
    for n in range(10, 0, -1):
        point = START - n * 86400 + 3600
        status, body = post(
            f"{api}/evidence/backups",
            {
                "contract": CONTRACT,
                "id": f"bk-{n}",
                "status": "success",
                "started_at": iso(point),
                "completed_at": iso(point + 1800),
                "restore_point_at": iso(point),
                "expires_at": iso(point + 30 * 86400),
            },
            TOKEN,
        )
        assert status == 201, body
    status, body = post(
        f"{api}/evidence/restore-tests",
        {
            "contract": CONTRACT,
            "id": "rt-1",
            "status": "success",
            "performed_at": iso(START - 30 * 86400),
            "duration_seconds": 5400,
        },
        TOKEN,
    )
    assert status == 201, body


def fast_burn(prom: Prometheus) -> list[dict]:
    return [a for a in prom.alerts() if a["labels"].get("alertname") == FAST_BURN]


def counted(prom: Prometheus, state: str) -> float:
    samples = prom.query(f'sum(dui_sla_seconds_total{{contract="{CONTRACT}",state="{state}"}})')
    return float(samples[0]["value"][1]) if samples else 0.0


def no_fast_burn(prom: Prometheus) -> None:
    alerts = {(a["state"], json.dumps(a["labels"], sort_keys=True)) for a in fast_burn(prom)}
    assert not alerts, f"{FAST_BURN} before the outage: {sorted(alerts)}"


async def watch(prom: Prometheus, agents: asyncio.Task, what: str, read, until) -> float:
    """await_until over Prometheus (off the loop); fails at once on a fast-burn alert."""

    def probe() -> float:
        assert not agents.done(), agents.exception()
        no_fast_burn(prom)
        return read()

    return await await_until(lambda: asyncio.to_thread(probe), 40, what, step=0.2, until=until)


async def healthy_stretch(prom: Prometheus, scenario: Scenario, agents: asyncio.Task) -> dict:
    """Healthy minutes, then one site's LAN down for a few minutes (its DUI checks and
    references fail together: a local fault, the other site up), then healthy again;
    the fast-burn alert must not show up at any point, pending or firing."""
    began = time.monotonic()
    up = await watch(
        prom, agents, "healthy minutes in Prometheus", lambda: counted(prom, "up"), bool
    )
    scenario.lan_down = FAULTY
    failures = f'sum(dui_probe_results_total{{site="{FAULTY}",role="gateway",result="failure"}})'

    def failed() -> float:
        samples = prom.query(failures)
        return float(samples[0]["value"][1]) if samples else 0.0

    # three minutes of failures scraped: their rise is inside the burn-rate windows
    await watch(prom, agents, "the LAN fault in Prometheus", failed, lambda n: n >= 3)
    scenario.lan_down = None
    fault_over = await asyncio.to_thread(counted, prom, "up")
    # eight more minutes counted: the fault's minutes (published 2 minutes ahead) are final
    await watch(
        prom,
        agents,
        "the fault's minutes counted",
        lambda: counted(prom, "up"),
        lambda n: n >= fault_over + 480,
    )
    mark = time.time()  # the alert's rule evaluated once more over those samples
    await await_until(
        lambda: asyncio.to_thread(rule_evaluated_after, prom, FAST_BURN, mark + 1),
        10,
        f"{FAST_BURN} evaluated",
        step=0.2,
    )
    await asyncio.to_thread(no_fast_burn, prom)

    def figures() -> dict:
        return {
            "seconds": round(time.monotonic() - began, 1),
            "up_seconds": [up, counted(prom, "up")],
            "down_seconds": counted(prom, "down"),
            "gateway_failures": failed(),
        }

    return await asyncio.to_thread(figures)


async def outage(prom: Prometheus, scenario: Scenario, agents: asyncio.Task) -> dict:
    """The vendor's application fails at every site (references fine): the fast-burn
    alert fires for the contract, as a page."""
    began = time.monotonic()
    scenario.outage = True

    def firing() -> list[dict]:
        assert not agents.done(), agents.exception()
        return [a for a in fast_burn(prom) if a["state"] == "firing"]

    alerts = await await_until(
        lambda: asyncio.to_thread(firing), 40, f"{FAST_BURN} firing", step=0.2
    )
    assert {a["labels"].get("contract") for a in alerts} == {CONTRACT}, alerts
    assert {a["labels"].get("severity") for a in alerts} == {"page"}, alerts
    return {
        "seconds_to_firing": round(time.monotonic() - began, 1),
        "down_seconds": await asyncio.to_thread(counted, prom, "down"),
        "alert": alerts[0]["labels"],
    }


def broken_rules(prom: Prometheus) -> list[str]:
    """Rules that failed their last evaluation (none loaded is a failure too)."""
    rules = prom.rules()
    assert rules, "no rule loaded"
    return [
        f"{r['group']}/{r['name']}: {r.get('health')} {r.get('lastError')}"
        for r in rules
        if r.get("health") != "ok" or r.get("lastError")
    ]


async def prove(
    tmp_path: Path,
    mosquitto,
    rules_of: Callable[[CollectorConfig], str],
    dashboards_of: Callable[[CollectorConfig], dict[str, dict]],
) -> tuple[dict, list[Answer]]:
    """The scenario against Prometheus with the rules and dashboards generated from the
    collector's config; (figures for the report, what each panel query returned)."""
    prometheus_binary()  # skip before anything starts
    config = collector_config(tmp_path, mosquitto.url)
    clock = replay_clock(START, SPEED)
    async with collector_in_process(tmp_path, config, clock) as collector:
        loaded = load(collector.config_path)
        rules = tmp_path / "rules.yml"
        rules.write_text(rules_of(loaded))
        dashboards = dashboards_of(loaded)
        await asyncio.to_thread(post_evidence, f"{collector.url}/api/v1")
        scenario = Scenario(clock)
        agents = asyncio.create_task(scenario.run(mosquitto.port))
        try:
            with prometheus_server(tmp_path, [f"127.0.0.1:{collector.http_port}"], [rules]) as p:
                since = time.time()
                figures = {
                    "healthy": await healthy_stretch(p, scenario, agents),
                    "outage": await outage(p, scenario, agents),
                }
                found = await asyncio.to_thread(lambda: list(answers(p, dashboards, since)))
                figures["readiness"] = await asyncio.to_thread(readiness_seen, p)
                broken = await asyncio.to_thread(broken_rules, p)
                assert broken == [], "\n".join(broken)
                figures["rules"] = len(await asyncio.to_thread(p.rules))
                figures["queries"] = sum(len(panel_queries(d)) for d in dashboards.values())
        finally:
            scenario.stop.set()
            await asyncio.wait_for(agents, 10)
    return figures, found


def readiness_seen(prom: Prometheus) -> dict:
    """What Prometheus holds of the readiness round and of usage: site-b's Windows 10 is
    past its support (its check fails, the site is not ready), site-a's Windows 11 is
    maintained; usage is per site, no series of it names a workstation."""

    def values(expr: str) -> dict[str, float]:
        return {s["metric"].get("site", ""): float(s["value"][1]) for s in prom.query(expr)}

    os_met = values('dui_prerequisite_met{check="os_maintained"}')
    assert os_met.get("site-b") == 0 and os_met.get("site-a") == 1, os_met
    assert values('dui_site_ready{site="site-b"}') == {"site-b": 0}
    maintained = values('count by (site) (dui_workstation_info{os_maintained="true"})')
    assert maintained == {"site-a": 1}, maintained
    per_agent = prom.query(
        '{__name__=~"dui_site_workstations_in_use|dui_site_usage_minutes_total", agent!=""}'
    )
    assert per_agent == [], per_agent
    return {
        "os_maintained_met": os_met,
        "site_ready": values("dui_site_ready"),
        "usage_minutes": values("dui_site_usage_minutes_total"),
    }


def rule_evaluated_after(prom: Prometheus, name: str, after: float) -> bool:
    for rule in prom.rules():
        if rule["name"] == name:
            # RFC 3339 with nanoseconds, which fromisoformat does not read: seconds suffice
            stamp = re.sub(r"\.\d+", "", rule.get("lastEvaluation", "")).replace("Z", "+00:00")
            return dt.datetime.fromisoformat(stamp).timestamp() > after
    raise AssertionError(f"no rule {name} loaded")


async def test_dashboards_and_rules_against_prometheus(tmp_path, mosquitto) -> None:
    figures, found = await prove(tmp_path, mosquitto, build_rules, build_dashboards)
    print(json.dumps(figures, indent=1, ensure_ascii=False))  # the report's figures (-s)
    empty = empty_queries(found)
    assert empty == [], f"{len(empty)} panel queries without data:\n" + "\n".join(empty)
