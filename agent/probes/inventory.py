"""inventory probe: what the collector judges against `prerequisites:` — OS, hardware
and firmware date, CPU, RAM, free disk, browsers, link.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from agent import platform
from agent.probes._common import result
from agent.probes.context import link_fields


def measure(params: dict[str, Any]) -> dict[str, Any]:
    ts = time.time()
    start = time.perf_counter_ns()
    try:
        disk_free = shutil.disk_usage(platform.system_drive()).free
    except OSError:
        disk_free = None
    return result(
        ts,
        start,
        True,
        None,
        os=platform.os_info(),
        hardware=platform.hardware_info(),
        cpu={
            "model": platform.cpu_model(),
            "cores": platform.physical_cores(),
        },
        ram_bytes=platform.ram_bytes(),
        disk_free_bytes=disk_free,
        browsers=platform.browsers(),
        **link_fields(),
    )
