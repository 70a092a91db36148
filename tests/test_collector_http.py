"""The collector's HTTP side on loopback: speedtest with the agent's real bandwidth probe,
/healthz, the status page's authentication, stale and forgotten agents in /metrics."""

from __future__ import annotations

import asyncio
import base64
import time
import urllib.error
import urllib.request

import pytest

from agent.probes import measure
from collector.config import parse
from collector.http import http_server
from collector.ingest import Outcome
from collector.ledger import SqliteLedger
from collector.state import State
from tests.helpers.broker import free_port
from tests.helpers.cli import collector_cli
from tests.helpers.metrics_oracle import registry
from wire.schema import AgentStatus


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
async def server(tmp_path):
    token = tmp_path / "speedtest-token"
    token.write_text("s3cret-speed\n")
    users = tmp_path / "http-users"
    users.write_text("copil:m0t-de-passe\n")
    config = parse(
        {
            "http": {
                "listen": f"127.0.0.1:{free_port()}",
                "auth": {"type": "basic", "file": str(users)},
            },
            "speedtest": {"token_file": str(token), "max_bytes": "8MB"},
        }
    )
    state = State(stale_after=300, forget_after=3600)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    async with http_server(config, state, ledger) as port:
        yield f"http://127.0.0.1:{port}", state, token
    ledger.close()


def bandwidth(base: str, token, agent: str = "poste-1", **extra) -> dict:
    return measure(
        "bandwidth",
        {
            "url": f"{base}/speedtest",
            "timeout": 20.0,
            "max_bytes": 4_000_000,
            "token_file": str(token),
            "site": "site-a",
            "agent": agent,
            **extra,
        },
    )


def served(r: dict) -> bool:
    """The collector served every byte asked for: a rate, or loopback too fast for the
    probe's minimum steady window within 4 MB (a status or byte-count fault would show
    as `status` or `body`)."""
    if r["success"]:
        return r["download_bytes_per_second"] > 1e6 and r["upload_bytes_per_second"] > 1e6
    return r["error"] == "config" and "steady window" in r.get("error_detail", "")


async def test_speedtest_serves_the_agents_bandwidth_probe(server) -> None:
    base, _, token = server
    r = await asyncio.to_thread(bandwidth, base, token)
    assert served(r), r


async def test_speedtest_one_agent_per_site_wrong_token_and_cap(server, tmp_path) -> None:
    base, _, token = server
    first = await asyncio.to_thread(bandwidth, base, token, "poste-1")
    assert served(first), first
    busy = await asyncio.to_thread(bandwidth, base, token, "poste-2")
    assert busy.get("skipped") == "busy"
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    denied = await asyncio.to_thread(bandwidth, base, wrong, "poste-1")
    assert (denied["success"], denied["error"]) == (False, "status")
    status, _ = await asyncio.to_thread(
        get,
        f"{base}/speedtest/download?bytes=9000000&site=s&agent=a",
        {"Authorization": "Bearer s3cret-speed"},
    )
    assert status == 413


async def test_healthz_says_why(server) -> None:
    base, state, _ = server
    status, text = await asyncio.to_thread(get, f"{base}/healthz")
    assert status == 503 and "not connected to the MQTT broker" in text
    state.mqtt_connected = True
    assert await asyncio.to_thread(get, f"{base}/healthz") == (200, "ok\n")


async def test_status_page_needs_auth_metrics_do_not(server) -> None:
    base, _, _ = server
    assert (await asyncio.to_thread(get, f"{base}/"))[0] == 401
    wrong = base64.b64encode(b"copil:faux").decode()
    assert (await asyncio.to_thread(get, f"{base}/", {"Authorization": f"Basic {wrong}"}))[0] == 401
    good = base64.b64encode(b"copil:m0t-de-passe").decode()
    status, page = await asyncio.to_thread(
        get, f"{base}/?lang=fr", {"Authorization": f"Basic {good}"}
    )
    assert status == 200 and "Aucun poste" in page
    assert (await asyncio.to_thread(get, f"{base}/metrics"))[0] == 200


