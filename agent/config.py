"""The agent's config file (docs/configuration.md): strict schema, durations, sizes, files.

`load(path)` returns an AgentConfig or raises ConfigError with one line naming
the file and the key; every other module trusts the parsed values.
"""

from __future__ import annotations

import os
import re
import socket
import string
import sys
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from runtime.configfile import (
    ConfigError,
    Duration,
    Size,
    Strict,
    parse_as,
    positive,
    read_yaml,
)
from runtime.mqtt import Endpoint
from runtime.mqttconfig import MqttClientConfig, check_url
from wire.schema import ID_PATTERN, Role

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]


class MqttConfig(MqttClientConfig):
    url: str = "mqtt://127.0.0.1:1883"
    ack_timeout: Duration = Duration(60)
    keepalive: Duration = Duration(60)
    resend_rate: Annotated[int, msgspec.Meta(ge=1)] = 2000  # results per second when re-sending

    def __post_init__(self) -> None:
        check_url(self.url, self.allow_insecure)
        positive(self.ack_timeout, "ack_timeout")

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.url)

    @property
    def host(self) -> str:
        return self.endpoint.host


class SpoolConfig(Strict):
    path: str | None = None
    max_bytes: Size = Size(50_000_000)
    max_age: Duration = Duration(7 * 86400)


class HttpProbeConfig(Strict):
    url: str
    interval: Duration = Duration(30)
    timeout: Duration = Duration(10)
    method: Literal["GET", "HEAD"] = "GET"
    expect_status: list[Annotated[int, msgspec.Meta(ge=100, le=599)]] | None = None
    expect_regex: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    connection: Literal["new", "reuse"] = "new"
    max_body: Size = Size(2_000_000)

    def __post_init__(self) -> None:
        _check_http_url(self.url, "url")
        positive(self.interval, "interval")
        positive(self.timeout, "timeout")
        _check_regex(self.expect_regex)


class LatencyProbeConfig(Strict):
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 443
    interval: Duration = Duration(30)
    samples: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    method: Literal["tcp", "icmp", "auto"] = "tcp"
    timeout: Duration = Duration(2)  # per sample
    spacing: Duration = Duration(0.1)  # between samples

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty (or write `auto` for the default gateway)")
        _check_host(self.host)
        positive(self.interval, "interval")
        positive(self.timeout, "timeout")


class DnsProbeConfig(Strict):
    host: str | None = None  # default: the host of the target's http or latency probe
    interval: Duration = Duration(30)
    timeout: Duration = Duration(5)

    def __post_init__(self) -> None:
        if self.host is not None:
            _check_host(self.host)
        positive(self.interval, "interval")
        positive(self.timeout, "timeout")


class ScenarioStep(Strict):
    name: Id
    get: str | None = None
    post: str | None = None
    form: dict[str, str] | None = None
    expect_status: list[int] | None = None
    expect_regex: str | None = None
    extract: dict[str, str] | None = None  # name → regex (group 1), usable in later forms

    def __post_init__(self) -> None:
        if (self.get is None) == (self.post is None):
            raise ValueError(f"step {self.name}: give exactly one of get or post")
        _check_http_url(
            self.get or self.post or "", f"step {self.name}: {'get' if self.get else 'post'}"
        )
        if self.form is not None and self.post is None:
            raise ValueError(f"step {self.name}: form needs post")
        _check_regex(self.expect_regex)
        for name, pattern in (self.extract or {}).items():
            _check_regex(pattern, f"extract.{name}")


