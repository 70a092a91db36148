"""Probes: one module per kind, each with `measure(params) -> dict`.

`measure` is a blocking call that times socket operations in its own thread with
`perf_counter_ns`; it runs in the probe worker (agent.worker), never on the event
loop. It returns the result fields of DESIGN.md §5 except seq, target, role, probe.
Probe modules import only the standard library, to keep the worker process small.
"""

from __future__ import annotations

import importlib
from typing import Any

KINDS = ("http", "latency", "dns", "scenario", "bandwidth", "context", "inventory", "usage")


def measure(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    if kind not in KINDS:
        raise ValueError(f"unknown probe kind {kind!r}")
    module = importlib.import_module(f"agent.probes.{kind}")
    return module.measure(params)
