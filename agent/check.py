"""`dui-agent check`: every probe once, as a table or as `{"results": [...]}`.

Needs no broker and writes no spool; seq is numbered from 1 for this run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agent.config import AgentConfig
from agent.scheduler import build_jobs, run_once
from agent.worker import make_runner


async def check(config: AgentConfig) -> tuple[list[dict[str, Any]], list[str]]:
    jobs, skipped = build_jobs(config)
    async with make_runner(config.probe_worker) as runner:
        answers = await asyncio.gather(*(run_once(job, runner) for job in jobs))
    return [{"seq": i, **r} for i, r in enumerate(answers, start=1)], skipped


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _detail(r: dict[str, Any]) -> str:
    if r["probe"] == "http":
        parts = [f"HTTP {r['status_code']}" if r.get("status_code") else ""]
        phases = r.get("phases") or {}
        parts += [f"{k} {_ms(v)}" for k, v in phases.items() if v is not None]
        if r.get("reused_connection"):
            parts.append("(reused)")
        if r.get("tls_issuer"):
            parts.append(f"issuer {r['tls_issuer']}")
        return ", ".join(p for p in parts if p)
    if r["probe"] == "latency":
        rtt = r.get("rtt_seconds") or {}
        text = f"{r.get('method')} {r.get('received', 0)}/{r.get('sent', 0)}"
        if rtt:
            text += (
                f", rtt {_ms(rtt['min'])} / {_ms(rtt['avg'])} / {_ms(rtt['max'])}"
                f", jitter {_ms(r.get('jitter_seconds'))}"
            )
        return text + f", loss {r.get('loss_ratio', 0):.0%}"
    return ""


def table(results: list[dict[str, Any]], skipped: list[str]) -> str:
    rows = [("TARGET", "PROBE", "ROLE", "RESULT", "TIME", "DETAIL")]
    for r in results:
        outcome = "ok" if r["success"] else f"FAIL {r.get('error') or ''}".strip()
        rows.append(
            (
                r["target"],
                r["probe"],
                r["role"],
                outcome,
                _ms(r.get("duration_seconds")),
                _detail(r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5]
        for row in rows
    ]
    failed = sum(not r["success"] for r in results)
    lines.append("")
    lines.append(f"{len(results)} probes, {len(results) - failed} ok, {failed} failed")
    if skipped:
        lines.append(f"not available in this version: {', '.join(skipped)}")
    return "\n".join(line.rstrip() for line in lines)