class ScenarioProbeConfig(Strict):
    steps: Annotated[list[ScenarioStep], msgspec.Meta(min_length=1)]
    interval: Duration = Duration(300)
    timeout: Duration = Duration(30)
    username: str | None = None
    username_env: str | None = None
    password_file: str | None = None
    password_env: str | None = None
    ca_file: str | None = None

    def __post_init__(self) -> None:
        hosts = {urlsplit(s.get or s.post or "").hostname for s in self.steps}
        if len(hosts) > 1:
            raise ValueError(
                f"steps go to several hosts {sorted(h or '' for h in hosts)}: the synthetic "
                "account's credentials are only sent to one host"
            )
        known = {"username", "password"}
        # The credentials, and the session cookie they buy, go over https only.
        sends_account = any(
            _placeholders(step.form) & {"username", "password"} for step in self.steps
        )
        for step in self.steps:
            url = step.post or step.get or ""
            if urlsplit(url).scheme != "https" and (step.form or sends_account):
                key = "post" if step.post else "get"
                raise ValueError(
                    f"step {step.name}: {key} {_masked(url)} is plain http, but credentials "
                    "(the synthetic account, its session cookie) are only sent over https: "
                    "every step of this scenario must use https://"
                )
            for name in _placeholders(step.form):
                if name not in known:
                    raise ValueError(
                        f"step {step.name}: form uses {{{name}}}, which is neither "
                        f"username, password nor extracted by an earlier step"
                    )
            known.update(step.extract or {})
        if self.username is None and self.username_env is None:
            raise ValueError("give the synthetic account's username or username_env")
        if self.password_file is None and self.password_env is None:
            raise ValueError("give the synthetic account's password_file or password_env")


class BandwidthProbeConfig(Strict):
    url: str
    interval: Duration = Duration(3600)
    timeout: Duration = Duration(60)
    max_bytes: Size = Size(100_000_000)  # a cap: a slow link spends only what its window needs
    window: str | None = None  # "20:00-07:00", local time
    token_file: str | None = None
    streams: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4

    def __post_init__(self) -> None:
        _check_http_url(self.url, "url")
        if self.window is not None and not re.fullmatch(
            r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d", self.window
        ):
            raise ValueError(f"window {self.window!r}: write HH:MM-HH:MM, e.g. 20:00-07:00")


# The probes a target may have, each under its kind's key (wire.probes), with its params.
TARGET_PROBES: dict[str, type[Strict]] = {
    "http": HttpProbeConfig,
    "latency": LatencyProbeConfig,
    "dns": DnsProbeConfig,
    "scenario": ScenarioProbeConfig,
    "bandwidth": BandwidthProbeConfig,
}


class TargetConfig(Strict):
    name: Id
    role: Role
    http: HttpProbeConfig | None = None
    latency: LatencyProbeConfig | None = None
    dns: DnsProbeConfig | None = None
    scenario: ScenarioProbeConfig | None = None
    bandwidth: BandwidthProbeConfig | None = None

    def __post_init__(self) -> None:
        if not self.probes():
            kinds = ", ".join(TARGET_PROBES)
            raise ValueError(f"target {self.name} has no probe: add one of {kinds}")
        if self.dns is not None and self.dns.host is None and self.default_host() is None:
            raise ValueError(f"target {self.name}: dns needs a host")
        if self.latency is not None and self.latency.host == "auto" and self.role != "gateway":
            raise ValueError(f"target {self.name}: latency host `auto` is for role gateway")

    def probes(self) -> list[tuple[str, Any]]:
        """(kind, params) of the probes this target has."""
        return [(k, p) for k in TARGET_PROBES if (p := getattr(self, k)) is not None]

    def default_host(self) -> str | None:
        if self.http is not None:
            return urlsplit(self.http.url).hostname
        if self.latency is not None and self.latency.host != "auto":
            return self.latency.host
        return None


class InventoryConfig(Strict):
    enabled: bool = True
    interval: Duration = Duration(86400)


class UsageConfig(Strict):
    enabled: bool = False
    interval: Duration = Duration(60)

    def __post_init__(self) -> None:
        # The collector counts each usage result as one workstation-minute.
        if float(self.interval) != 60:
            raise ValueError(
                "interval must be 1m: the collector counts each usage result as one"
                " minute of use (remove the key or write 1m)"
            )


class ContextConfig(Strict):
    enabled: bool = True
    interval: Duration = Duration(300)


