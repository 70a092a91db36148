"""Windows specifics: default route, link type and Wi-Fi signal, OS, hardware, browsers.

Everything is read without admin rights: `route print` and `netsh wlan show
interfaces` (parsed by position and by labels that are the same in French and
English), and registry values. The registry is read into a plain mapping
{key path: {value name: value}} first, so the parsing is tested on recorded
samples (tests/data/windows/*.json) on any OS.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from typing import Any

CURRENT_VERSION = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion"
BIOS = r"HKLM\HARDWARE\DESCRIPTION\System\BIOS"
CPU = r"HKLM\HARDWARE\DESCRIPTION\System\CentralProcessor\0"
EDGE_MACHINE = (
    r"HKLM\SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients"
    r"\{56EB18F8-B008-4CBD-B6D2-8C97FE7E9062}"
)
CHROME_MACHINE = (
    r"HKLM\SOFTWARE\WOW6432Node\Google\Update\Clients"
    r"\{8A69D345-D564-463c-AFF1-A69D9E530F96}"
)
EDGE_USER = r"HKCU\Software\Microsoft\Edge\BLBeacon"
CHROME_USER = r"HKCU\Software\Google\Chrome\BLBeacon"
FIREFOX = r"HKLM\SOFTWARE\Mozilla\Mozilla Firefox"
REGISTRY_VALUES = {
    CURRENT_VERSION: (
        "ProductName",
        "DisplayVersion",
        "CurrentBuild",
        "UBR",
        "EditionID",
        "CurrentMajorVersionNumber",
        "CurrentMinorVersionNumber",
    ),
    BIOS: ("SystemManufacturer", "SystemProductName", "BIOSReleaseDate"),
    CPU: ("ProcessorNameString",),
    EDGE_MACHINE: ("pv",),
    CHROME_MACHINE: ("pv",),
    EDGE_USER: ("version",),
    CHROME_USER: ("version",),
    FIREFOX: ("CurrentVersion",),
}
EDITIONS = {
    "Professional": "Pro",
    "Core": "Home",
    "Enterprise": "Enterprise",
    "Education": "Education",
    "ProfessionalWorkstation": "Pro for Workstations",
    "EnterpriseS": "Enterprise LTSC",
    "ServerStandard": "Server Standard",
}
_NO_WINDOW = getattr(subprocess, "CREATE_NO_WINDOW", 0)


def _run(*args: str) -> str:
    """A system command's output, "" when it fails or takes over 5 s (the inventory holds
    the probe process's timed turn: a hung command must not stall the timed probes)."""
    try:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=5,
            creationflags=_NO_WINDOW,
            errors="replace",
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


# -- routes and links ----------------------------------------------------------------


def _default_routes(text: str) -> list[tuple[int, str, str]]:
    """(metric, gateway, interface address) of each 0.0.0.0/0 route with a gateway."""
    routes = []
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 5 or cols[0] != "0.0.0.0" or cols[1] != "0.0.0.0":
            continue
        try:
            gateway = ipaddress.IPv4Address(cols[2])
            ipaddress.IPv4Address(cols[3])
            metric = int(cols[4])
        except ValueError:
            continue  # "On-link" routes have no gateway
        routes.append((metric, str(gateway), cols[3]))
    return sorted(routes)


def parse_route_print(text: str) -> str | None:
    """Gateway of the 0.0.0.0/0 route with the lowest metric, or None."""
    routes = _default_routes(text)
    return routes[0][1] if routes else None


def parse_route_interface(text: str) -> str | None:
    """Local address of the interface that carries the default route."""
    routes = _default_routes(text)
    return routes[0][2] if routes else None


def default_gateway() -> str | None:
    return parse_route_print(_run("route", "print", "-4", "0.0.0.0"))


def default_interface() -> str | None:
    """The adapter name (as psutil and netsh name it) carrying the default route."""
    address = parse_route_interface(_run("route", "print", "-4", "0.0.0.0"))
    if address is None:
        return None
    import psutil

    for name, addrs in psutil.net_if_addrs().items():
        if any(a.address == address for a in addrs):
            return name
    return None


