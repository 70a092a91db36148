"""A blocking HTTP/1.1 client that times each phase around the socket call itself.

Shared by the http, scenario and bandwidth probes. Handles TLS (expiry, issuer),
keep-alive, and an HTTP proxy (`proxy: system | none | URL`): plain http goes to
the proxy with an absolute URI, https through a CONNECT tunnel. With a proxy, the
`connect` phase covers the TCP connect to the proxy and the tunnel set-up.
"""

from __future__ import annotations

import base64
import http.client
import io
import select
import socket
import ssl
import time
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from agent.probes._common import NS, Deadline, getaddrinfo_within, kernel_rtt, unresolved

USER_AGENT = "dui-agent"


MAX_DETAIL = 1024  # characters of a result's `error_detail` (wire.schema.Result)


class ProbeError(Exception):
    """A failure with its wire reason (dns, connect, tls, proxy, status…) and, for
    `check` and the logs, a sentence a technician can act on (never a secret)."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def reason_of(exc: BaseException) -> str:
    """The wire `error` of a failed request: its ProbeError reason, a timeout, or a
    connection that broke."""
    if isinstance(exc, ProbeError):
        return exc.reason
    return "timeout" if isinstance(exc, TimeoutError) else "connect"


def detail_of(exc: BaseException) -> str:
    """The `error_detail` of a failed request, at most MAX_DETAIL characters."""
    if isinstance(exc, ProbeError) and exc.detail:
        text = exc.detail
    elif isinstance(exc, TimeoutError):
        text = "no answer before the probe's timeout"
    elif isinstance(exc, OSError):
        text = f"the connection broke: {exc.strerror or exc}"
    else:
        text = str(exc) or type(exc).__name__
    return clip(text)


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def expected_text(expected: Any) -> str:
    """Accepted statuses in words: a range as `200–399`, a list as `200, 302`."""
    if isinstance(expected, range):
        return f"{expected.start}–{expected.stop - 1}"
    return ", ".join(str(s) for s in expected)


class Endpoint(NamedTuple):
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Endpoint:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        return cls(parts.scheme, parts.hostname or "", parts.port or (443 if https else 80))

    @property
    def https(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Proxy(NamedTuple):
    host: str
    port: int
    authorization: str | None = None  # Proxy-Authorization header value; never logged


def resolve_proxy(setting: str, url: str) -> Proxy | None:
    """The proxy for `url` under `proxy: system | none | http://host:port`."""
    if setting == "none":
        return None
    if setting == "system":
        import urllib.request  # only here: it weighs several MB in the probe process

        target = urlsplit(url)
        if urllib.request.proxy_bypass(target.hostname or ""):
            return None
        setting = urllib.request.getproxies().get(target.scheme, "")
        if not setting:
            return None
        if "://" not in setting:
            setting = f"http://{setting}"
    parts = urlsplit(setting)
    authorization = None
    if parts.username:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode()
    return Proxy(parts.hostname or "", parts.port or 8080, authorization)


def tls_context(params: dict[str, Any]) -> ssl.SSLContext:
    if params.get("insecure_skip_verify"):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=params.get("ca_file"))


def _issuer(cert: dict[str, Any]) -> str | None:
    fields = {k: v for rdn in cert.get("issuer", ()) for (k, v) in rdn}
    return fields.get("commonName") or fields.get("organizationName")


class _PrefixedRaw(io.RawIOBase):
    """The socket's stream with the first byte (already read to time it) put back."""

    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._prefix = prefix
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = len(self._prefix)
            buffer[:n] = self._prefix
            self._prefix = b""
            return n
        return self._sock.recv_into(buffer)


class _PrefixedSocket:
    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._raw = _PrefixedRaw(prefix, sock)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(self._raw)

    def close(self) -> None:
        """The connection closes the real socket itself."""


def _tcp(host: str, port: int, deadline: Deadline, phases: dict, failure: str) -> socket.socket:
    what = "the proxy " if failure == "proxy" else ""
    try:
        infos, phases["resolve"] = getaddrinfo_within(host, port, deadline.remaining())
    except TimeoutError as exc:
        raise ProbeError("timeout", detail=str(exc)) from None
    except (socket.gaierror, UnicodeError) as exc:
        failed = "dns" if failure == "connect" else failure
        raise ProbeError(failed, detail=unresolved(host, exc, what)) from None
    family, socktype, proto, _, addr = infos[0]
    sock = socket.socket(family, socktype, proto)
    try:
        sock.settimeout(deadline.remaining())
        t0 = time.perf_counter_ns()
        try:
            sock.connect(addr)
        except TimeoutError:
            raise ProbeError(
                "timeout", detail=f"no answer from {what}{host} port {port} (TCP connect)"
            ) from None
        except OSError as exc:
            raise ProbeError(
                failure, detail=f"cannot connect to {what}{host} port {port}: {exc.strerror or exc}"
            ) from None
        phases["connect"] = (time.perf_counter_ns() - t0) * NS
        if (rtt := kernel_rtt(sock)) is not None:
            phases["connect_kernel"] = rtt  # the handshake as the kernel timed it
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except BaseException:
        sock.close()
        raise


def _proxy_refused(proxy: Proxy, status: int, reason: str) -> ProbeError:
    """A proxy's answer in words; its reason phrase is the proxy's text, clipped."""
    hint = ""
    if status == 407:
        hint = (
            ": the proxy wants a user and password (proxy: http://user:password@host:port)"
            if proxy.authorization is None
            else ": the proxy refused the user and password given in `proxy`"
        )
    return ProbeError(
        "proxy",
        detail=f"proxy {proxy.host} port {proxy.port} answered {status} {clip(reason, 80)}{hint}",
    )


