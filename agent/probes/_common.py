"""Helpers shared by the probe modules: deadlines and result dicts."""

from __future__ import annotations

import time
from typing import Any

NS = 1e-9


class Deadline:
    """A probe's time budget on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter_ns() + int(seconds * 1e9)

    def remaining(self) -> float:
        left = (self.end - time.perf_counter_ns()) * NS
        if left <= 0:
            raise TimeoutError("probe deadline reached")
        return left


def result(ts: float, start_ns: int, success: bool, error: str | None, **fields: Any) -> dict:
    return {
        "ts": ts,
        "success": success,
        "duration_seconds": (time.perf_counter_ns() - start_ns) * NS,
        "error": error,
        **fields,
    }