async def test_non_ascii_credentials_are_a_401_not_a_crash(server) -> None:
    """Header bytes that are not ASCII (latin-1 é here) used to make hmac raise: 500."""
    base, _, _ = server
    wrong_utf8 = base64.b64encode("copil:mot-de-passé".encode()).decode()
    for header in ("Basic é", "Bearer é", f"Basic {wrong_utf8}"):
        status, _ = await asyncio.to_thread(get, f"{base}/", {"Authorization": header})
        assert status == 401, header
    status, _ = await asyncio.to_thread(
        get, f"{base}/speedtest/download?bytes=10&site=s&agent=a", {"Authorization": "Bearer é"}
    )
    assert status == 401


async def test_half_open_and_idle_connections_are_closed_and_capped(tmp_path) -> None:
    """300 connections that never finish their request head: at most max_connections
    stay open, all are closed within head_timeout, and a normal request is still served
    meanwhile; an idle keep-alive connection is closed after the keep-alive timeout."""
    from collector.http.guard import Limits

    limits = Limits(head_timeout=1.0, keepalive=1.0, request_timeout=1.0, max_connections=100)
    config = parse({"http": {"listen": f"127.0.0.1:{free_port()}"}})
    ledger = SqliteLedger(tmp_path / "ledger.db")

    async def closed(reader: asyncio.StreamReader, within: float) -> bool:
        try:
            async with asyncio.timeout(within):
                while await reader.read(65536):
                    pass
            return True
        except ConnectionError:
            return True
        except TimeoutError:
            return False

    async with http_server(config, State(300, 3600), ledger, limits=limits) as port:
        held = []
        for _ in range(300):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # no blank line: never ends
            held.append((reader, writer))
        began = time.monotonic()
        assert (await asyncio.to_thread(get, f"http://127.0.0.1:{port}/metrics"))[0] == 200
        still_open = [not await closed(r, 0.01) for r, _ in held]
        assert sum(still_open) <= limits.max_connections
        results = await asyncio.gather(*(closed(r, 4.0) for r, _ in held))
        assert all(results), f"{results.count(False)} half-open connections kept"
        assert time.monotonic() - began < limits.head_timeout + 4.0
        for _, writer in held:
            writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")
        assert await closed(reader, limits.keepalive + 3.0), "idle keep-alive connection kept"
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/v1/evidence/backups HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"
        )  # the body never comes
        assert (await reader.readline()).startswith(b"HTTP/1.1 408")
        assert await closed(reader, limits.request_timeout + 3.0), "slow body kept"
        writer.close()
    ledger.close()


def test_stale_and_forgotten_agents_in_metrics() -> None:
    from prometheus_client import generate_latest

    state = State(stale_after=60, forget_after=3600)
    now = time.time()
    outcome = Outcome(
        statuses=[("og", "s1", "a1", AgentStatus(v=1, state="online", version="1.0", os="Linux"))]
    )
    state.apply(outcome, now=now - 120)  # last heard two minutes ago
    text = generate_latest(registry(state)).decode()
    assert 'dui_agent_up{agent="a1",org="og",site="s1"} 0.0' in text
    state.forget(now=now + 3600)
    assert "a1" not in generate_latest(registry(state)).decode()


def test_wide_listen_without_auth_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text("http: {listen: '0.0.0.0:9108'}\n")
    proc = collector_cli("run", "--config", str(path), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert f"{path}: http: listen '0.0.0.0:9108' is beyond loopback: set http.auth" in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "contracts: [{id: c1, targets: [dui-login]}]",
            "contracts[0]: missing required key `availability`",
        ),
        ("ledger: {raw_retention: 35}", "ledger.raw_retention: duration 35 needs a unit"),
        (
            "contracts: [{id: c1, targets: [t], availability: {objective: 0.995},"
            " service_hours: {timezone: Mars/Olympus}}]",
            "timezone 'Mars/Olympus'",
        ),
        ("mqtt: {listen: localhost}", "mqtt.listen:"),
        ("speedtest: {token_file: absent}", "speedtest.token_file: file 'absent' not found"),
        ("agents: {stale_afer: 5m}", "agents: unknown key `stale_afer`"),
        ("agents: {max_agents: 99999999999999999999999}", "agents.max_agents"),
    ],
)
def test_collector_config_mistakes(tmp_path, text: str, message: str) -> None:
    from collector.config import ConfigError, load

    path = tmp_path / "collector.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    assert message in str(info.value) and str(info.value).startswith(str(path))


