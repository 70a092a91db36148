"""scenario probe: the DUI-specific check — log in with a synthetic account and open
a page behind the login, timing every step.

Steps share cookies and a keep-alive connection, as a browser would; a step to
another scheme, host, port or proxy opens its own connection. Credentials come
from an env var or a secret file, are sent only over https and only to the one
host the steps use (the config refuses anything else); redirects are not
followed. `extract` captures a value (such as a CSRF token) for later forms. The
failed step's record carries `error` and `expected`, and the result's
`error_detail` names the step.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

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
from agent.probes._common import NS, Deadline, queued_ns, result, timed_turn
from runtime.secrets import SecretError, read_secret


def _secret(params: dict[str, Any], name: str) -> str:
    """username/password from the literal key, `{name}_env` or `{name}_file`."""
    if params.get(name):
        return str(params[name])
    env = params.get(f"{name}_env")
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ProbeError("config", detail=f"environment variable {env} ({name}_env) is not set")
        return value
    path = params.get(f"{name}_file")
    if path:
        try:
            return read_secret(path)
        except SecretError as exc:  # names the file and why, never its content
            raise ProbeError("config", detail=f"{name}_file {exc}") from None
    return ""


def _failed(record: dict[str, Any], reason: str, detail: str, expected: str | None = None) -> str:
    """Mark the step's record failed; the result's `error_detail`, naming the step."""
    record["error"] = reason
    if expected is not None:
        record["expected"] = clip(expected, 256)
    return clip(f"step {record['name']}: {detail}")


class _Response:
    """What http.cookiejar needs of a response."""

    def __init__(self, headers: Any) -> None:
        self._headers = headers

    def info(self) -> Any:
        return self._headers


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    deadline = Deadline(params["timeout"])
    steps_out: list[dict[str, Any]] = []
    jar = http.cookiejar.CookieJar()
    conn: Connection | None = None
    record: dict[str, Any] | None = None
    try:
        values = {"username": _secret(params, "username"), "password": _secret(params, "password")}
        for step in params["steps"]:
            url = step.get("get") or step["post"]
            endpoint = Endpoint.of(url)
            proxy = resolve_proxy(params.get("proxy", "none"), url)
            phases: dict[str, float] = {}
            record = {"name": step["name"], "phases": phases}
            steps_out.append(record)
            step_start = time.perf_counter_ns() - queued_ns()  # the wait is not the step's
            # A request goes down the connection only if it leads where the step says.
            same = conn is not None and (conn.endpoint, conn.proxy) == (endpoint, proxy)
            if conn is not None and not (same and conn.alive()):
                conn.close()
                conn = None
            record["reused_connection"] = conn is not None
            if conn is None:
                with timed_turn(deadline):  # one timed section at a time in the process
                    conn = Connection.open(endpoint, proxy, params, deadline, phases)
            record.update(conn.tls_fields())  # a reused connection's certificate too
            request = urllib.request.Request(url)
            jar.add_cookie_header(request)
            headers = dict(request.header_items())
            body = None
            if step.get("post") is not None:
                form = {k: v.format(**values) for k, v in (step.get("form") or {}).items()}
                body = urlencode(form).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            with timed_turn(deadline):
                response, data = conn.request(
                    "POST" if body is not None else "GET",
                    url,
                    headers,
                    body,
                    deadline,
                    phases,
                    2_000_000,
                    keep_alive=True,
                )
            jar.extract_cookies(_Response(response.msg), request)  # type: ignore[arg-type]
            record.update(
                status_code=response.status,
                duration_seconds=(time.perf_counter_ns() - queued_ns() - step_start) * NS,
            )
            if response.will_close or not response.isclosed():
                conn.close()
                conn = None
            expected = step.get("expect_status") or range(200, 400)
            if response.status not in expected:
                want = expected_text(expected)
                detail = _failed(record, "status", f"HTTP {response.status}, expected {want}", want)
                return result(ts, start, False, "status", steps=steps_out, error_detail=detail)
            text = data.decode("utf-8", "replace")
            pattern = step.get("expect_regex")
            if pattern and not re.search(pattern, text):
                detail = _failed(record, "body", f"{pattern!r} not found in the body", pattern)
                return result(ts, start, False, "body", steps=steps_out, error_detail=detail)
            for name, pattern in (step.get("extract") or {}).items():
                found = re.search(pattern, text)
                if found is None:
                    why = f"extract {name}: {pattern!r} not found in the body"
                    detail = _failed(record, "body", why, pattern)
                    return result(ts, start, False, "body", steps=steps_out, error_detail=detail)
                values[name] = found.group(1) if found.groups() else found.group(0)
            record = None
        return result(ts, start, True, None, steps=steps_out)
    except (ProbeError, OSError) as exc:
        reason = reason_of(exc)
        detail = detail_of(exc)
        if record is not None:  # else it failed before the first step, on the secrets
            detail = _failed(record, reason, detail)
        return result(ts, start, False, reason, steps=steps_out, error_detail=detail)
    finally:
        if conn is not None:
            conn.close()
