"""`dui-agent check`: every probe once, as a table or as `{"results": [...]}`.

Needs no broker and writes no spool; seq is numbered from 1 for this run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agent.config import AgentConfig
from agent.scheduler import Gate, build_jobs, run_once
from agent.worker import make_runner


async def check(config: AgentConfig) -> tuple[list[dict[str, Any]], list[str]]:
    """Every job once (bandwidth windows ignored); returns results and skipped runs."""
    jobs = build_jobs(config, extra=lambda: {"clock_offset_seconds": None})
    gate = Gate()
    async with make_runner(config.probe_worker) as runner:
        answers = await asyncio.gather(*(run_once(job, runner, gate) for job in jobs))
    skipped = [f"{j.target}.{j.kind}" for j, r in zip(jobs, answers, strict=True) if r is None]
    results = [r for r in answers if r is not None]
    return [{"seq": i, **r} for i, r in enumerate(results, start=1)], skipped


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def _mbit(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 8 / 1e6:.1f} Mbit/s"


def _http(r: dict[str, Any]) -> str:
    parts = [f"HTTP {r['status_code']}" if r.get("status_code") else ""]
    phases = r.get("phases") or {}
    parts += [f"{k} {_ms(v)}" for k, v in phases.items() if v is not None]
    if r.get("reused_connection"):
        parts.append("(reused)")
    if r.get("tls_issuer"):
        parts.append(f"issuer {r['tls_issuer']}")
    return ", ".join(p for p in parts if p)


# What a latency run that sent no sample ran into, by its error.
_NOT_SENT = {
    "dns": "host not resolved",
    "gateway": "no default gateway found",
    "icmp": "ICMP not permitted for this user",
}


def _latency(r: dict[str, Any]) -> str:
    if not r.get("sent"):
        why = _NOT_SENT.get(r.get("error") or "", r.get("error") or "not run")
        method = f" ({r['method']})" if r.get("method") else ""
        return f"no samples sent{method}: {why}"
    rtt = r.get("rtt_seconds") or {}
    text = f"{r.get('method')} {r.get('received', 0)}/{r.get('sent', 0)}"
    if rtt:
        text += (
            f", rtt {_ms(rtt['min'])} / {_ms(rtt['avg'])} / {_ms(rtt['max'])}"
            f", jitter {_ms(r.get('jitter_seconds'))}"
        )
    return text + f", loss {r.get('loss_ratio', 0):.0%}"


def _inventory(r: dict[str, Any]) -> str:
    os_ = r.get("os") or {}
    hw = r.get("hardware") or {}
    browsers = ", ".join(f"{k} {v}" for k, v in (r.get("browsers") or {}).items() if v)
    ram = r.get("ram_bytes")
    return "; ".join(
        p
        for p in (
            " ".join(
                str(v) for v in (os_.get("name"), os_.get("version"), os_.get("edition")) if v
            ),
            " ".join(str(v) for v in (hw.get("vendor"), hw.get("model")) if v),
            f"firmware {hw['firmware_date']}" if hw.get("firmware_date") else "",
            f"{ram / 2**30:.1f} GiB RAM" if ram else "",
            browsers or "no browser found",
            r.get("link") or "",
        )
        if p
    )


def _bandwidth(r: dict[str, Any]) -> str:
    return (
        f"down {_mbit(r.get('download_bytes_per_second'))}, "
        f"up {_mbit(r.get('upload_bytes_per_second'))}"
    )


def _scenario(r: dict[str, Any]) -> str:
    return ", ".join(
        f"{s['name']} {s['status_code']} {_ms(s.get('duration_seconds'))}"
        if s.get("status_code")
        else f"{s['name']} {s.get('error') or '-'}"
        for s in r.get("steps") or []
    )


def _context(r: dict[str, Any]) -> str:
    signal = r.get("wifi_signal_percent")
    parts = [
        f"agent {r['version']}" if r.get("version") else "",
        f"link {r['link']}" if r.get("link") else "",
        f"signal {signal}%" if signal is not None else "",
    ]
    return ", ".join(p for p in parts if p)


def _usage(r: dict[str, Any]) -> str:
    return "DUI in use" if r.get("in_use") else "DUI not in use"


# The DETAIL column of each probe kind (wire.probes), from the fields it fills.
DETAIL: dict[str, Callable[[dict[str, Any]], str]] = {
    "http": _http,
    "latency": _latency,
    "dns": lambda r: "",
    "scenario": _scenario,
    "bandwidth": _bandwidth,
    "context": _context,
    "inventory": _inventory,
    "usage": _usage,
}


def _one_line(text: str) -> str:
    """A detail on one line: a server's text may hold line breaks or escapes."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


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
                DETAIL[r["probe"]](r),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for row, r in zip(rows, [None, *results], strict=True):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5]
        )
        if r is not None and not r["success"] and r.get("error_detail"):
            # Why it failed, in words, on its own line: it can be long.
            lines.append(f"    why: {_one_line(r['error_detail'])}")
    failed = sum(not r["success"] for r in results)
    lines.append("")
    lines.append(f"{len(results)} probes, {len(results) - failed} ok, {failed} failed")
    if skipped:
        lines.append(f"skipped (another agent of the site is testing): {', '.join(skipped)}")
    return "\n".join(line.rstrip() for line in lines)
