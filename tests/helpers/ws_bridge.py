"""MQTT over WebSockets in front of a real Mosquitto.

Debian's Mosquitto is built without libwebsockets, so its `protocol websockets`
listener cannot start here. This bridge terminates the WebSocket (subprotocol
`mqtt`, optionally TLS) and relays every MQTT byte to Mosquitto's TCP listener,
as a reverse proxy in front of the broker would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator

from aiohttp import WSMsgType, web


async def _relay(
    request: web.Request, broker_port: int, stats: dict[str, int]
) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("mqtt",))
    await ws.prepare(request)
    reader, writer = await asyncio.open_connection("127.0.0.1", broker_port)
    stats["connections"] += 1

    async def upstream() -> None:
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                writer.write(message.data)
                await writer.drain()
            elif message.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
        writer.close()

    async def downstream() -> None:
        while data := await reader.read(65536):
            await ws.send_bytes(data)
        await ws.close()

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        writer.close()
    return ws


@contextlib.asynccontextmanager
async def ws_bridge(
    broker_port: int, ssl_context: ssl.SSLContext | None = None, path: str = "/mqtt"
) -> AsyncIterator[tuple[int, dict[str, int]]]:
    stats = {"connections": 0}
    app = web.Application()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        return await _relay(request, broker_port, stats)

    app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield port, stats
    finally:
        await runner.cleanup()
