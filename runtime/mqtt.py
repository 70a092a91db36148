"""The MQTT session of both sides: broker URL, TLS, credentials and last will, and
a reconnect loop with jittered back-off that says `offline` when it is cancelled.

A connection that never came up is logged as a failure to connect with its cause
(tls, auth, refused, timeout, network), apart from one that was lost; both once a
minute at most while the same cause repeats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiomqtt

from runtime.logs import Throttle, fields
from runtime.secrets import SecretError, read_secret

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
OFFLINE_TIMEOUT = 2.0  # seconds to say `offline` on the way out
LOG_EVERY = 60.0
# What a failed connect's message says, lower-cased → the cause a person acts on.
CONNECT_CAUSES = (
    (("certificate", "ssl", "tls", "handshake", "wrong version number"), "tls"),
    (("not authori", "bad user name", "password", "banned", "identifier rejected"), "auth"),
    (("connection refused", "errno 111", "server unavailable"), "refused"),
    (("timed out", "timeout"), "timeout"),
)


@dataclass(frozen=True)
class Endpoint:
    """Where the broker is: mqtt:// and ws:// in clear, mqtts:// and wss:// over TLS."""

    scheme: str
    host: str
    port: int
    path: str = "/mqtt"  # WebSocket path

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """Raises ValueError naming the URL when the scheme or host is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS:
            raise ValueError(f"url {url!r}: scheme must be mqtt, mqtts, ws or wss")
        if not parts.hostname:
            raise ValueError(f"url {url!r} has no host")
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        return cls(parts.scheme, parts.hostname, port, parts.path or "/mqtt")

    @property
    def tls(self) -> bool:
        return self.scheme in ("mqtts", "wss")

    @property
    def websockets(self) -> bool:
        return self.scheme in ("ws", "wss")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClientSettings:
    """One side's client: who it is, its files, and its retained status topic, whose
    last will (and the message sent when the loop is cancelled) is `offline`."""

    endpoint: Endpoint
    client_id: str
    status_topic: str
    offline: bytes
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)  # more aiomqtt.Client keywords


def tls_context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    """The system's CAs (or `ca_file`), with a client certificate when one is given."""
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def client(settings: ClientSettings) -> aiomqtt.Client:
    """An MQTT 3.1.1 client with a persistent session; reads the password file now."""
    endpoint = settings.endpoint
    return aiomqtt.Client(
        endpoint.host,
        endpoint.port,
        username=settings.username,
        password=read_secret(settings.password_file) if settings.password_file else None,
        identifier=settings.client_id,
        protocol=aiomqtt.ProtocolVersion.V311,
        clean_session=False,
        will=aiomqtt.Will(settings.status_topic, settings.offline, 1, True),
        transport="websockets" if endpoint.websockets else "tcp",
        websocket_path=endpoint.path if endpoint.websockets else None,
        tls_context=(
            tls_context(settings.ca_file, settings.cert_file, settings.key_file)
            if endpoint.tls
            else None
        ),
        **settings.options,
    )


Session = Callable[[aiomqtt.Client], Awaitable[None]]


def connect_cause(exc: BaseException) -> str:
    """tls, auth, refused, timeout or network: why a connection did not come up."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 5:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return "tls"
    text = " ".join(str(e) for e in chain).lower()
    for words, cause in CONNECT_CAUSES:
        if any(word in text for word in words):
            return cause
    return "network"


async def keep_connected(
    settings: ClientSettings, session: Session, log: logging.Logger, max_backoff: float = 60.0
) -> None:
    """Run `session` on a connected client until cancelled, reconnecting after a lost
    connection or an error (logged: a bug must not stop delivery), 1 s doubling up to
    `max_backoff`, ±20 %. On cancel, publish `offline` if still connected."""
    backoff = 1.0
    throttle = Throttle(LOG_EVERY)
    while True:
        came_up = False
        try:
            async with client(settings) as connected:
                came_up = True
                backoff = 1.0
                throttle.forget("connect")
                try:
                    await session(connected)
                finally:
                    if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(
                                connected.publish(
                                    settings.status_topic, settings.offline, qos=1, retain=True
                                ),
                                OFFLINE_TIMEOUT,
                            )
        except* aiomqtt.MqttError as group:
            error = group.exceptions[0]
            event, cause = (
                ("mqtt connection lost", "lost") if came_up else ("mqtt connect failed", None)
            )
            cause = cause or connect_cause(error)
            skipped = throttle.due("lost" if came_up else "connect", cause)
            if skipped is not None:
                log.warning(
                    event,
                    extra=fields(
                        broker=str(settings.endpoint),
                        cause=cause,
                        reason=str(error)[:300],
                        retry_in=round(backoff, 1),
                        similar_left_out=skipped,
                    ),
                )
        except* SecretError as group:
            log.error(
                "mqtt password file unreadable",
                extra=fields(reason=str(group.exceptions[0]), retry_in=round(backoff, 1)),
            )
        except* Exception as group:
            log.error(
                "mqtt session error",
                exc_info=group.exceptions[0],
                extra=fields(broker=str(settings.endpoint), retry_in=round(backoff, 1)),
            )
        await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
        backoff = min(backoff * 2, max_backoff)
