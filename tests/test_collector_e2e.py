"""Agents → real Mosquitto → collector → ledger and /metrics, and exactly-once delivery
through broker restarts, a SIGKILLed collector and a broker queue that overflows."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.helpers.batches import batch_json
from tests.helpers.broker import Mosquitto
from tests.helpers.poll import await_until, wait_until
from tests.helpers.processes import agent_config, ledger_seqs
from tests.helpers.servers import http_server
from tests.test_delivery import http_target, spool_state

pytestmark = pytest.mark.timeout(240)


def collector_config(broker_url: str | None, **extra) -> dict:
    config = {"mqtt": {"url": broker_url} if broker_url else {}, "agents": {"stale_after": "1m"}}
    config.update(extra)
    return config


def assert_exactly_once(collector, agent) -> list[int]:
    """Nothing the agent numbered is lost (every seq that left its spool, on an ack, is in
    the ledger; what is still spooled is at most stored, awaiting its ack) and nothing is
    stored or counted twice."""
    seqs = ledger_seqs(collector)
    assert len(seqs) == 1, f"one epoch expected, got {list(seqs)}"
    (stored,) = seqs.values()
    count, low, _ = spool_state(agent.spool_path)
    next_seq = numbered(agent) + 1
    low = low or next_seq
    assert len(stored) == len(set(stored))
    missing = sorted(set(range(1, low)) - set(stored))
    assert not missing, f"acked but not stored: {missing[:20]}"
    assert set(stored) <= set(range(1, next_seq)), "stored a seq the agent never numbered"
    assert count <= 3, f"{count} results still waiting for an ack"
    ledger = collector.ledger()
    try:
        rollups = ledger.execute("SELECT SUM(results) FROM rollups").fetchone()[0]
    finally:
        ledger.close()
    assert rollups == len(stored), "a result was counted twice"
    return stored


def numbered(agent) -> int:
    """How many results the agent has numbered (its spool's next seq - 1); 0 before it has
    a spool."""
    if not agent.spool_path.exists():
        return 0
    db = sqlite3.connect(f"file:{agent.spool_path}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
    except sqlite3.OperationalError:  # the agent has not made its tables yet
        return 0
    finally:
        db.close()
    return int(row[0]) - 1 if row else 0


def spooled(agent) -> int:
    return spool_state(agent.spool_path)[0]


def in_ledger(collector) -> int:
    return sum(map(len, ledger_seqs(collector).values()))


async def drain_and_stop(agent) -> None:
    await await_until(lambda: spooled(agent) <= 2, 60, "the spool to drain")
    await agent.astop()


async def test_end_to_end_metrics(tmp_path, mosquitto, collector_process, agent_process):
    collector = collector_process(collector_config(mosquitto.url))
    collector.start()
    with http_server() as url:
        targets = [{**http_target(url, "300ms"), "dns": {"interval": "300ms"}}]
        agent = agent_process(agent_config(tmp_path, mosquitto.url, targets))
        agent.start()
        labels = (
            'agent="poste-1",org="og-test",probe="http",role="dui",site="site-a",target="dui-login"'
        )
        dns_labels = labels.replace('probe="http"', 'probe="dns"')
        await await_until(
            lambda: (
                collector.metrics().get(f"dui_probe_success{{{labels}}}") == 1.0
                and collector.metrics().get(f"dui_probe_success{{{dns_labels}}}") == 1.0
            ),
            30,
            "http and dns in /metrics",
        )
        m = collector.metrics()
        base = 'agent="poste-1",org="og-test",role="dui",site="site-a",target="dui-login"'
        assert m[f"dui_http_status_code{{{base}}}"] == 200
        connect = 'agent="poste-1",org="og-test",phase="connect",role="dui",site="site-a"'
        assert m[f'dui_http_duration_seconds{{{connect},target="dui-login"}}'] >= 0
        assert m['dui_agent_up{agent="poste-1",org="og-test",site="site-a"}'] == 1
        assert m["dui_collector_mqtt_connected"] == 1
        assert m['dui_collector_messages_total{outcome="accepted"}'] >= 1
        assert m["dui_collector_results_total"] >= 2
        site = 'org="og-test",role="dui",site="site-a",target="dui-login"'
        assert m[f"dui_http_response_seconds_count{{{site}}}"] >= 1
        dns = 'org="og-test",probe="dns",result="success",role="dui",site="site-a"'
        assert m[f'dui_probe_results_total{{{dns},target="dui-login"}}'] >= 1
        await drain_and_stop(agent)
    status, page = collector.get("/?lang=fr")
    assert status == 200 and "poste-1" in page and "État du DUI" in page
    assert collector.get("/?lang=en")[1].count("DUI status") >= 1
    await collector.astop()
    assert "Traceback" not in collector.log()


async def test_broker_restart_exactly_once(tmp_path, mosquitto, collector_process, agent_process):
    collector = collector_process(collector_config(mosquitto.url))
    collector.start()
    with http_server() as url:
        agent = agent_process(agent_config(tmp_path, mosquitto.url, [http_target(url, "100ms")]))
        agent.start()
        await await_until(lambda: in_ledger(collector) >= 20, 30, "20 results stored")
        mosquitto.stop()
        held = spooled(agent)
        await await_until(
            lambda: spooled(agent) >= held + 15, 30, "15 results spooled while the broker is down"
        )
        before = in_ledger(collector)
        mosquitto.start()
        await await_until(
            lambda: in_ledger(collector) >= before + 10, 60, "delivery after the broker restart"
        )
        await agent.astop()
        # /healthz stays 200 through a short outage (BROKER_GRACE): ask the gauge instead
        await await_until(
            lambda: collector.metrics().get("dui_collector_mqtt_connected") == 1.0,
            30,
            "collector reconnected",
        )
        agent.start()  # a restart re-sends what is still unacked
        await drain_and_stop(agent)
    assert len(assert_exactly_once(collector, agent)) > 30


async def test_collector_killed_under_load(tmp_path, mosquitto, collector_process, agent_process):
    collector = collector_process(collector_config(mosquitto.url))
    collector.start()
    with http_server() as url:
        targets = [
            http_target(url, "50ms"),
            {"name": "local-dns", "role": "dui", "dns": {"host": "localhost", "interval": "50ms"}},
        ]
        agent = agent_process(
            agent_config(tmp_path, mosquitto.url, targets, mqtt={"ack_timeout": "1s"})
        )
        agent.start()
        await await_until(lambda: in_ledger(collector) >= 30, 30, "30 results stored")
        await collector.astop(signal.SIGKILL)
        held = spooled(agent)
        await await_until(
            lambda: spooled(agent) >= held + 20, 30, "20 results spooled, the collector down"
        )
        await asyncio.to_thread(collector.start)
        before = in_ledger(collector)
        await await_until(
            lambda: in_ledger(collector) >= before + 10, 60, "delivery after the collector restart"
        )
        await agent.astop()
        agent.start()
        await drain_and_stop(agent)
    stored = assert_exactly_once(collector, agent)
    assert len(stored) > 50


async def test_broker_queue_overflow_is_covered_by_resend(
    tmp_path, collector_process, agent_process
):
    """Mosquitto drops QoS 1 messages beyond max_queued_messages for an offline
    subscriber after acking the publisher; the agent's re-send must cover the gap."""
    broker_dir = tmp_path / "small-broker"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)
    broker.conf.write_text(
        broker.conf.read_text().replace("max_queued_messages 0", "max_queued_messages 20")
    )
    broker.start()
    try:
        collector = collector_process(collector_config(broker.url))
        collector.start()
        await collector.astop()  # its persistent session now queues for it, up to 20
        with http_server() as url:
            targets = [http_target(url, "20ms")]
            agent = agent_process(
                agent_config(tmp_path, broker.url, targets, mqtt={"ack_timeout": "2s"})
            )
            agent.start()
            dropping = "Outgoing messages are being dropped"
            await await_until(
                lambda: numbered(agent) > 120 and dropping in broker.log.read_text(),
                60,
                "far more than 20 batches while the collector is down: the broker's queue full",
            )
            await asyncio.to_thread(collector.start)
            await await_until(
                lambda: in_ledger(collector) >= 20, 30, "what the broker queued, stored"
            )
            await agent.astop()
            agent.start()
            await drain_and_stop(agent)
        assert len(assert_exactly_once(collector, agent)) > 100
        assert dropping in broker.log.read_text(), "the broker's queue must really have overflowed"
    finally:
        broker.stop()


