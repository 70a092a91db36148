"""The hash chain's arithmetic: evidence, maintenance windows and closed months each carry
the hash of the previous record, so that a later edit shows (storage is the backend's).

hash = sha256(previous hash, kind, contract, key, canonical record, receive time).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

GENESIS = "sha256:" + "0" * 64


class Conflict(Exception):
    """The same key was posted before with different content."""


def link_hash(
    prev: str, kind: str, contract: str, key: str, record: str, received_at: float
) -> str:
    text = "\n".join((prev, kind, contract, key, record, repr(received_at)))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """One chained record, as stored."""

    kind: str
    contract: str
    key: str
    record: str
    received_at: float
    hash: str
