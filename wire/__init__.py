"""What the agent and the collector agree on: topics, message schemas, probe kinds, limits.

Both sides import this package; changing a name here changes the interface.
"""

from wire.probes import COMMON_FIELDS, PROBE_NAMES, PROBES, ProbeKind
from wire.schema import (
    ACK_TIMEOUT_MAX_SECONDS,
    AGENT_BATCH_BYTES,
    COLLECTOR_STATUS_TOPIC,
    ERRORS,
    ID_PATTERN,
    MAX_BATCH_RESULTS,
    MAX_FUTURE_SECONDS,
    MAX_MESSAGE_BYTES,
    RESULTS_SUBSCRIPTION,
    Ack,
    AgentStatus,
    Batch,
    BatchEnvelope,
    Result,
    ack_topic,
    agent_topics,
    decode_ack,
    decode_batch_envelope,
    decode_result,
    encode,
    parse_agent_topic,
)

__all__ = [
    "ACK_TIMEOUT_MAX_SECONDS",
    "AGENT_BATCH_BYTES",
    "COLLECTOR_STATUS_TOPIC",
    "COMMON_FIELDS",
    "ERRORS",
    "ID_PATTERN",
    "MAX_BATCH_RESULTS",
    "MAX_FUTURE_SECONDS",
    "MAX_MESSAGE_BYTES",
    "PROBES",
    "PROBE_NAMES",
    "RESULTS_SUBSCRIPTION",
    "Ack",
    "AgentStatus",
    "Batch",
    "BatchEnvelope",
    "ProbeKind",
    "Result",
    "ack_topic",
    "agent_topics",
    "decode_ack",
    "decode_batch_envelope",
    "decode_result",
    "encode",
    "parse_agent_topic",
]
