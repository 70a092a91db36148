"""dns probe: how long the system resolver takes to resolve the DUI host.

Uses getaddrinfo, like the browser does, so caches on the path count as they do for users.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from agent.probes._common import Deadline, result, timed_turn, unresolved


def measure(params: dict[str, Any]) -> dict[str, Any]:
    host: str = params["host"]
    timeout: float = params["timeout"]
    ts = time.time()
    start = time.perf_counter_ns()
    outcome: dict[str, Any] = {}

    def resolve() -> None:
        t0 = time.perf_counter_ns()
        try:
            socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
            outcome["seconds"] = (time.perf_counter_ns() - t0) * 1e-9
        except (socket.gaierror, UnicodeError) as exc:
            outcome["error"] = exc

    # getaddrinfo cannot be interrupted: it runs in a daemon thread we stop waiting for,
    # so the timed turn is held at most for the timeout.
    deadline = Deadline(timeout)
    thread = threading.Thread(target=resolve, name="dns-probe", daemon=True)
    with timed_turn(deadline):
        thread.start()
        thread.join(max(0.0, (deadline.end - time.perf_counter_ns()) * 1e-9))
    if thread.is_alive():
        why = f"the resolver gave no answer for {host} within {timeout:g} s"
        return result(ts, start, False, "timeout", error_detail=why)
    if "error" in outcome:
        return result(ts, start, False, "dns", error_detail=unresolved(host, outcome["error"]))
    return {**result(ts, start, True, None), "duration_seconds": outcome["seconds"]}
