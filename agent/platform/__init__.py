"""Operating-system specifics, selected once: the same functions on Linux and Windows.

default_gateway, default_interface, link_type, wifi_signal, os_info, hardware_info,
cpu_model, physical_cores, ram_bytes, browsers, system_drive.
"""

from __future__ import annotations

import sys

if sys.platform == "win32":
    from agent.platform import windows as current
else:
    from agent.platform import linux as current

default_gateway = current.default_gateway
default_interface = current.default_interface
link_type = current.link_type
wifi_signal = current.wifi_signal
os_info = current.os_info
hardware_info = current.hardware_info
cpu_model = current.cpu_model
browsers = current.browsers
system_drive = current.system_drive
physical_cores = current.physical_cores
ram_bytes = current.ram_bytes

__all__ = [
    "browsers",
    "cpu_model",
    "default_gateway",
    "default_interface",
    "hardware_info",
    "link_type",
    "os_info",
    "physical_cores",
    "ram_bytes",
    "system_drive",
    "wifi_signal",
]
