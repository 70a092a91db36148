"""The aiohttp application: routes, `http.auth` (basic or token) on the status page and
the contracts and maintenance API, /metrics and /healthz open to the scraper."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST

from collector.config import CollectorConfig, split_host_port
from collector.health import Health
from collector.http.api import AUTH_USER, Api
from collector.http.guard import LIMITS, ConnectionGuard, Limits
from collector.http.speedtest import Speedtest
from collector.http.status import status_page
from collector.ledger import Ledger
from collector.live import LiveSla
from collector.metrics.exposition import Exposition
from collector.render.html import LANGS
from collector.state import State
from runtime.logs import fields
from runtime.secrets import SecretError, read_secret, same_secret

log = logging.getLogger("dui.collector.http")


class _ClientErrors(logging.Filter):
    """aiohttp logs a malformed request (a line too long, a bad header) with a traceback
    at error level, once per request: it is the client's mistake, answered with 400, so
    it is dropped here rather than flooding the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, HttpProcessingError)


logging.getLogger("aiohttp.server").addFilter(_ClientErrors())
PROTECTED = ("/api/v1/contracts", "/api/v1/maintenance", "/api/v1/evidence/void")


def _auth_middleware(config: CollectorConfig) -> Callable:
    auth = config.http.auth

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ):
        protected = request.path == "/" or request.path.startswith(PROTECTED)
        if auth is None or not protected:
            return await handler(request)
        try:
            secret = read_secret(auth.file)
        except SecretError as exc:  # emptied or removed since the start: nobody gets in
            log.error("http.auth file unusable", extra=fields(reason=str(exc)))
            raise web.HTTPServiceUnavailable(text="http.auth file unusable\n") from None
        header = request.headers.get("Authorization", "")
        if auth.type == "token":
            ok = same_secret(header, f"Bearer {secret}")
        else:
            users = dict(line.split(":", 1) for line in secret.splitlines() if ":" in line)
            ok = False
            if header.startswith("Basic "):
                with contextlib.suppress(ValueError, UnicodeDecodeError):
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    ok = user in users and same_secret(password, users[user])
                    if ok:
                        request[AUTH_USER] = user  # who did it, for what the API records
        if not ok:
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="dui-sla"'}
                if auth.type == "basic"
                else {}
            )
        return await handler(request)

    return middleware


def make_app(
    config: CollectorConfig,
    state: State,
    ledger: Ledger,
    live: LiveSla | None = None,
    health: Health | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """`ledger` is the API's own connection (evidence and maintenance writes, healthz);
    `clock` (Unix seconds) is the service's, injected by tests that replay a known day."""
    app = web.Application(middlewares=[_auth_middleware(config)], client_max_size=1024 * 1024)
    exposition = Exposition(state)
    token = config.speedtest.token_file
    speedtest = Speedtest(read_secret(token) if token else None, config.speedtest.max_bytes)

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=exposition.render(clock()), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        problems = []
        reason = await asyncio.to_thread(ledger.writable)
        if reason:
            problems.append(f"ledger not writable: {reason}")
        checks = health or Health(state)
        broker = checks.broker_problem()
        if broker:
            problems.append(broker)
        problems.extend(checks.problems())
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ok\n")

    async def index(request: web.Request) -> web.Response:
        lang = request.query.get("lang")
        if lang not in LANGS:
            accept = request.headers.get("Accept-Language", "fr")
            lang = "en" if accept.lower().startswith("en") else "fr"
        page = status_page(state, config, lang, clock())
        # a state page: never served from a cache (a proxy's or the browser's back button)
        return web.Response(
            text=page,
            content_type="text/html",
            headers={"Cache-Control": "no-store", "Vary": "Accept-Language"},
        )

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/", index)
    speedtest.routes(app)
    Api(config, ledger, live, clock).routes(app)
    return app


@contextlib.asynccontextmanager
async def http_server(
    config: CollectorConfig,
    state: State,
    ledger: Ledger,
    live: LiveSla | None = None,
    health: Health | None = None,
    clock: Callable[[], float] = time.time,
    limits: Limits = LIMITS,
) -> AsyncIterator[int]:
    """Serves until the block ends; yields the bound port. The listening socket is ours
    (not a TCPSite) so that every connection passes the guard (collector/http/guard.py)."""
    app = make_app(config, state, ledger, live, health, clock)
    runner = web.AppRunner(
        app,
        access_log=None,
        keepalive_timeout=limits.keepalive,
        lingering_time=limits.lingering,
    )
    guard = ConnectionGuard(lambda: runner.server(), limits)  # type: ignore[misc]
    app.middlewares.insert(0, guard.middleware)
    await runner.setup()
    host, port = split_host_port(config.http.listen)
    try:
        server = await asyncio.get_running_loop().create_server(
            guard, host, port, backlog=limits.backlog
        )
    except OSError as exc:
        await runner.cleanup()
        raise OSError(f"http.listen {config.http.listen}: {exc.strerror or exc}") from None
    bound = server.sockets[0].getsockname()[1]
    log.info("http listening", extra=fields(listen=f"{host}:{bound}"))
    try:
        yield bound
    finally:
        server.close()
        await runner.cleanup()
        for guarded in list(guard.open.values()):  # what aiohttp's shutdown left open
            if guarded.transport is not None:
                guarded.transport.abort()
