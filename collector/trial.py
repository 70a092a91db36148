"""`dui-collector trial`: the whole chain on one machine with nothing to configure.

Embedded broker, SQLite ledger and collector in this process, one local agent as a
child process, and a built-in contract over the agent's http target. Without
`--dui-url` the agent measures a stand-in DUI page served on loopback, and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from agent.config import default_agent_id
from collector import config as collector_config
from collector.run import run

PAGE = "<html><head><title>Connexion</title></head><body>DUI de démonstration</body></html>"


class _Page(BaseHTTPRequestHandler):
    """A stand-in DUI login page, for a trial without --dui-url."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _port(preferred: int) -> int:
    """`preferred` when free on loopback, else any free port."""
    for candidate in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise OSError("no free port on 127.0.0.1")


@contextlib.contextmanager
def stand_in_page() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/login"
    finally:
        server.shutdown()
        server.server_close()


def dui_endpoint(url: str) -> tuple[str, int]:
    """(host, port) of the DUI URL, for the latency target; ValueError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r}: write an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        raise ValueError("the URL must not carry a user or password")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number from 1 to 65535") from None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def write_configs(
    workdir: Path,
    dui_url: str,
    regex: str | None,
    mqtt_port: int,
    http_port: int,
    usage: bool = False,
) -> tuple[Path, Path]:
    collector = {
        "mqtt": {"listen": f"127.0.0.1:{mqtt_port}"},
        "http": {"listen": f"127.0.0.1:{http_port}"},
        "ledger": {"url": f"sqlite:///{workdir / 'ledger.db'}"},
        "agents": {"stale_after": "1m"},
        "contracts": [
            {
                "id": "trial",
                "vendor": "DUI (trial)",
                "targets": ["dui-login"],
                "availability": {"objective": 0.995, "min_sites": 1},
                "service_hours": {"weekly": "always"},
            }
        ],
        # The go-live prerequisites of the DUI deployment guides, so that the trial's
        # readiness report judges something. Left out: the download per user and the
        # loss (it covers the gateway too), which need a speed test and a gateway
        # target that a loopback trial does not have: unknown, never a pass.
        "sites": {"local": {"name": "Ce poste (essai)", "users": 1}},
        "prerequisites": {
            "workstation": {
                "max_age": "5y",
                "min_ram": "8GB",
                "os_maintained": True,
                "browsers": {"edge": 120, "chrome": 120, "firefox": 115},
            },
            "site": {
                "max_dui_rtt": "100ms",
                "max_dui_p95": "3s",
                "min_workstations_per_user": 1,
                "min_wifi_signal": 40,
            },
        },
    }
    http = {"url": dui_url, "interval": "15s", **({"expect_regex": regex} if regex else {})}
    host, port = dui_endpoint(dui_url)
    agent = {
        "org": "trial",
        "site": "local",
        "agent": default_agent_id(),
        "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}", "ack_timeout": "30s"},
        "spool": {"path": str(workdir / "spool.db")},
        # no bandwidth target: a loopback "link" runs at memory speed, which the probe
        # rightly refuses to report as a rate (no steady window), so it could only fail
        "targets": [
            {"name": "dui-login", "role": "dui", "http": http, "dns": {"interval": "15s"}},
            {
                "name": "dui-host",
                "role": "dui",
                "latency": {"host": host, "port": port, "interval": "15s"},
            },
        ],
        # inventory is on by default (the readiness report's workstation part); usage is
        # staff activity data: only when the person asked for it (--usage)
        **({"usage": {"enabled": True}} if usage else {}),
    }
    paths = workdir / "collector.yaml", workdir / "agent.yaml"
    paths[0].write_text(yaml.safe_dump(collector, sort_keys=False))
    paths[1].write_text(yaml.safe_dump(agent, sort_keys=False))
    return paths


def collector_command() -> str:
    """How the person who started the trial runs dui-collector: through the `dui` script
    when it started the trial (it says so in DUI_LAUNCHER), else the installed command."""
    launcher = os.environ.get("DUI_LAUNCHER")
    if launcher:
        return f"{launcher} collector"
    installed = Path(sys.executable).parent / "dui-collector"
    return str(installed) if installed.exists() else "dui-collector"


async def trial(
    dui_url: str | None, workdir: Path, mqtt_port: int, http_port: int, usage: bool = False
) -> None:
    with contextlib.ExitStack() as stack:
        regex = None
        if dui_url is None:
            dui_url, regex = stack.enter_context(stand_in_page()), "Connexion"
            print(
                f"No --dui-url given: the agent measures a stand-in DUI page at {dui_url}\n"
                "(loopback only; nothing leaves this machine). Give --dui-url to measure"
                " your DUI.",
                flush=True,
            )
        collector_path, agent_path = write_configs(
            workdir, dui_url, regex, _port(mqtt_port), _port(http_port), usage
        )
        config = collector_config.load(collector_path)
        asked = asyncio.Event()  # the person stops the trial
        stop = asyncio.Event()  # the collector stops, once the agent is gone
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, asked.set)
        agent: subprocess.Popen[bytes] | None = None

        def stop_agent() -> None:
            if agent is not None and agent.poll() is None:
                agent.terminate()
                try:
                    agent.wait(20)
                except subprocess.TimeoutExpired:
                    agent.kill()

        async def shutdown() -> None:
            await asked.wait()
            await asyncio.to_thread(stop_agent)  # the agent first, so it never sees the
            stop.set()  # broker vanish under it

        def ready(port: int) -> None:
            nonlocal agent
            agent = subprocess.Popen(
                [sys.executable, "-m", "agent", "run", "--config", str(agent_path)]
            )
            print(
                f"\ndui-sla trial running (Ctrl-C to stop)\n"
                f"  status page  http://127.0.0.1:{port}/\n"
                f"  metrics      http://127.0.0.1:{port}/metrics\n"
                f"  SLA state    http://127.0.0.1:{port}/api/v1/contracts/trial\n"
                f"  files        {workdir} (collector.yaml, agent.yaml, ledger.db)\n"
                "  The agent's first results arrive within about 30 s; the contract `trial`\n"
                "  (24/7, one site) is evaluated every minute (dui_sla_* in /metrics).\n"
                "  The files stay after Ctrl-C: the next trial goes on with them (--fresh\n"
                "  starts over). Report, in another terminal:\n"
                f"    {collector_command()} report --config {workdir}/collector.yaml"
                f" --contract trial --month {dt.date.today():%Y-%m}"
                f" --output {workdir}/report.html\n"
                "  (then open report.html in a browser; a month with a few minutes of\n"
                "  evidence says 'insufficient evidence', as it should)\n"
                "  Go-live readiness of this machine (its inventory, RTT and p95 to the DUI):\n"
                f"    {collector_command()} readiness --config {workdir}/collector.yaml"
                f" --output {workdir}/readiness.html\n"
                + (
                    "  Usage is on (--usage): this machine's minutes of use, counted per site.\n"
                    if usage
                    else "  Usage (workstations in use, minutes a day, per site) is off: it is\n"
                    "  staff activity data (docs/usage.md); --usage turns it on for the trial.\n"
                ),
                flush=True,
            )

        stopper = asyncio.create_task(shutdown())
        try:
            await run(config, stop=stop, on_ready=ready)
        finally:
            stopper.cancel()
            stop_agent()


# What a trial writes in its directory; `--fresh` removes these and nothing else, so a
# `--dir` that holds other files loses none of them.
TRIAL_FILES = (
    "collector.yaml",
    "agent.yaml",
    "speedtest-token",
    *(f"{db}{suffix}" for db in ("ledger.db", "spool.db") for suffix in ("", "-wal", "-shm")),
)


def default_dir() -> Path:
    """Where the trial keeps its files between runs: the user's state directory."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "dui-sla" / "trial"


def main(
    dui_url: str | None,
    directory: str | None,
    mqtt_port: int,
    http_port: int,
    fresh: bool,
    usage: bool = False,
) -> None:
    if dui_url is not None:
        try:
            dui_endpoint(dui_url)
        except ValueError as exc:
            print(f"dui-collector: usage error: --dui-url: {exc}", file=sys.stderr)
            sys.exit(2)
    workdir = Path(directory) if directory else default_dir()
    workdir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for name in TRIAL_FILES:
            (workdir / name).unlink(missing_ok=True)
    asyncio.run(trial(dui_url, workdir, mqtt_port, http_port, usage))
