"""context probe: agent version, the default route's link type (wired / Wi-Fi) and Wi-Fi
signal. The scheduler adds the clock offset learnt from the collector's acks.
"""

from __future__ import annotations

import os
import time
from typing import Any

from agent import platform
from agent.probes._common import result


def agent_version() -> str:
    """The probe process is told the version by the agent (agent.worker), so it needs
    no package metadata; in the agent's own process (probe_worker: thread) look it up."""
    given = os.environ.get("DUI_AGENT_VERSION")
    if given:
        return given
    from runtime.version import VERSION

    return VERSION


def link_fields() -> dict[str, Any]:
    iface = platform.default_interface()
    link = platform.link_type(iface)
    return {
        "link": link,
        "wifi_signal_percent": platform.wifi_signal(iface) if link == "wifi" else None,
    }


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    return result(ts, start, True, None, version=agent_version(), **link_fields())
