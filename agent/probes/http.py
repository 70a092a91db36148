"""http probe: a DUI page timed in phases like blackbox_exporter.

resolve (getaddrinfo), connect (TCP handshake), tls (handshake), processing
(request sent → first byte of the response), transfer (first byte → end of the
capped body); status and regex checks, TLS expiry and issuer, keep-alive reuse (a
reused connection's result omits the phases it skipped and keeps its certificate's
facts). A failure carries `error_detail`, the reason in words.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from agent.probes._client import (
    Connection,
    Endpoint,
    ProbeError,
    clip,
    detail_of,
    expected_text,
    reason_of,
    resolve_proxy,
)
from agent.probes._common import Deadline, result, timed_turn

# Keep-alive connections for `connection: reuse`, by target; the worker owns them.
_pool: dict[str, Connection] = {}
_pool_lock = threading.Lock()


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    deadline = Deadline(params["timeout"])
    url = params["url"]
    endpoint = Endpoint.of(url)
    reuse = params.get("connection", "new") == "reuse"
    key = f"{params.get('key', '')}|{endpoint}"
    phases: dict[str, float] = {}
    fields: dict[str, Any] = {"reused_connection": False, "phases": phases}
    conn: Connection | None = None
    try:
        proxy = resolve_proxy(params.get("proxy", "none"), url)
        with _pool_lock:
            conn = _pool.pop(key, None) if reuse else None
        if conn is not None and not conn.alive():
            conn.close()
            conn = None
        if conn is not None:
            # No resolve, connect or tls happened: those phases are absent, not 0.
            fields["reused_connection"] = True
        else:
            with timed_turn(deadline):  # one timed section at a time in the process
                conn = Connection.open(endpoint, proxy, params, deadline, phases)
        fields.update(conn.tls_fields())  # the certificate of the reused connection too
        with timed_turn(deadline):
            response, body = conn.request(
                params.get("method", "GET"),
                url,
                params.get("headers", {}),
                None,
                deadline,
                phases,
                params.get("max_body", 2_000_000),
                keep_alive=reuse,
            )
        fields["status_code"] = response.status
        expected = params.get("expect_status") or range(200, 300)
        if response.status not in expected:
            detail = clip(f"HTTP {response.status}, expected {expected_text(expected)}")
            return result(ts, start, False, "status", error_detail=detail, **fields)
        pattern = params.get("expect_regex")
        if pattern and not re.search(pattern, body.decode("utf-8", "replace")):
            detail = clip(f"expect_regex {pattern!r} not found in the body")
            return result(ts, start, False, "body", error_detail=detail, **fields)
        if reuse and not response.will_close and response.isclosed():
            with _pool_lock:
                _pool[key] = conn
            conn = None
        return result(ts, start, True, None, **fields)
    except (ProbeError, OSError) as exc:
        return result(ts, start, False, reason_of(exc), error_detail=detail_of(exc), **fields)
    finally:
        if conn is not None:
            conn.close()