def parse_netsh_wlan(text: str) -> dict[str, int | None]:
    """Connected Wi-Fi interfaces → signal percent, from `netsh wlan show interfaces`."""
    interfaces: dict[str, int | None] = {}
    name: str | None = None
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if not sep:
            continue
        label, value = label.strip().lower(), value.strip()
        if label in ("name", "nom"):
            name = value
            interfaces[name] = None
        elif label == "signal" and name is not None:
            match = re.match(r"(\d+)\s*%", value)
            interfaces[name] = int(match.group(1)) if match else None
    return interfaces


def link_type(iface: str | None) -> str:
    if not iface:
        return "unknown"
    return (
        "wifi"
        if iface in parse_netsh_wlan(_run("netsh", "wlan", "show", "interfaces"))
        else "wired"
    )


def wifi_signal(iface: str | None) -> int | None:
    return parse_netsh_wlan(_run("netsh", "wlan", "show", "interfaces")).get(iface or "")


# -- registry ------------------------------------------------------------------------


def read_registry() -> dict[str, dict[str, Any]]:
    """The values of REGISTRY_VALUES that exist, as {key path: {name: value}}."""
    import winreg  # type: ignore[import-not-found]

    roots = {"HKLM": winreg.HKEY_LOCAL_MACHINE, "HKCU": winreg.HKEY_CURRENT_USER}
    found: dict[str, dict[str, Any]] = {}
    for path, names in REGISTRY_VALUES.items():
        root, _, sub = path.partition("\\")
        try:
            key = winreg.OpenKey(roots[root], sub)
        except OSError:
            continue
        with key:
            for name in names:
                try:
                    found.setdefault(path, {})[name] = winreg.QueryValueEx(key, name)[0]
                except OSError:
                    continue
    return found


def os_from_registry(reg: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    values = reg.get(CURRENT_VERSION, {})
    build = str(values.get("CurrentBuild") or "") or None
    major = values.get("CurrentMajorVersionNumber", 10)
    minor = values.get("CurrentMinorVersionNumber", 0)
    edition = values.get("EditionID")
    return {
        "name": "Windows",
        # The registry still says "Windows 10" on Windows 11; the build tells them apart.
        "product": ("Windows 11" if build and int(build) >= 22000 else "Windows 10")
        if major == 10
        else values.get("ProductName"),
        "version": f"{major}.{minor}.{build}" if build else None,
        "build": build,
        "display_version": values.get("DisplayVersion"),
        "edition": EDITIONS.get(edition, edition) if edition else None,
    }


def firmware_date(text: str | None) -> str | None:
    match = re.fullmatch(r"(\d{2})/(\d{2})/(\d{4})", (text or "").strip())
    return f"{match[3]}-{match[1]}-{match[2]}" if match else None


def hardware_from_registry(reg: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    bios = reg.get(BIOS, {})
    return {
        "vendor": bios.get("SystemManufacturer"),
        "model": bios.get("SystemProductName"),
        "firmware_date": firmware_date(bios.get("BIOSReleaseDate")),
    }


def cpu_from_registry(reg: dict[str, dict[str, Any]]) -> str | None:
    name = reg.get(CPU, {}).get("ProcessorNameString")
    return " ".join(name.split()) if name else None


def browsers_from_registry(reg: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    def first(*pairs: tuple[str, str]) -> str | None:
        for path, name in pairs:
            value = reg.get(path, {}).get(name)
            match = re.match(r"\d+(?:\.\d+)+", str(value or ""))
            if match:
                return match.group(0)
        return None

    return {
        "edge": first((EDGE_MACHINE, "pv"), (EDGE_USER, "version")),
        "chrome": first((CHROME_MACHINE, "pv"), (CHROME_USER, "version")),
        "firefox": first((FIREFOX, "CurrentVersion")),
    }


def os_info() -> dict[str, str | None]:
    return os_from_registry(read_registry())


def hardware_info() -> dict[str, str | None]:
    return hardware_from_registry(read_registry())


def cpu_model() -> str | None:
    return cpu_from_registry(read_registry())


def browsers() -> dict[str, str | None]:
    return browsers_from_registry(read_registry())


def system_drive() -> str:
    return os.environ.get("SYSTEMDRIVE", "C:") + "\\"


def physical_cores() -> int | None:
    import psutil  # the probe process pays for it on Windows only

    return psutil.cpu_count(logical=False) or os.cpu_count()


def ram_bytes() -> int | None:
    import psutil

    return psutil.virtual_memory().total
