"""The agent's config file (DESIGN.md §5): strict schema, durations, sizes, files.

`load(path)` returns an AgentConfig or raises ConfigError with one line naming
the file and the key; every other module trusts the parsed values.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import string
import sys
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
import msgspec.inspect
import yaml

from wire.schema import ID_PATTERN, Role
from wire.units import parse_duration, parse_size

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]


class Duration(float):
    """Seconds, written `30s` in the file."""


class Size(int):
    """Bytes, written `50MB` in the file."""


class ConfigError(Exception):
    """A config mistake, worded for the person who edits the file."""


def _dec_hook(tp: type, obj: Any) -> Any:
    if tp is Duration:
        return Duration(parse_duration(obj))
    if tp is Size:
        return Size(parse_size(obj))
    raise NotImplementedError(tp)


def _positive(value: float, what: str) -> None:
    if value <= 0:
        raise ValueError(f"{what} must be greater than zero")


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class MqttConfig(_Strict):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ack_timeout: Duration = Duration(60)
    allow_insecure: bool = False
    keepalive: Duration = Duration(60)
    resend_rate: Annotated[int, msgspec.Meta(ge=1)] = 2000  # results per second when re-sending

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("mqtt", "mqtts", "ws", "wss"):
            raise ValueError(f"url {self.url!r}: scheme must be mqtt, mqtts, ws or wss")
        if not parts.hostname:
            raise ValueError(f"url {self.url!r} has no host")
        if parts.username or parts.password:
            raise ValueError("url must not carry credentials: use username and password_file")
        if (
            parts.scheme in ("mqtt", "ws")
            and not self.allow_insecure
            and not is_loopback(parts.hostname)
        ):
            raise ValueError(
                f"url {self.url!r}: plain {parts.scheme}:// to a non-loopback host sends "
                "results unencrypted; use mqtts:// or wss://, or set mqtt.allow_insecure: true"
            )
        _positive(self.ack_timeout, "ack_timeout")

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme in ("mqtts", "wss")

    @property
    def websockets(self) -> bool:
        return urlsplit(self.url).scheme in ("ws", "wss")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        default = {"mqtt": 1883, "mqtts": 8883, "ws": 80, "wss": 443}
        parts = urlsplit(self.url)
        return parts.port or default[parts.scheme]

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/mqtt"


class SpoolConfig(_Strict):
    path: str | None = None
    max_bytes: Size = Size(50_000_000)
    max_age: Duration = Duration(7 * 86400)


class HttpProbeConfig(_Strict):
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
        _positive(self.interval, "interval")
        _positive(self.timeout, "timeout")
        _check_regex(self.expect_regex)


class LatencyProbeConfig(_Strict):
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
        _positive(self.interval, "interval")
        _positive(self.timeout, "timeout")


class DnsProbeConfig(_Strict):
    host: str | None = None  # default: the host of the target's http or latency probe
    interval: Duration = Duration(30)
    timeout: Duration = Duration(5)

    def __post_init__(self) -> None:
        _positive(self.interval, "interval")
        _positive(self.timeout, "timeout")


class ScenarioStep(_Strict):
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
        _check_http_url(self.get or self.post or "", "get" if self.get else "post")
        if self.form is not None and self.post is None:
            raise ValueError(f"step {self.name}: form needs post")
        _check_regex(self.expect_regex)
        for name, pattern in (self.extract or {}).items():
            _check_regex(pattern, f"extract.{name}")


class ScenarioProbeConfig(_Strict):
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
        for step in self.steps:
            url = step.post or step.get or ""
            if step.form and urlsplit(url).scheme != "https":
                raise ValueError(f"step {step.name}: credentials are only sent over https")
            for value in (step.form or {}).values():
                for _, name, _, _ in string.Formatter().parse(value):
                    if name is not None and name not in known:
                        raise ValueError(
                            f"step {step.name}: form uses {{{name}}}, which is neither "
                            f"username, password nor extracted by an earlier step"
                        )
            known.update(step.extract or {})
        if self.username is None and self.username_env is None:
            raise ValueError("give the synthetic account's username or username_env")
        if self.password_file is None and self.password_env is None:
            raise ValueError("give the synthetic account's password_file or password_env")


class BandwidthProbeConfig(_Strict):
    url: str
    interval: Duration = Duration(3600)
    timeout: Duration = Duration(60)
    max_bytes: Size = Size(20_000_000)
    window: str | None = None  # "20:00-07:00", local time
    token_file: str | None = None
    streams: Annotated[int, msgspec.Meta(ge=1, le=16)] = 4

    def __post_init__(self) -> None:
        _check_http_url(self.url, "url")
        if self.window is not None and not re.fullmatch(
            r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d", self.window
        ):
            raise ValueError(f"window {self.window!r}: write HH:MM-HH:MM, e.g. 20:00-07:00")


class TargetConfig(_Strict):
    name: Id
    role: Role
    http: HttpProbeConfig | None = None
    latency: LatencyProbeConfig | None = None
    dns: DnsProbeConfig | None = None
    scenario: ScenarioProbeConfig | None = None
    bandwidth: BandwidthProbeConfig | None = None

    def __post_init__(self) -> None:
        if not self.probes():
            raise ValueError(
                f"target {self.name} has no probe: add http, latency, dns, scenario or bandwidth"
            )
        if self.dns is not None and self.dns.host is None and self.default_host() is None:
            raise ValueError(f"target {self.name}: dns needs a host")
        if self.latency is not None and self.latency.host == "auto" and self.role != "gateway":
            raise ValueError(f"target {self.name}: latency host `auto` is for role gateway")

    def probes(self) -> list[tuple[str, Any]]:
        kinds = ("http", "latency", "dns", "scenario", "bandwidth")
        return [(kind, getattr(self, kind)) for kind in kinds if getattr(self, kind) is not None]

    def default_host(self) -> str | None:
        if self.http is not None:
            return urlsplit(self.http.url).hostname
        if self.latency is not None and self.latency.host != "auto":
            return self.latency.host
        return None


class InventoryConfig(_Strict):
    enabled: bool = True
    interval: Duration = Duration(86400)


class UsageConfig(_Strict):
    enabled: bool = False
    interval: Duration = Duration(60)


class ContextConfig(_Strict):
    enabled: bool = True
    interval: Duration = Duration(300)


class LogConfig(_Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class AgentConfig(_Strict):
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
    # `process` keeps probe timing out of reach of the event loop's load (DESIGN.md §4).
    probe_worker: Literal["process", "thread"] = "process"

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"target name {target.name!r} is used twice")
            seen.add(target.name)
        if self.proxy not in ("system", "none"):
            parts = urlsplit(self.proxy)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"proxy {self.proxy!r}: write system, none or http://host:port")

    @property
    def client_id(self) -> str:
        return f"{self.org}.{self.site}.{self.agent}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _check_http_url(url: str, key: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{key} {url!r}: write an http:// or https:// URL")


def _check_regex(pattern: str | None, key: str = "expect_regex") -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{key} {pattern!r} is not a valid regular expression: {exc}") from None


# Keys that name a file the agent must be able to read at start.
_FILE_KEYS = ("password_file", "ca_file", "cert_file", "key_file", "token_file")


def _check_files(node: Any, path: str, base: Path) -> None:
    if isinstance(node, msgspec.Struct):
        for field in node.__struct_fields__:
            value = getattr(node, field)
            where = f"{path}.{field}" if path else field
            if field in _FILE_KEYS and value is not None:
                resolved = (base / value) if not os.path.isabs(value) else Path(value)
                if not resolved.is_file():
                    raise ConfigError(f"{where}: file {value!r} not found")
                if not os.access(resolved, os.R_OK):
                    raise ConfigError(f"{where}: file {value!r} is not readable")
                setattr(node, field, str(resolved))
            else:
                _check_files(value, where, base)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            _check_files(item, f"{path}[{i}]", base)


_PLAIN_WORDS = (
    ("Object contains unknown field", "unknown key"),
    ("Object missing required field", "missing required key"),
    (
        f"Expected `str` matching regex '{ID_PATTERN}'",
        "must be 1 to 63 lower-case letters, digits or '-', starting with a letter or digit",
    ),
    ("Expected `array` of length >= 1", "must list at least one entry"),
)


def _where(message: str) -> str:
    """msgspec's `... - at `$.a[0].b`` becomes `a[0].b: ...`."""
    match = re.match(r"^(.*) - at `\$\.?(.*)`$", message, re.S)
    text, path = match.groups() if match else (message, "")
    for old, new in _PLAIN_WORDS:
        text = text.replace(old, new)
    if text.startswith("Invalid enum value") and path:
        choices = _choices(AgentConfig, path)
        if choices:
            text += f" (choose from {', '.join(map(repr, choices))})"
    return f"{path}: {text}" if path else text


def _choices(root: type, path: str) -> tuple[Any, ...]:
    """Allowed values of the Literal field at a dotted path such as `targets[0].role`."""
    info: Any = msgspec.inspect.type_info(root)
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        while isinstance(info, msgspec.inspect.UnionType):
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
        if isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
        if not isinstance(info, msgspec.inspect.StructType):
            return ()
        field = next((f for f in info.fields if f.name == part), None)
        if field is None:
            return ()
        info = field.type
        if isinstance(info, msgspec.inspect.ListType):
            info = info.item_type
    return tuple(info.values) if isinstance(info, msgspec.inspect.LiteralType) else ()


def parse(data: Any, base: Path | None = None) -> AgentConfig:
    """Validate an already-loaded mapping. Raises ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError("the file must hold a mapping of keys (org, site, targets, …)")
    try:
        config = msgspec.convert(data, AgentConfig, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(_where(str(exc))) from None
    _check_files(config, "", base or Path.cwd())
    return config


def load(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate a config file; ConfigError messages start with the file name."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from None
    try:
        return parse(data, base=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
