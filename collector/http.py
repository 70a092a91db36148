"""The collector's HTTP server (aiohttp): /metrics, /healthz, /speedtest/*, and the
status page `/` in French and English.

`http.auth` (basic or token) protects the status page; /metrics and /healthz stay
open to the scraper; /speedtest/* takes only the speedtest token.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from collector.api import Api
from collector.config import CollectorConfig, split_host_port
from collector.exposition import Exposition
from collector.ledger import SqliteLedger
from collector.state import State
from runtime.logs import fields

log = logging.getLogger("dui.collector.http")
HERE = Path(__file__).parent
STRINGS = json.loads((HERE / "strings.json").read_text(encoding="utf-8"))
SPEEDTEST_HOLD = 10.0  # a site's test slot stays with its agent this long after its last request
_BLOCK = os.urandom(1 << 20)
_templates = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)


def _secret(path: str | None) -> str | None:
    if path is None:
        return None
    return Path(path).read_text(encoding="utf-8").strip()


class Speedtest:
    """One test per site at a time (DESIGN.md §6)."""

    def __init__(self, token: str | None, max_bytes: int) -> None:
        self.token = token
        self.max_bytes = max_bytes
        self.slots: dict[str, tuple[str, float]] = {}

    def admit(self, request: web.Request) -> tuple[str, str]:
        if self.token is None:
            raise web.HTTPServiceUnavailable(text="speedtest.token_file is not configured\n")
        expected = f"Bearer {self.token}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            raise web.HTTPUnauthorized(text="wrong or missing speedtest token\n")
        site = request.query.get("site", "")
        agent = request.query.get("agent", "")
        holder = self.slots.get(site)
        now = time.monotonic()
        if holder and holder[0] != agent and now - holder[1] < SPEEDTEST_HOLD:
            raise web.HTTPTooManyRequests(
                headers={"Retry-After": "60"}, text="another agent of this site is testing\n"
            )
        self.slots[site] = (agent, now)
        return site, agent

    async def download(self, request: web.Request) -> web.StreamResponse:
        self.admit(request)
        try:
            nbytes = int(request.query.get("bytes", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="bytes must be an integer\n") from None
        if not 0 <= nbytes <= self.max_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_bytes, actual_size=nbytes)
        response = web.StreamResponse(
            headers={"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
        )
        response.content_length = nbytes
        await response.prepare(request)
        left = nbytes
        while left > 0:
            piece = _BLOCK[: min(left, 65536)]
            await response.write(piece)
            left -= len(piece)
        await response.write_eof()
        return response

    async def upload(self, request: web.Request) -> web.Response:
        self.admit(request)
        received = 0
        async for chunk in request.content.iter_chunked(65536):
            received += len(chunk)
            if received > self.max_bytes:
                raise web.HTTPRequestEntityTooLarge(max_size=self.max_bytes, actual_size=received)
        return web.json_response({"bytes": received})


def _auth_middleware(config: CollectorConfig) -> Callable:
    auth = config.http.auth

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ):
        protected = request.path == "/" or request.path.startswith(
            ("/api/v1/contracts", "/api/v1/maintenance")
        )
        if auth is None or not protected:
            return await handler(request)
        secret = _secret(auth.file) or ""
        header = request.headers.get("Authorization", "")
        if auth.type == "token":
            ok = hmac.compare_digest(header, f"Bearer {secret}")
        else:
            users = dict(line.split(":", 1) for line in secret.splitlines() if ":" in line)
            ok = False
            if header.startswith("Basic "):
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    ok = user in users and hmac.compare_digest(users[user], password)
        if not ok:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="dui-sla"'}
                if auth.type == "basic"
                else {}
            )
        return await handler(request)

    return middleware


def _when(ts: float) -> str:
    if not ts:
        return "—"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def status_page(state: State, config: CollectorConfig, lang: str) -> str:
    now = time.time()
    agents, sites = [], {}
    for (_org, site, agent), view in sorted(state.agents.items()):
        up = state.up(view, now)
        targets = {}
        last = 0.0
        for (target, role, _probe), (ts, result) in view.last.items():
            last = max(last, ts)
            if role == "workstation":
                continue
            entry = targets.setdefault(target, {"name": target, "success": True, "role": role})
            entry["success"] = entry["success"] and result.success
        agents.append(
            {
                "site": site,
                "agent": agent,
                "up": up,
                "last_seen": _when(view.last_seen),
                "version": view.version or "—",
                "spool": view.spool_results if view.spool_results is not None else "—",
                "targets": sorted(targets.values(), key=lambda t: t["name"]),
            }
        )
        name = config.sites[site].name if site in config.sites and config.sites[site].name else site
        s = sites.setdefault(
            site, {"name": name, "up": 0, "total": 0, "ok": 0, "failing": 0, "last_ts": 0.0}
        )
        s["total"] += 1
        s["up"] += up
        s["last_ts"] = max(s["last_ts"], last)
        for t in targets.values():
            if t["role"] == "dui":
                s["ok" if t["success"] else "failing"] += 1
    for s in sites.values():
        s["last"] = _when(s["last_ts"])
    return _templates.get_template("status.html").render(
        lang=lang,
        other="en" if lang == "fr" else "fr",
        t=STRINGS[lang],
        now=_when(now),
        agents=agents,
        sites=sorted(sites.values(), key=lambda s: s["name"]),
    )


def make_app(
    config: CollectorConfig, state: State, ledger: SqliteLedger, live: Any = None
) -> web.Application:
    app = web.Application(middlewares=[_auth_middleware(config)], client_max_size=1024 * 1024)
    exposition = Exposition(state)
    speedtest = Speedtest(_secret(config.speedtest.token_file), config.speedtest.max_bytes)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=exposition.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(request: web.Request) -> web.Response:
        problems = []
        reason = await asyncio.to_thread(ledger.writable)
        if reason:
            problems.append(f"ledger not writable: {reason}")
        if not state.mqtt_connected:
            problems.append("not connected to the MQTT broker")
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def index(request: web.Request) -> web.Response:
        lang = request.query.get("lang")
        if lang not in STRINGS:
            accept = request.headers.get("Accept-Language", "fr")
            lang = "en" if accept.lower().startswith("en") else "fr"
        return web.Response(text=status_page(state, config, lang), content_type="text/html")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    app.router.add_get("/speedtest/download", speedtest.download)
    app.router.add_post("/speedtest/upload", speedtest.upload)
    Api(config, ledger, live).routes(app)
    return app


@contextlib.asynccontextmanager
async def http_server(
    config: CollectorConfig, state: State, ledger: SqliteLedger, live: Any = None
) -> AsyncIterator[int]:
    runner = web.AppRunner(make_app(config, state, ledger, live), access_log=None)
    await runner.setup()
    host, port = split_host_port(config.http.listen)
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    log.info("http listening", extra=fields(listen=f"{host}:{bound}"))
    try:
        yield bound
    finally:
        await runner.cleanup()
