"""Linux specifics: default route, link type and Wi-Fi signal, OS, hardware, browsers.

Reads /proc and /sys (no privileges needed) and asks browsers for `--version`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

ROUTE_FILE = Path("/proc/net/route")
WIRELESS_FILE = Path("/proc/net/wireless")
SYS_NET = Path("/sys/class/net")
DMI = Path("/sys/class/dmi/id")
OS_RELEASE = Path("/etc/os-release")
CPUINFO = Path("/proc/cpuinfo")
MEMINFO = Path("/proc/meminfo")

# `--version` of every browser together: the inventory holds the probe process's timed
# turn, so a browser that hangs must not keep the timed probes waiting for minutes.
BROWSERS_BUDGET = 8.0
BROWSER_TIMEOUT = 5.0
# Browser key → candidate executables, first found wins.
BROWSERS = {
    "edge": ("microsoft-edge", "microsoft-edge-stable"),
    "chrome": ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser"),
    "firefox": ("firefox", "firefox-esr"),
}


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() or None
    except OSError:
        return None


def parse_default_route(text: str) -> tuple[str, str] | None:
    """(interface, gateway) of the default IPv4 route with the lowest metric."""
    best: tuple[int, str, str] | None = None
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        iface, destination, gateway = cols[0], cols[1], cols[2]
        flags, metric = int(cols[3], 16), int(cols[6])
        route_up, route_gateway = 0x1, 0x2
        if destination != "00000000" or not flags & route_up or not flags & route_gateway:
            continue
        address = socket.inet_ntoa(struct.pack("<I", int(gateway, 16)))
        if best is None or metric < best[0]:
            best = (metric, iface, address)
    return (best[1], best[2]) if best else None


def parse_route_table(text: str) -> str | None:
    route = parse_default_route(text)
    return route[1] if route else None


def default_gateway() -> str | None:
    return parse_route_table(_read(ROUTE_FILE) or "")


def default_interface() -> str | None:
    route = parse_default_route(_read(ROUTE_FILE) or "")
    return route[0] if route else None


def link_type(iface: str | None, sys_net: Path = SYS_NET) -> str:
    if not iface:
        return "unknown"
    base = sys_net / iface
    if (base / "wireless").exists() or (base / "phy80211").exists():
        return "wifi"
    if (base / "device").exists():
        return "wired"
    return "unknown"


def parse_wireless(text: str, iface: str) -> int | None:
    """Signal in percent from /proc/net/wireless link quality (out of 70)."""
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() == iface:
            cols = rest.split()
            if len(cols) >= 2:
                quality = float(cols[1].rstrip("."))
                return max(0, min(100, round(quality / 70 * 100)))
    return None


def wifi_signal(iface: str | None) -> int | None:
    return parse_wireless(_read(WIRELESS_FILE) or "", iface) if iface else None


def parse_os_release(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def os_info() -> dict[str, str | None]:
    release = parse_os_release(_read(OS_RELEASE) or "")
    return {
        "name": release.get("NAME") or platform.system(),
        "version": release.get("VERSION_ID"),
        "build": platform.release(),
        "edition": release.get("VARIANT"),
    }


def iso_firmware_date(text: str | None) -> str | None:
    """`06/12/2017` (DMI's MM/DD/YYYY) → `2017-06-12`."""
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", (text or "").strip())
    return f"{match[3]}-{match[1]}-{match[2]}" if match else None


def hardware_info() -> dict[str, str | None]:
    return {
        "vendor": _read(DMI / "sys_vendor"),
        "model": _read(DMI / "product_name"),
        "firmware_date": iso_firmware_date(_read(DMI / "bios_date")),
    }


def cpu_model() -> str | None:
    for line in (_read(CPUINFO) or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or None


def parse_physical_cores(text: str) -> int | None:
    """Distinct (physical id, core id) pairs of /proc/cpuinfo: cores, not hyperthreads."""
    cores: set[tuple[str, str]] = set()
    physical = core = None
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            core = value.strip()
        elif not key:  # end of one processor's block
            if physical is not None and core is not None:
                cores.add((physical, core))
            physical = core = None
    return len(cores) or None


def physical_cores() -> int | None:
    return parse_physical_cores(_read(CPUINFO) or "") or os.cpu_count()


def parse_meminfo_total(text: str) -> int | None:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "MemTotal" and value.split():
            return int(value.split()[0]) * 1024  # kB
    return None


def ram_bytes() -> int | None:
    return parse_meminfo_total(_read(MEMINFO) or "")


def version_of(output: str) -> str | None:
    match = re.search(r"\d+(?:\.\d+)+", output)
    return match.group(0) if match else None


def browsers() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    end = time.monotonic() + BROWSERS_BUDGET
    for key, names in BROWSERS.items():
        found[key] = None
        for name in names:
            path = shutil.which(name)
            left = end - time.monotonic()
            if path is None or left <= 0:
                continue
            try:
                out = subprocess.run(
                    [path, "--version"],
                    capture_output=True,
                    text=True,
                    timeout=min(BROWSER_TIMEOUT, left),
                ).stdout
            except (OSError, subprocess.SubprocessError):
                continue
            found[key] = version_of(out)
            if found[key]:
                break
    return found


def system_drive() -> str:
    return "/"
