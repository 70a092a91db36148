"""Connection limits aiohttp does not have: a connection that sends no complete request
head within `head_timeout` is closed, a request (body included) that takes longer than
`request_timeout` is cut, and at most `max_connections` are open at once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from runtime.logs import fields

log = logging.getLogger("dui.collector.http")
LOG_AGAIN_AFTER = 600.0
UNTIMED = ("/speedtest/",)  # bounded by speedtest.max_bytes and the agent's own timeout


@dataclass(frozen=True)
class Limits:
    head_timeout: float = 10.0  # connect → a complete request head (slowloris)
    keepalive: float = 15.0  # idle between two requests on one connection (aiohttp's own)
    request_timeout: float = 60.0  # head → response, body read included (slow bodies)
    lingering: float = 2.0  # an unread body is drained this long before closing (aiohttp's)
    max_connections: int = 512
    backlog: int = 128


LIMITS = Limits()


class _Guarded(asyncio.Protocol):
    """Forwards every callback to aiohttp's own protocol and times the request head."""

    def __init__(self, guard: ConnectionGuard) -> None:
        self.guard = guard
        self.inner: Any = None
        self.transport: asyncio.Transport | None = None
        self.opened = time.monotonic()
        self.requests = 0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.guard.admit(self):
            transport.abort()
            return
        self.inner = self.guard.factory()
        self.guard.open[self.inner] = self
        self.timer = asyncio.get_running_loop().call_later(
            self.guard.limits.head_timeout, self._head_late
        )
        self.inner.connection_made(transport)

    def _head_late(self) -> None:
        if self.requests == 0 and self.transport is not None:
            self.guard.count("no request head in time")
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.inner is not None:
            self.guard.open.pop(self.inner, None)
            self.inner.connection_lost(exc)


class ConnectionGuard:
    """The protocol factory for `loop.create_server`, wrapping aiohttp's (`factory`)."""

    def __init__(self, factory: Callable[[], Any], limits: Limits) -> None:
        self.factory = factory
        self.limits = limits
        self.open: dict[Any, _Guarded] = {}  # aiohttp's protocol → its guard
        self.closed: dict[str, int] = {}  # why → connections closed by the guard
        self._logged: dict[str, float] = {}

    def __call__(self) -> asyncio.Protocol:
        return _Guarded(self)

    def admit(self, new: _Guarded) -> bool:
        """Room for one more: at the cap, the oldest connection that has not sent a request
        yet makes way (so idle sockets cannot lock clients out); none such, the new one
        is refused."""
        if len(self.open) < self.limits.max_connections:
            return True
        idle = [g for g in self.open.values() if g.requests == 0 and g.transport is not None]
        if not idle:
            self.count("too many connections")
            return False
        oldest = min(idle, key=lambda g: g.opened)
        self.count("too many connections")
        oldest.transport.abort()  # type: ignore[union-attr]
        self.open.pop(oldest.inner, None)
        return True

    def count(self, why: str) -> None:
        self.closed[why] = self.closed.get(why, 0) + 1
        now = time.monotonic()
        if now - self._logged.get(why, -LOG_AGAIN_AFTER) >= LOG_AGAIN_AFTER:
            self._logged[why] = now
            log.warning(
                "http connections closed by the guard",
                extra=fields(reason=why, total=self.closed[why], open=len(self.open)),
            )

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """A request head arrived complete: from here aiohttp's keep-alive timeout and the
        handler's own limits apply."""
        guarded = self.open.get(request.protocol)
        if guarded is not None:
            guarded.requests += 1
        if request.path.startswith(UNTIMED):
            return await handler(request)
        try:
            async with asyncio.timeout(self.limits.request_timeout):
                return await handler(request)
        except TimeoutError:
            self.count("request too slow")
            raise web.HTTPRequestTimeout(
                text=f"the request took longer than {self.limits.request_timeout:.0f} s\n",
                headers={"Connection": "close"},
            ) from None
