"""The wire format's lists: every agent error reason is in ERRORS (and no other is
accepted), and each probe kind of wire.probes has its agent config, module and detail."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import msgspec
import pytest

from agent.check import DETAIL
from agent.config import TARGET_PROBES, WORKSTATION_PROBES, TargetConfig
from wire.probes import COMMON_FIELDS, PROBE_NAMES, PROBES
from wire.schema import ERRORS, Result, decode_result

AGENT = Path(__file__).resolve().parents[1] / "agent"


def _strings(node: ast.AST | None) -> set[str]:
    """String constants of an expression, through `a if c else b` and `x or "y"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _strings(node.body) | _strings(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_strings(v) for v in node.values))
    return set()


def _reasons(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name == "result" and len(node.args) >= 4:  # result(ts, start, ok, error, …)
                found |= _strings(node.args[3])
            elif name in ("ProbeError", "_tcp") and node.args:  # reason, or failure reason
                found |= _strings(node.args[-1])
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "error":
                    found |= _strings(value)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            first, *rest = node.value.elts  # (rtt, error) of one latency sample
            if isinstance(first, ast.Constant) and first.value is None and len(rest) == 1:
                found |= _strings(rest[0])
        elif isinstance(node, ast.FunctionDef) and node.name == "reason_of":
            found |= {
                s for r in ast.walk(node) if isinstance(r, ast.Return) for s in _strings(r.value)
            }
    return found


def agent_reasons() -> set[str]:
    """Every `error` the agent's probes, probe process and worker can produce."""
    paths = [
        *sorted((AGENT / "probes").glob("*.py")),
        AGENT / "worker.py",
        AGENT / "probe_process.py",
    ]
    return set().union(*(_reasons(ast.parse(p.read_text(encoding="utf-8"))) for p in paths))


def _result(error: str | None) -> bytes:
    return json.dumps(
        {
            "seq": 1,
            "ts": 1763900000.0,
            "probe": "http",
            "target": "dui-login",
            "role": "dui",
            "success": error is None,
            "error": error,
        }
    ).encode()


def test_errors_are_what_the_agent_produces() -> None:
    assert agent_reasons() == set(ERRORS)


@pytest.mark.parametrize("reason", ERRORS)
def test_every_agent_reason_is_accepted(reason: str) -> None:
    assert decode_result(_result(reason)).error == reason


@pytest.mark.parametrize("reason", ["boom", "Timeout", "", "timeout: after 10 s"])
def test_an_unknown_reason_is_rejected(reason: str) -> None:
    with pytest.raises(ValueError, match=r"\$\.error"):
        decode_result(_result(reason))


def test_probe_kinds_name_result_fields() -> None:
    result_fields = set(Result.__struct_fields__)
    assert set(COMMON_FIELDS) <= result_fields
    for kind in PROBES.values():
        assert kind.description and set(kind.fields) <= result_fields, kind.name
    assert tuple(PROBES) == PROBE_NAMES and len(PROBE_NAMES) == 8


def test_the_agent_has_each_kind() -> None:
    per_target = {k for k in PROBE_NAMES if PROBES[k].target is None}
    assert set(TARGET_PROBES) == per_target
    assert set(WORKSTATION_PROBES) == set(PROBE_NAMES) - per_target
    fields = {f.name: f.type for f in msgspec.structs.fields(TargetConfig)}
    for kind, params in TARGET_PROBES.items():
        assert fields[kind] == params | None, kind
    assert set(DETAIL) == set(PROBE_NAMES)
    for kind in PROBE_NAMES:
        assert callable(importlib.import_module(f"agent.probes.{kind}").measure)
