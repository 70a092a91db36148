"""Wire format v1 (docs/wire.md): topics, the results batch, acks and status.

Schemas are msgspec Structs: strict on the fields we rely on, lenient on unknown
fields so that a newer agent can add some without being rejected.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

import msgspec

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_ID_RE = re.compile(ID_PATTERN)
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN)]
Epoch = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{8,32}$")]
Seq = Annotated[int, msgspec.Meta(ge=1)]
NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]

Role = Literal["dui", "gateway", "internet", "speedtest", "workstation"]
# Short machine-readable reasons of a failed result; a result with any other is rejected.
Error = Literal[
    "timeout",
    "dns",
    "connect",
    "tls",
    "status",
    "body",
    "proxy",
    "icmp",
    "gateway",
    "config",
    "internal",
]
ERRORS: tuple[str, ...] = get_args(Error)

MAX_MESSAGE_BYTES = 1024 * 1024
MAX_BATCH_RESULTS = 500
AGENT_BATCH_BYTES = 256 * 1024
MAX_FUTURE_SECONDS = 300.0
ACK_TIMEOUT_MAX_SECONDS = 600.0

COLLECTOR_STATUS_TOPIC = "dui/v1/_collector/status"
RESULTS_SUBSCRIPTION = "dui/v1/+/+/+/results"


def _topic(org: str, site: str, agent: str, leaf: str) -> str:
    for value in (org, site, agent):
        if not _ID_RE.match(value):
            raise ValueError(f"invalid id {value!r}: must match {ID_PATTERN}")
    return f"dui/v1/{org}/{site}/{agent}/{leaf}"


def ack_topic(org: str, site: str, agent: str) -> str:
    return _topic(org, site, agent, "ack")


def agent_topics(org: str, site: str, agent: str) -> dict[str, str]:
    return {leaf: _topic(org, site, agent, leaf) for leaf in ("results", "status", "ack")}


def parse_agent_topic(topic: str) -> tuple[str, str, str, str] | None:
    """(org, site, agent, leaf) of an agent topic, or None when it is not one."""
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != "dui" or parts[1] != "v1":
        return None
    org, site, agent, leaf = parts[2:]
    if not all(_ID_RE.match(p) for p in (org, site, agent)):
        return None
    return org, site, agent, leaf


class Phases(msgspec.Struct, omit_defaults=True):
    resolve: NonNeg | None = None
    connect: NonNeg | None = None
    tls: NonNeg | None = None
    processing: NonNeg | None = None
    transfer: NonNeg | None = None


class Rtt(msgspec.Struct):
    min: NonNeg
    avg: NonNeg
    max: NonNeg


class Result(msgspec.Struct, omit_defaults=True):
    """One measurement. Fields that do not apply may be omitted or null."""

    seq: Seq
    ts: float
    probe: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    target: Id
    role: Role
    success: bool
    duration_seconds: NonNeg | None = None
    error: Error | None = None
    # http
    status_code: Annotated[int, msgspec.Meta(ge=100, le=999)] | None = None
    reused_connection: bool | None = None
    phases: Phases | None = None
    tls_expiry_ts: float | None = None
    tls_issuer: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    # latency
    method: Literal["tcp", "icmp"] | None = None
    sent: Annotated[int, msgspec.Meta(ge=0)] | None = None
    received: Annotated[int, msgspec.Meta(ge=0)] | None = None
    rtt_seconds: Rtt | None = None
    jitter_seconds: NonNeg | None = None
    loss_ratio: Ratio | None = None
    # bandwidth
    download_bytes_per_second: NonNeg | None = None
    upload_bytes_per_second: NonNeg | None = None
    # inventory and context
    os: dict[str, Any] | None = None
    hardware: dict[str, Any] | None = None
    cpu: dict[str, Any] | None = None
    ram_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    disk_free_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    browsers: dict[str, str | None] | None = None
    link: Literal["wired", "wifi", "unknown"] | None = None
    wifi_signal_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    version: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    clock_offset_seconds: float | None = None
    # usage and scenario
    in_use: bool | None = None
    steps: list[dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        if not (self.ts == self.ts and abs(self.ts) != float("inf")):
            raise ValueError("ts must be a finite number")


class Batch(msgspec.Struct):
    """A results batch as the agent sends it (results already validated)."""

    v: Literal[1]
    org: Id
    site: Id
    agent: Id
    epoch: Epoch
    first_seq: Seq
    results: Annotated[list[Result], msgspec.Meta(max_length=MAX_BATCH_RESULTS)]
    clock_offset_seconds: float | None = None


class BatchEnvelope(msgspec.Struct):
    """A batch with its results left raw, so the collector can reject one bad
    result without losing the good ones beside it."""

    v: Literal[1]
    org: Id
    site: Id
    agent: Id
    epoch: Epoch
    first_seq: Seq
    results: Annotated[list[msgspec.Raw], msgspec.Meta(max_length=MAX_BATCH_RESULTS)]
    clock_offset_seconds: float | None = None


class Ack(msgspec.Struct):
    v: Literal[1]
    epoch: Epoch
    seq: Annotated[int, msgspec.Meta(ge=0)]
    ts: float


class AgentStatus(msgspec.Struct, omit_defaults=True):
    v: Literal[1]
    state: Literal["online", "offline"]
    version: str | None = None
    os: str | None = None
    spool_results: int | None = None
    dropped_results: int | None = None


_envelope_decoder = msgspec.json.Decoder(BatchEnvelope)
_result_decoder = msgspec.json.Decoder(Result)
_ack_decoder = msgspec.json.Decoder(Ack)
_encoder = msgspec.json.Encoder()


def decode_batch_envelope(payload: bytes) -> BatchEnvelope:
    """Raises ValueError naming what is wrong (size, JSON, schema)."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        return _envelope_decoder.decode(payload)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise ValueError(str(exc)) from None


def decode_result(raw: bytes | msgspec.Raw) -> Result:
    try:
        return _result_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


def decode_ack(payload: bytes) -> Ack:
    try:
        return _ack_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValueError(str(exc)) from None


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)
