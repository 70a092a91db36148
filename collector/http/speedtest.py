"""/speedtest/*: the agents' bandwidth test, one test per site at a time,
only with the speedtest token."""

from __future__ import annotations

import os
import time

from aiohttp import web

from runtime.secrets import same_secret

SPEEDTEST_HOLD = 10.0  # a site's test slot stays with its agent this long after its last request
_BLOCK = os.urandom(1 << 20)


class Speedtest:
    def __init__(self, token: str | None, max_bytes: int) -> None:
        self.token = token
        self.max_bytes = max_bytes
        self.slots: dict[str, tuple[str, float]] = {}

    def admit(self, request: web.Request) -> tuple[str, str]:
        if self.token is None:
            raise web.HTTPServiceUnavailable(text="speedtest.token_file is not configured\n")
        expected = f"Bearer {self.token}"
        if not same_secret(request.headers.get("Authorization", ""), expected):
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

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/speedtest/download", self.download)
        app.router.add_post("/speedtest/upload", self.upload)
