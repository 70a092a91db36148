"""Operating-system specifics, selected once: default gateway (and, later, Wi-Fi, inventory)."""

from __future__ import annotations

import sys

if sys.platform == "win32":
    from agent.platform.windows import default_gateway
else:
    from agent.platform.linux import default_gateway

__all__ = ["default_gateway"]
