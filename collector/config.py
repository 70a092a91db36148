"""The collector's config file (docs/configuration.md): strict schema; every key optional but
the contracts' essentials, so `dui-collector run` works on an empty file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from collector.accounts import AGENT_USER
from runtime.configfile import (
    ConfigError,
    Duration,
    Size,
    Strict,
    is_loopback,
    parse_as,
    positive,
    read_yaml,
)
from runtime.mqttconfig import MqttClientConfig, check_url
from wire.schema import ID_PATTERN

Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
HostPort = Annotated[str, msgspec.Meta(pattern=r"^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$")]


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


def check_port(listen: str) -> None:
    if split_host_port(listen)[1] > 65535:
        raise ValueError(f"listen {listen!r}: the port must be 0 to 65535")


class MqttConfig(MqttClientConfig):
    url: str | None = None  # omitted: the embedded broker on `listen`
    listen: HostPort = "127.0.0.1:1883"
    shared_group: Id | None = None
    client_id: str = "dui-collector"

    def __post_init__(self) -> None:
        check_port(self.listen)
        if self.url is not None:
            check_url(self.url, self.allow_insecure)

    @property
    def embedded(self) -> bool:
        return self.url is None


class HttpAuth(Strict):
    type: Literal["basic", "token"]
    file: str


class HttpConfig(Strict):
    listen: HostPort = "127.0.0.1:9108"
    auth: HttpAuth | None = None

    def __post_init__(self) -> None:
        check_port(self.listen)
        host, _ = split_host_port(self.listen)
        if self.auth is None and not is_loopback(host):
            raise ValueError(
                f"listen {self.listen!r} is beyond loopback: set http.auth (basic or token) to "
                "protect the status page and the API, or listen on 127.0.0.1 behind a proxy"
            )


USAGE_RETENTION = 400 * 86400  # 13 months and a few days: a year's comparison holds


class LedgerConfig(Strict):
    url: str = "sqlite:///var/lib/dui-collector/ledger.db"
    raw_retention: Duration = Duration(35 * 86400)
    finalize_after: Duration = Duration(300)
    close_after: Duration = Duration(10 * 86400)
    # the sites' usage minutes (staff-activity data): the maximum the DPO's register states
    usage_retention: Duration = Duration(USAGE_RETENTION)

    def __post_init__(self) -> None:
        if not (self.url.startswith("sqlite:///") or self.url.startswith("postgresql://")):
            raise ValueError(f"url {self.url!r}: write sqlite:///path/ledger.db")
        if self.url.startswith("postgresql://"):
            raise ValueError("url: the PostgreSQL ledger is not in this version; use sqlite:///")
        positive(self.raw_retention, "raw_retention")
        positive(self.usage_retention, "usage_retention")

    @property
    def sqlite_path(self) -> Path:
        """`sqlite:///var/lib/x.db` and `sqlite:////var/lib/x.db` both mean /var/lib/x.db."""
        return Path("/" + self.url.removeprefix("sqlite://").lstrip("/"))


class AgentsConfig(Strict):
    stale_after: Duration = Duration(300)
    forget_after: Duration = Duration(86400)
    max_agents: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 20000


class SpeedtestConfig(Strict):
    token_file: str | None = None
    max_bytes: Size = Size(100_000_000)


# Workstations needed per declared user: 1/3 (24-hour services), 1/2 (day services), 1 (admin).
# A fraction is exact: 0.33 × 100 users needed 33 workstations where 1 per 3 is 34.
PerUser = float | str
_FRACTION = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def per_user(value: float | str | None, what: str) -> float | None:
    """A number or a fraction `a/b` in (0, 10], as a float."""
    if value is None:
        return None
    if isinstance(value, str):
        found = _FRACTION.fullmatch(value)
        if found is None or int(found[2]) == 0:
            raise ValueError(f"{what} {value!r}: write a number (0.5) or a fraction (1/3)")
        value = int(found[1]) / int(found[2])
    if not 0 < value <= 10:
        raise ValueError(f"{what} {value:g}: needs a value above 0 and at most 10")
    return float(value)


class SiteConfig(Strict):
    name: str | None = None
    pilot: bool = False
    go_live: dt.date | None = None
    # staff using the DUI there; 0 made the per-user checks pass on nothing
    users: Annotated[int, msgspec.Meta(ge=1)] | None = None
    # overrides prerequisites.site.min_workstations_per_user for this site
    min_workstations_per_user: PerUser | None = None

    def __post_init__(self) -> None:
        self.min_workstations_per_user = per_user(
            self.min_workstations_per_user, "min_workstations_per_user"
        )


class WorkstationPrerequisites(Strict):
    max_age: Duration | None = None
    min_ram: Size | None = None
    os_maintained: bool = False
    # Windows 10 past 2025-10-14 counts as maintained only under the ESU the OG bought.
    windows10_esu: Literal["none", "consumer", "commercial"] = "none"
    browsers: dict[str, int] = msgspec.field(default_factory=dict)


class SitePrerequisites(Strict):
    min_download_per_user: Size | None = None
    max_dui_rtt: Duration | None = None
    max_loss: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    max_gateway_rtt: Duration | None = None
    max_dui_p95: Duration | None = None
    min_workstations_per_user: PerUser | None = None
    min_wifi_signal: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None  # percent

    def __post_init__(self) -> None:
        self.min_workstations_per_user = per_user(
            self.min_workstations_per_user, "min_workstations_per_user"
        )


class Prerequisites(Strict):
    workstation: WorkstationPrerequisites = msgspec.field(default_factory=WorkstationPrerequisites)
    site: SitePrerequisites = msgspec.field(default_factory=SitePrerequisites)


class Availability(Strict):
    objective: Annotated[float, msgspec.Meta(gt=0, le=1)]
    period: Literal["month"] = "month"
    slow_threshold: Duration = Duration(10)
    quorum: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    min_sites: Annotated[int, msgspec.Meta(ge=1)] = 1
    unknown: Literal["excluded", "up", "down"] = "excluded"
    incident_merge: Duration = Duration(300)
    # below this share of service minutes with evidence, a report gives no verdict
    min_coverage: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.9


class ServiceHours(Strict):
    timezone: str = "Europe/Paris"
    weekly: str | dict[str, str] = "always"
    holidays: Literal["none", "fr", "fr-alsace-moselle"] = "none"

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not a known IANA zone") from None
        if isinstance(self.weekly, str):
            if self.weekly != "always":
                raise ValueError("weekly: write `always` or a mapping like {mon-fri: 07:00-20:00}")
            return
        for days, hours in self.weekly.items():
            if not re.fullmatch(
                r"(mon|tue|wed|thu|fri|sat|sun)(-(mon|tue|wed|thu|fri|sat|sun))?", days
            ):
                raise ValueError(f"weekly: {days!r} is not a day or a range like mon-fri")
            for span in hours.split(","):
                if not re.fullmatch(
                    r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d", span.strip()
                ):
                    raise ValueError(f"weekly.{days}: {hours!r}: write HH:MM-HH:MM")


class MaintenanceWindow(Strict):
    start: dt.datetime
    end: dt.datetime
    announced_at: dt.datetime
    reason: str | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end", "announced_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} needs a UTC offset, e.g. 2026-11-28T20:00:00+01:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")


class Maintenance(Strict):
    notice: Duration = Duration(5 * 86400)
    windows: list[MaintenanceWindow] = msgspec.field(default_factory=list)


class Backups(Strict):
    every: Duration | None = None
    retention: Duration | None = None
    restore_test_every: Duration | None = None


class PerStep(Strict):
    below: Annotated[float, msgspec.Meta(gt=0, le=1)]
    step: Annotated[float, msgspec.Meta(gt=0)]
    percent_of_fee: Annotated[float, msgspec.Meta(ge=0)]
    rounding: Literal["started", "completed"] = "started"


class Penalties(Strict):
    monthly_fee: Annotated[float, msgspec.Meta(ge=0)]
    currency: str = "EUR"
    per_step: PerStep | None = None
    per_rto_breach_percent: Annotated[float, msgspec.Meta(ge=0)] = 0
    per_rpo_breach_percent: Annotated[float, msgspec.Meta(ge=0)] = 0
    cap_percent: Annotated[float, msgspec.Meta(ge=0)] | None = None


class Contract(Strict):
    id: Id
    targets: Annotated[list[Id], msgspec.Meta(min_length=1)]
    availability: Availability
    vendor: str | None = None
    service_hours: ServiceHours = msgspec.field(default_factory=ServiceHours)
    maintenance: Maintenance = msgspec.field(default_factory=Maintenance)
    rto: Duration | None = None
    rto_clock: Literal["wall", "service_hours"] = "wall"
    rpo: Duration | None = None
    backups: Backups | None = None
    penalties: Penalties | None = None
    evidence_token_file: str | None = None


class BrokerConfig(Strict):
    """The Mosquitto files `dui-collector agents` keeps (docs/broker.md); the service
    itself never reads them, so they are not checked when it starts."""

    files_read_at_start: ClassVar[bool] = False
    password_file: str
    acl_file: str
    public_url: str
    ca_file: str | None = None
    collector_username: str = "dui-collector"
    reload: Annotated[list[str], msgspec.Meta(min_length=1)] | None = None

    def __post_init__(self) -> None:
        try:
            endpoint = check_url(self.public_url, allow_insecure=True)
        except ValueError as exc:
            raise ValueError(f"public_url: {exc}") from None
        if not endpoint.tls and not is_loopback(endpoint.host):
            raise ValueError(
                f"public_url {self.public_url!r}: agents would send everything unencrypted; "
                "write mqtts://HOST:8883"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.collector_username):
            raise ValueError(
                f"collector_username {self.collector_username!r}: letters, digits, '.', '_' "
                "or '-' only"
            )
        if AGENT_USER.fullmatch(self.collector_username):
            raise ValueError(
                f"collector_username {self.collector_username!r} has the form of an agent's "
                "account (org.site.agent): choose another"
            )


class LogConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"


class CollectorConfig(Strict):
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    http: HttpConfig = msgspec.field(default_factory=HttpConfig)
    ledger: LedgerConfig = msgspec.field(default_factory=LedgerConfig)
    agents: AgentsConfig = msgspec.field(default_factory=AgentsConfig)
    speedtest: SpeedtestConfig = msgspec.field(default_factory=SpeedtestConfig)
    sites: dict[Id, SiteConfig] = msgspec.field(default_factory=dict)
    prerequisites: Prerequisites | None = None
    contracts: list[Contract] = msgspec.field(default_factory=list)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    broker: BrokerConfig | None = None

    def __post_init__(self) -> None:
        ids = [c.id for c in self.contracts]
        for contract_id in ids:
            if ids.count(contract_id) > 1:
                raise ValueError(f"contract id {contract_id!r} is used twice")


def parse(data: Any, base: Path | None = None, *, files: bool = True) -> CollectorConfig:
    """`files=False`: leave the secret and certificate files unopened (their paths as written)."""
    return parse_as(data if data is not None else {}, CollectorConfig, base, check_files_=files)


def load(path: str | os.PathLike[str], *, files: bool = True) -> CollectorConfig:
    path = Path(path)
    data = read_yaml(path)
    try:
        return parse(data, base=path.parent, files=files)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
