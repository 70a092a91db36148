"""Durations and sizes as written in config files: `500ms`, `30s`, `7d`, `8GB`, `1Mbit`.

Shared by the agent and collector configs so both read the same notation.
"""

from __future__ import annotations

import re

_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
MAX_DURATION = 100 * 365 * 86400.0  # 100y: beyond it a value is a typo, and dates overflow
MAX_SIZE = 10**18  # 1 EB
_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$")
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "bit": 1 / 8,
    "kbit": 10**3 / 8,
    "mbit": 10**6 / 8,
    "gbit": 10**9 / 8,
}
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-zA-Z]+)?$")


def parse_duration(value: object) -> float:
    """Seconds from `500ms`, `30s`, `10m`, `1h`, `7d`, `2w`, `5y` (y = 365 d)."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"duration {value!r} needs a unit: write 500ms, 30s, 10m, 1h, 7d or 5y")
    match = _DURATION_RE.match(value.strip())
    if not match:
        raise ValueError(f"invalid duration {value!r}: write 500ms, 30s, 10m, 1h, 7d or 5y")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds > MAX_DURATION:
        raise ValueError(f"duration {value!r} is longer than 100y")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from `50000000`, `50MB` (10⁶), `64MiB` (2²⁰) or a rate like `1Mbit` (bytes/s)."""
    if isinstance(value, bool):
        raise ValueError(f"invalid size {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"invalid size {value!r}: must not be negative")
        if value > MAX_SIZE:
            raise ValueError(f"size {value!r} is larger than 1000000000000000000 (1 EB)")
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid size {value!r}: write 50000000, 50MB, 64MiB or 1Mbit")
    match = _SIZE_RE.match(value.strip())
    unit = (match.group(2) or "b").lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"invalid size {value!r}: write 50000000, 50MB, 64MiB or 1Mbit")
    size = float(match.group(1)) * _SIZE_UNITS[unit]
    if size > MAX_SIZE:
        raise ValueError(f"size {value!r} is larger than 1000000000000000000 (1 EB)")
    return round(size)