async def test_an_auth_file_emptied_while_running_lets_nobody_in(tmp_path) -> None:
    """Read per request: emptied, it used to make `Bearer ` (an empty token) match."""
    token = tmp_path / "http-token"
    token.write_text("t0ken\n")
    config = parse(
        {
            "http": {
                "listen": f"127.0.0.1:{free_port()}",
                "auth": {"type": "token", "file": str(token)},
            }
        }
    )
    ledger = SqliteLedger(tmp_path / "ledger.db")
    async with http_server(config, State(300, 3600), ledger) as port:
        url = f"http://127.0.0.1:{port}/"
        assert (await asyncio.to_thread(get, url, {"Authorization": "Bearer t0ken"}))[0] == 200
        token.write_text("")
        for header in ("Bearer ", "Bearer t0ken"):
            status, _ = await asyncio.to_thread(get, url, {"Authorization": header})
            assert status == 503, header
    ledger.close()


async def test_malformed_requests_and_deep_bodies_log_no_traceback(tmp_path, caplog) -> None:
    """A URL too long is the client's mistake (400), and JSON nested past Python's
    recursion limit is a bad body (400), not a 500: neither logs a traceback."""
    import logging
    import socket

    from tests.test_evidence import collector_config, post

    config = parse(collector_config(tmp_path))
    state = State(stale_after=300, forget_after=3600)
    ledger = SqliteLedger(tmp_path / "ledger.db")
    caplog.set_level(logging.ERROR)
    async with http_server(config, state, ledger) as port:

        def long_url() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                return sock.recv(64)

        assert b" 400 " in (await asyncio.to_thread(long_url))
        deep = '{"contract": "dui-vendor-2026", "x": ' + "[" * 100000 + "]" * 100000 + "}"
        status, _ = await asyncio.to_thread(
            post, f"http://127.0.0.1:{port}/api/v1/evidence/backups", deep.encode(), "v3ndor-t0ken"
        )
        assert status in (400, 401, 422)
    ledger.close()
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []


def test_status_page_says_online_and_names_its_zone() -> None:
    """An agent is "en ligne / hors ligne" (not "disponible", the report's word for a DUI
    minute), and the page names the zone its times are in, the contract's as in the report."""
    from html.parser import HTMLParser

    from collector.http.status import status_page

    state = State(stale_after=60, forget_after=3600)
    now = 1795460100.0  # 2026-11-23 18:55 UTC, 19:55 in Paris
    for agent, heard in (("a1", now - 10), ("a2", now - 600)):
        status = AgentStatus(v=1, state="online", version="1.0", os="Linux")
        state.apply(Outcome(statuses=[("og", "s1", agent, status)]), now=heard)
    contract = {"id": "c", "targets": ["dui"], "availability": {"objective": 0.99}}
    config = parse({"contracts": [contract]})

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.text: list[str] = []

        def handle_data(self, data: str) -> None:
            self.text.append(data.strip())

    page = Text()
    page.feed(status_page(state, config, "fr", now))
    cells = [t for t in page.text if t]
    assert "en ligne" in cells and "hors ligne" in cells and "disponible" not in cells
    text = " ".join(cells)
    assert "23 nov. 2026 à 19 h 55" in text and "Europe/Paris (UTC+01:00)" in text, cells
    english = status_page(state, config, "en", now)
    assert ">online<" in english and ">offline<" in english
