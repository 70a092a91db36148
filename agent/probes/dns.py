"""dns probe: how long the system resolver takes to resolve the DUI host.

Uses getaddrinfo, like the browser does, so caches on the path count as they do for users.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from agent.probes._common import Deadline, getaddrinfo_within, result, timed_turn, unresolved


def measure(params: dict[str, Any]) -> dict[str, Any]:
    host: str = params["host"]
    timeout: float = params["timeout"]
    ts = time.time()
    start = time.perf_counter_ns()
    # getaddrinfo_within bounds the hold of the timed turn by the timeout.
    deadline = Deadline(timeout)
    with timed_turn(deadline):
        try:
            _, seconds = getaddrinfo_within(host, None, deadline.remaining())
        except TimeoutError as exc:
            return result(ts, start, False, "timeout", error_detail=str(exc))
        except (socket.gaierror, UnicodeError) as exc:
            return result(ts, start, False, "dns", error_detail=unresolved(host, exc))
    return {**result(ts, start, True, None), "duration_seconds": seconds}