def _tunnel(sock: socket.socket, endpoint: Endpoint, proxy: Proxy, deadline: Deadline) -> None:
    lines = [
        f"CONNECT {endpoint.authority} HTTP/1.1",
        f"Host: {endpoint.authority}",
        f"User-Agent: {USER_AGENT}",
    ]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    sock.settimeout(deadline.remaining())
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    response = http.client.HTTPResponse(sock, method="CONNECT")
    try:
        response.begin()
    except (http.client.HTTPException, ConnectionError):
        raise ProbeError(
            "proxy", detail=f"proxy {proxy.host} port {proxy.port} gave no valid answer to CONNECT"
        ) from None
    if response.status != 200:
        raise _proxy_refused(proxy, response.status, response.reason)


class Connection:
    """One HTTP/1.1 connection to an endpoint, direct or through a proxy."""

    def __init__(
        self,
        sock: socket.socket,
        endpoint: Endpoint,
        proxy: Proxy | None,
        cert: dict[str, Any] | None,
    ) -> None:
        self.sock = sock
        self.endpoint = endpoint
        self.proxy = proxy
        self.cert = cert

    @classmethod
    def open(
        cls,
        endpoint: Endpoint,
        proxy: Proxy | None,
        params: dict[str, Any],
        deadline: Deadline,
        phases: dict[str, float],
    ) -> Connection:
        if proxy is None:
            sock = _tcp(endpoint.host, endpoint.port, deadline, phases, "connect")
        else:
            sock = _tcp(proxy.host, proxy.port, deadline, phases, "proxy")
            if endpoint.https:
                t0 = time.perf_counter_ns()
                try:
                    _tunnel(sock, endpoint, proxy, deadline)
                except BaseException:
                    sock.close()
                    raise
                phases["connect"] += (time.perf_counter_ns() - t0) * NS
        if not endpoint.https:
            return cls(sock, endpoint, proxy, None)
        tls = tls_context(params).wrap_socket(
            sock, server_hostname=endpoint.host, do_handshake_on_connect=False
        )
        try:
            tls.settimeout(deadline.remaining())
            t0 = time.perf_counter_ns()
            try:
                tls.do_handshake()
            except TimeoutError:
                raise
            except ssl.SSLCertVerificationError as exc:
                raise ProbeError(
                    "tls",
                    detail=f"certificate of {endpoint.host} not accepted: {exc.verify_message}",
                ) from None
            except (ssl.SSLError, ssl.CertificateError, ConnectionError) as exc:
                why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
                raise ProbeError(
                    "tls", detail=f"TLS handshake with {endpoint.authority} failed: {why}"
                ) from None
            phases["tls"] = (time.perf_counter_ns() - t0) * NS
            return cls(tls, endpoint, proxy, tls.getpeercert())
        except BaseException:
            tls.close()
            raise

    def tls_fields(self) -> dict[str, Any]:
        if not self.cert:
            return {}
        return {
            "tls_expiry_ts": ssl.cert_time_to_seconds(self.cert["notAfter"]),
            "tls_issuer": _issuer(self.cert),
        }

    def alive(self) -> bool:
        """Usable for keep-alive when the server has sent nothing (no close, no data)."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        self.sock.close()

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        deadline: Deadline,
        phases: dict[str, float],
        max_body: int,
        keep_alive: bool,
    ) -> tuple[http.client.HTTPResponse, bytes]:
        """Send a request, time processing and transfer; returns (response, capped body)."""
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if self.proxy is not None and not self.endpoint.https:
            target = url  # absolute URI to a plain-http proxy
        conn = http.client.HTTPConnection(self.endpoint.host, self.endpoint.port)
        conn.sock = self.sock
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        default_port = 443 if self.endpoint.https else 80
        host = (
            self.endpoint.authority
            if self.endpoint.port != default_port
            else (f"[{self.endpoint.host}]" if ":" in self.endpoint.host else self.endpoint.host)
        )
        conn.putheader("Host", host)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", "*/*")
        if not keep_alive:
            conn.putheader("Connection", "close")
        if self.proxy is not None and not self.endpoint.https and self.proxy.authorization:
            conn.putheader("Proxy-Authorization", self.proxy.authorization)
        for name, value in headers.items():
            conn.putheader(name, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        self.sock.settimeout(deadline.remaining())
        t0 = time.perf_counter_ns()
        conn.endheaders(message_body=body)
        # recv(1) returns at the first byte of application data (TLS records that
        # carry none, such as session tickets, are consumed inside it).
        first = self.sock.recv(1)
        t1 = time.perf_counter_ns()
        if not first:
            raise ConnectionResetError("connection closed before the response")
        phases["processing"] = (t1 - t0) * NS
        conn.sock = _PrefixedSocket(first, self.sock)
        self.sock.settimeout(deadline.remaining())
        try:
            response = conn.getresponse()
        except http.client.HTTPException as exc:
            raise ProbeError(
                "status", detail=f"{self.endpoint.authority} sent no valid HTTP response: {exc!r}"
            ) from None
        data = response.read(max_body)
        phases["transfer"] = (time.perf_counter_ns() - t1) * NS
        if self.proxy is not None and response.status == 407:
            raise _proxy_refused(self.proxy, response.status, response.reason)
        return response, data