async def test_embedded_broker(tmp_path, collector_process, agent_process):
    from tests.helpers.broker import free_port

    port = free_port()
    collector = collector_process(collector_config(None, mqtt={"listen": f"127.0.0.1:{port}"}))
    collector.start()
    with http_server() as url:
        agent = agent_process(
            agent_config(tmp_path, f"mqtt://127.0.0.1:{port}", [http_target(url, "200ms")])
        )
        agent.start()
        await await_until(
            lambda: len(ledger_seqs(collector)) == 1 and in_ledger(collector) >= 5,
            30,
            "results through amqtt",
        )
        await drain_and_stop(agent)
    assert_exactly_once(collector, agent)


def test_trial_serves_metrics(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers.broker import free_port

    http_port, mqtt_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "collector",
            "trial",
            "--dir",
            str(tmp_path),
            "--http-port",
            str(http_port),
            "--mqtt-port",
            str(mqtt_port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        import urllib.request

        def metrics() -> str:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{http_port}/metrics", timeout=5
                ) as r:
                    return r.read().decode()
            except OSError:
                return ""

        def samples() -> dict[str, float]:
            from prometheus_client.parser import text_string_to_metric_families

            return {
                f"{s.name}/{s.labels.get('probe', '')}": s.value
                for f in text_string_to_metric_families(metrics())
                for s in f.samples
            }

        wait_until(
            lambda: samples().get("dui_probe_success/http") == 1.0,
            60,
            "the trial agent's http result",
            step=1,
        )
        assert samples()["dui_agent_up/"] == 1.0
        with urllib.request.urlopen(
            f"http://127.0.0.1:{http_port}/api/v1/contracts/trial", timeout=30
        ) as response:
            contract = json.loads(response.read())
        assert contract["contract"] == "trial" and contract["state"] in (
            "up",
            "degraded",
            "down",
            "unknown",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert "stand-in DUI page" in out and f"http://127.0.0.1:{http_port}/metrics" in out
    assert proc.returncode == 0, out
    assert "Traceback" not in out


async def test_bad_messages_and_a_fast_clock_through_the_broker(
    tmp_path, mosquitto, collector_process
):
    """A stand-in agent publishes garbage between good batches, and results from a
    workstation whose clock is five minutes fast: every good result is stored once, at
    its corrected time, and acked."""
    import json
    import time

    import aiomqtt

    collector = collector_process(collector_config(mosquitto.url))
    collector.start()
    topic = "dui/v1/og-test/site-a/poste-1/results"
    epoch = "00000000feedbeef"
    now = time.time()

    def good(seq: int) -> bytes:
        result = {
            "seq": seq,
            "ts": now + 300,
            "probe": "dns",
            "target": "dui-login",
            "role": "dui",
            "success": True,
            "duration_seconds": 0.003,
            "error": None,
        }
        return batch_json([result], org="og-test", epoch=epoch, clock_offset_seconds=-300.0)

    garbage = [
        b"",
        b"{",
        b'{"v":1}',
        b"\x00" * 100,
        batch_json(json.loads(good(1))["results"], org="og-test", site="other", epoch=epoch),
    ]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, identifier="fake-agent") as client:
        await client.subscribe("dui/v1/og-test/site-a/poste-1/ack", qos=1)
        for seq in range(1, 31):
            await client.publish(topic, garbage[seq % len(garbage)], qos=1)
            await client.publish(topic, good(seq), qos=1)
        last = 0
        async with asyncio.timeout(30):
            async for message in client.messages:
                last = max(last, json.loads(message.payload)["seq"])
                if last == 30:
                    break
    (stored,) = ledger_seqs(collector).values()
    assert stored == list(range(1, 31))
    db = collector.ledger()
    times = [row[0] for row in db.execute("SELECT ts FROM results")]
    db.close()
    assert all(abs(ts - now) < 1 for ts in times), "filed at the corrected time"
    m = collector.metrics()
    assert m['dui_collector_rejected_messages_total{reason="invalid"}'] >= 20
    assert m['dui_collector_rejected_messages_total{reason="topic_mismatch"}'] >= 5
    assert (
        m['dui_agent_clock_offset_seconds{agent="poste-1",org="og-test",site="site-a"}'] == -300.0
    )


def _trial(state: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    """`dui-collector trial` with its default directory under `state`, as `./dui try`;
    returns it and its HTTP port."""
    from tests.helpers.broker import free_port

    port = free_port()
    command = [sys.executable, "-m", "collector", "trial", "--http-port", str(port)]
    proc = subprocess.Popen(
        [*command, "--mqtt-port", str(free_port()), *args],
        cwd=ROOT,
        env={**os.environ, "XDG_STATE_HOME": str(state), "DUI_LAUNCHER": "./dui"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def _stored(ledger: Path, probe: str | None = None) -> int:
    if not ledger.exists():
        return 0
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)
    try:
        if probe is not None:
            query = "SELECT COUNT(*) FROM results WHERE probe = ?"
            return int(db.execute(query, (probe,)).fetchone()[0])
        return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        db.close()


def _interrupt(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


def _readiness_as_printed(banner: str, workdir: Path) -> None:
    """Runs the banner's `./dui collector readiness ...` line (the venv's collector stands in
    for ./dui, which would install one), then reads the same answer as JSON."""
    (line,) = [x.strip() for x in banner.splitlines() if " readiness --config " in x]
    launcher, *args = line.split()
    assert launcher == "./dui" and args[:2] == ["collector", "readiness"], line
    done = subprocess.run(
        [sys.executable, "-m", "collector", *args[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = (workdir / "readiness.html").read_text(encoding="utf-8")
    assert "Ce poste (essai)" in page
    done = subprocess.run(
        [sys.executable, "-m", "collector", *args[1:-2], "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (site,) = json.loads(done.stdout)["sites"]
    checks = {c["id"]: c for c in site["checks"]}
    # the trial's prerequisites are checked, on this machine's own evidence
    assert {"workstations", "min_ram", "os_maintained", "dui_rtt", "dui_p95"} <= set(checks)
    assert checks["workstations"]["verdict"] == "pass", checks["workstations"]
    assert checks["dui_rtt"]["verdict"] == "pass" and checks["dui_rtt"]["evidence"] < 0.1
    (station,) = site["workstations"]
    assert station["ram_bytes"] and station["os_name"], station


def test_trial_data_survives_ctrl_c_and_fresh_starts_over(tmp_path: Path) -> None:
    """The trial keeps its files in a stable directory: Ctrl-C keeps them, the next trial
    goes on with them, `--fresh` starts over; the banner's report command is runnable as
    printed (through ./dui) with this month filled in, and its readiness command runs as
    printed and judges the trial machine on its own inventory and measurements."""
    ledger = tmp_path / "dui-sla" / "trial" / "ledger.db"
    first, _ = _trial(tmp_path)
    try:
        wait_until(lambda: _stored(ledger) >= 2, 90, "the trial's first results", step=1)
        for probe in ("inventory", "latency", "http"):  # the readiness report's evidence
            wait_until(lambda p=probe: _stored(ledger, p) >= 1, 90, f"a {probe} result", step=1)
    finally:
        banner = _interrupt(first)
    kept = _stored(ledger)
    assert kept >= 2, "Ctrl-C lost the trial's results"
    month = dt.date.today().strftime("%Y-%m")
    assert (
        f"./dui collector report --config {ledger.parent}/collector.yaml"
        f" --contract trial --month {month}"
    ) in banner, banner
    _readiness_as_printed(banner, ledger.parent)
    again, port = _trial(tmp_path)
    try:
        wait_until(lambda: _serving(port), 60, "the second trial", step=0.5)
        assert _stored(ledger) >= kept, "the second trial did not keep the first one's data"
    finally:
        _interrupt(again)
    fresh, port = _trial(tmp_path, "--fresh")
    try:
        wait_until(lambda: _serving(port), 60, "the fresh trial", step=0.5)
        assert _stored(ledger) < kept, "--fresh kept the old results"
    finally:
        _interrupt(fresh)
