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
# Every field is bounded to what the ledger (SQLite INTEGER, REAL) and the calendar
# (datetime, years 1970-9999) can hold, so no value can fail after validation.
MAX_SEQ = 2**63 - 1
MAX_COUNT = 2**53 - 1  # counts and sizes: exact in a float, as Prometheus reads them
MAX_SECONDS = 253_402_300_799.0  # 9999-12-31T23:59:59Z
MAX_STRING = 256
MAX_ENTRIES = 32  # keys of an inventory dict, steps of a scenario
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
NonNeg = Annotated[float, msgspec.Meta(ge=0, le=MAX_COUNT)]  # also rejects NaN and inf
Ratio = Annotated[float, msgspec.Meta(ge=0, le=1)]
Timestamp = Annotated[float, msgspec.Meta(ge=0, le=MAX_SECONDS)]
MAX_OFFSET_SECONDS = 1e9  # a clock wrong by 30 years at most
Offset = Annotated[float, msgspec.Meta(ge=-MAX_OFFSET_SECONDS, le=MAX_OFFSET_SECONDS)]
Text = Annotated[str, msgspec.Meta(max_length=MAX_STRING)]
Key = Annotated[str, msgspec.Meta(max_length=64)]
# A value of an inventory dict or a scenario step: a scalar, or one level of dict.
Scalar = Text | Annotated[int, msgspec.Meta(ge=-MAX_COUNT, le=MAX_COUNT)] | Offset | bool | None
Flat = Annotated[dict[Key, Scalar], msgspec.Meta(max_length=MAX_ENTRIES)]
Step = Annotated[dict[Key, Scalar | Flat], msgspec.Meta(max_length=MAX_ENTRIES)]

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
MAX_STATUS_BYTES = 64 * 1024
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
    connect_kernel: NonNeg | None = None  # the handshake's RTT from TCP_INFO (Linux)
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
    ts: Timestamp
    probe: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    target: Id
    role: Role
    success: bool
    duration_seconds: NonNeg | None = None
    error: Error | None = None
    error_detail: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    # http
    status_code: Annotated[int, msgspec.Meta(ge=100, le=999)] | None = None
    reused_connection: bool | None = None
    phases: Phases | None = None
    tls_expiry_ts: Timestamp | None = None
    tls_issuer: Text | None = None
    # latency
    method: Literal["tcp", "icmp"] | None = None
    sent: Count | None = None
    received: Count | None = None
    rtt_seconds: Rtt | None = None
    kernel_rtt_seconds: Rtt | None = None  # TCP_INFO's figures of the same samples (Linux)
    jitter_seconds: NonNeg | None = None
    loss_ratio: Ratio | None = None
    # bandwidth
    download_bytes_per_second: NonNeg | None = None
    upload_bytes_per_second: NonNeg | None = None
    # inventory and context
    os: Flat | None = None
    hardware: Flat | None = None
    cpu: Flat | None = None
    ram_bytes: Count | None = None
    disk_free_bytes: Count | None = None
    browsers: Annotated[dict[Key, Text | None], msgspec.Meta(max_length=MAX_ENTRIES)] | None = None
    link: Literal["wired", "wifi", "unknown"] | None = None
    wifi_signal_percent: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    version: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    clock_offset_seconds: Offset | None = None
    # usage and scenario
    in_use: bool | None = None
    steps: Annotated[list[Step], msgspec.Meta(max_length=MAX_ENTRIES)] | None = None


class Batch(msgspec.Struct):
    """A results batch as the agent sends it (results already validated)."""

    v: Literal[1]
    org: Id
    site: Id
    agent: Id
    epoch: Epoch
    first_seq: Seq
    results: Annotated[list[Result], msgspec.Meta(min_length=1, max_length=MAX_BATCH_RESULTS)]
    clock_offset_seconds: Offset | None = None


class BatchEnvelope(msgspec.Struct):
    """A batch with its results left raw, so the collector can reject one bad
    result without losing the good ones beside it."""

    v: Literal[1]
    org: Id
    site: Id
    agent: Id
    epoch: Epoch
    first_seq: Seq
    results: Annotated[list[msgspec.Raw], msgspec.Meta(min_length=1, max_length=MAX_BATCH_RESULTS)]
    clock_offset_seconds: Offset | None = None


class Ack(msgspec.Struct):
    v: Literal[1]
    epoch: Epoch
    seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    ts: Timestamp


class AgentStatus(msgspec.Struct, omit_defaults=True):
    v: Literal[1]
    state: Literal["online", "offline"]
    version: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    os: Text | None = None
    spool_results: Count | None = None
    dropped_results: Count | None = None
    ignored_acks: Count | None = None


_envelope_decoder = msgspec.json.Decoder(BatchEnvelope)
_result_decoder = msgspec.json.Decoder(Result)
_ack_decoder = msgspec.json.Decoder(Ack)
_status_decoder = msgspec.json.Decoder(AgentStatus)
_encoder = msgspec.json.Encoder()


def decode_batch_envelope(payload: bytes) -> BatchEnvelope:
    """Raises ValueError naming what is wrong (size, JSON, schema)."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _decode(_envelope_decoder, payload)


def decode_result(raw: bytes | msgspec.Raw) -> Result:
    return _decode(_result_decoder, raw)


def result_problem(result: dict[str, Any]) -> str | None:
    """Why the collector would reject this result (the agent checks before spooling), or
    None; `seq` is added by the spool, so a placeholder stands in for it."""
    try:
        decode_result(encode({**result, "seq": 1}))
    except (ValueError, TypeError, OverflowError) as exc:
        return str(exc)
    return None


def decode_ack(payload: bytes) -> Ack:
    return _decode(_ack_decoder, payload)


def decode_status(payload: bytes) -> AgentStatus:
    """Raises ValueError naming what is wrong (size, JSON, schema)."""
    if len(payload) > MAX_STATUS_BYTES:
        raise ValueError(f"status of {len(payload)} bytes exceeds {MAX_STATUS_BYTES}")
    return _decode(_status_decoder, payload)


def _decode(decoder: msgspec.json.Decoder, payload: bytes | msgspec.Raw) -> Any:
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise ValueError(str(exc)) from None
    except RecursionError:  # JSON nested deeper than msgspec follows, even in unknown fields
        raise ValueError("JSON nested too deeply") from None


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)
