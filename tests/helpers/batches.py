"""Batches as an agent publishes them (wire format v1), for tests that feed the collector
results without running an agent."""

from __future__ import annotations

import json


def batch_json(
    results: list,
    *,
    epoch: str,
    org: str = "og",
    site: str = "site-a",
    agent: str = "poste-1",
    first_seq: int = 1,
    **fields,
) -> bytes:
    """One batch's payload; `fields` adds or overrides header fields (clock_offset_seconds…)."""
    header = {
        "v": 1,
        "org": org,
        "site": site,
        "agent": agent,
        "epoch": epoch,
        "first_seq": first_seq,
        **fields,
    }
    return json.dumps({**header, "results": results}).encode()


def results_topic(org: str, site: str, agent: str) -> str:
    return f"dui/v1/{org}/{site}/{agent}/results"


def decoded_result(probe: str, target: str, role: str, ts: float, **extra):
    """One successful result of 0.25 s as the collector decodes it; `extra` overrides."""
    from wire.schema import decode_result

    body = {
        "seq": 1,
        "ts": ts,
        "probe": probe,
        "target": target,
        "role": role,
        "success": True,
        "duration_seconds": 0.25,
        "error": None,
        **extra,
    }
    return decode_result(json.dumps(body).encode())
