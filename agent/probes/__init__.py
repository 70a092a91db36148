"""Probes: one module per kind of wire.probes.PROBES, each with `measure(params) -> dict`.

`measure` is a blocking call that times socket operations in its own thread with
`perf_counter_ns`; it runs in the probe worker (agent.worker), never on the event
loop. It returns the wire format's result fields (docs/wire.md) but seq, target, role, probe.
Probe modules import only the standard library (and runtime.secrets, which does too),
to keep the worker process small: hence no wire import here, the module name is the kind.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from agent.probes._common import begin_probe, timed_turn

_loaded: set[str] = set()  # kinds whose module is fully imported
# The workstation-wide kinds time nothing but spend their run in Python (files,
# subprocesses, parsing): they hold the timed turn too (wire.probes.PROBES, target).
WORKSTATION = frozenset({"context", "inventory", "usage"})


def measure(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    name = f"agent.probes.{kind}"
    if not kind.isidentifier() or kind.startswith("_"):
        raise ValueError(f"unknown probe kind {kind!r}")
    if kind not in _loaded:
        # An import holds the GIL through long C calls (unmarshal, loading libssl):
        # never beside another probe's timed section.
        with timed_turn():
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                raise ValueError(f"unknown probe kind {kind!r}") from None
        _loaded.add(kind)
    if kind in WORKSTATION:
        with timed_turn():  # untimed, but busy in Python: never beside a timed section
            begin_probe()
            return sys.modules[name].measure(params)
    # After the waits above: the probe's clock starts inside measure.
    begin_probe()
    return sys.modules[name].measure(params)