# The workstation-wide probes, each under its kind's key at the top of the file.
WORKSTATION_PROBES: dict[str, type[Strict]] = {
    "inventory": InventoryConfig,
    "context": ContextConfig,
    "usage": UsageConfig,
}


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class AgentConfig(Strict):
    org: Id
    site: Id
    targets: Annotated[list[TargetConfig], msgspec.Meta(min_length=1)]
    agent: Id = msgspec.field(default_factory=lambda: default_agent_id())
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    proxy: str = "system"
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    inventory: InventoryConfig = msgspec.field(default_factory=InventoryConfig)
    usage: UsageConfig = msgspec.field(default_factory=UsageConfig)
    context: ContextConfig = msgspec.field(default_factory=ContextConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    # `process` keeps probe timing out of reach of the event loop's load.
    probe_worker: Literal["process", "thread"] = "process"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"target name {target.name!r} is used twice")
            seen.add(target.name)
        if self.proxy not in ("system", "none"):
            # The proxy alone may carry a user and password: an authenticating proxy needs them.
            try:
                parts = urlsplit(self.proxy)
                parts.port  # noqa: B018 - raises on a port that is not a number
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(
                    f"proxy {_masked(self.proxy)}: write system, none or "
                    "http://[user:password@]host:port"
                )

    def workstation_probes(self) -> list[tuple[str, Any]]:
        """(kind, settings) of the workstation-wide probes that are enabled."""
        return [(k, getattr(self, k)) for k in WORKSTATION_PROBES if getattr(self, k).enabled]

    @property
    def client_id(self) -> str:
        return f"{self.org}.{self.site}.{self.agent}"


def default_agent_id() -> str:
    """The host name, lower-cased, first label, other characters made `-`."""
    name = socket.gethostname().split(".")[0].lower()
    name = re.sub(r"[^a-z0-9-]", "-", name).strip("-")[:63]
    return name or "agent"


def default_spool_path() -> Path:
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "dui-agent" / "spool.db"
    base = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return base / "dui-agent" / "spool.db"


def _masked(url: str) -> str:
    """The URL quoted for an error message, everything before its last `@` shown as ***
    (in any Unicode form: a fullwidth `＠` is an `@` once normalised), whether or not
    the URL parses: a password may hold `/` or `:`."""
    plain = unicodedata.normalize("NFKC", url)
    if "@" not in plain:
        return repr(url)
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/*", plain)
    return repr((scheme.group(0) if scheme else "") + "***@" + plain.rpartition("@")[2])


def _check_http_url(url: str, key: str) -> None:
    """An http(s) URL to probe, without credentials in it (README: they are refused)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    # NFKC too: a fullwidth ＠ fails urlsplit but is an @ to many a parser
    plain = unicodedata.normalize("NFKC", url)
    authority = plain.partition("://")[2].partition("/")[0] if "://" in plain else ""
    if "@" in authority or (parts is not None and "@" in parts.netloc):
        raise ValueError(
            f"{key} {_masked(url)}: a probe URL must not carry a user or password; "
            "remove the `user:password@` part (a scenario takes its account from "
            "username/password_file)"
        )
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} {_masked(url)}: write an http:// or https:// URL")


def _check_host(host: str) -> None:
    """A latency or dns host: a name or an address, no `user@`, no space or URL part."""
    plain = unicodedata.normalize("NFKC", host)
    if "@" in plain:
        masked = "***@" + plain.rpartition("@")[2]
        raise ValueError(
            f"host {masked!r}: write a host name or IP address, without a user (`user@host`)"
        )
    if any(c.isspace() or not c.isprintable() or c in "/\\?#" for c in plain):
        raise ValueError(
            f"host {host!r}: write a host name or IP address alone (no space, path or URL)"
        )


def _placeholders(form: dict[str, str] | None) -> set[str]:
    """The `{names}` a form's values use."""
    return {
        name
        for value in (form or {}).values()
        for _, name, _, _ in string.Formatter().parse(value)
        if name is not None
    }


def _check_regex(pattern: str | None, key: str = "expect_regex") -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{key} {pattern!r} is not a valid regular expression: {exc}") from None


def parse(data: Any, base: Path | None = None) -> AgentConfig:
    """Validate an already-loaded mapping. Raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of keys (org, site, targets, …)")
    return parse_as(data, AgentConfig, base)


def load(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate a config file; ConfigError messages start with the file name."""
    path = Path(path)
    data = read_yaml(path)
    try:
        return parse(data, base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
