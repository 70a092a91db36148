"""context probe: agent version, the default route's link type (wired / Wi-Fi) and Wi-Fi
signal. The scheduler adds the clock offset learnt from the collector's acks.
"""

from __future__ import annotations

import time
from typing import Any

from agent import __version__, platform
from agent.probes._common import result


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
    return result(ts, start, True, None, version=__version__, **link_fields())
