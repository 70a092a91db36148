"""usage probe (opt-in): is this workstation connected to a DUI host this minute?

Only a yes/no: no content, no user name, no process name. The agent's own probe
connections are not counted. Through an HTTP proxy the DUI host is not visible
(the connection goes to the proxy), so usage reads "not in use" there.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from agent.probes._common import result


def dui_addresses(hosts: list[str]) -> set[str]:
    addresses: set[str] = set()
    for host in hosts:
        try:
            addresses.update(info[4][0] for info in socket.getaddrinfo(host, None))
        except (socket.gaierror, UnicodeError):
            continue
    return addresses


def measure(params: dict[str, Any]) -> dict[str, Any]:
    import psutil

    ts = time.time()
    start = time.perf_counter_ns()
    addresses = dui_addresses(params["hosts"])
    ours = {os.getpid(), os.getppid()}  # the probe process and the agent
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return result(ts, start, False, "internal")
    in_use = any(
        c.status == psutil.CONN_ESTABLISHED
        and c.raddr
        and c.raddr.ip in addresses
        and c.pid not in ours
        for c in connections
    )
    return result(ts, start, True, None, in_use=in_use)
