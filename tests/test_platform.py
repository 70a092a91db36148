"""OS specifics on recorded samples: Linux /proc and /sys files, Windows registry and netsh."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from agent.platform import linux, windows

DATA = Path(__file__).parent / "data" / "windows"


def registry(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def test_windows_10_pro_dell() -> None:
    reg = registry("optiplex-win10-pro.json")
    assert windows.os_from_registry(reg) == {
        "name": "Windows",
        "product": "Windows 10",
        "version": "10.0.19045",
        "build": "19045",
        "display_version": "22H2",
        "edition": "Pro",
    }
    assert windows.hardware_from_registry(reg) == {
        "vendor": "Dell Inc.",
        "model": "OptiPlex 7050",
        "firmware_date": "2017-06-12",
    }
    assert windows.cpu_from_registry(reg) == "Intel(R) Core(TM) i5-7500 CPU @ 3.40GHz"
    assert windows.browsers_from_registry(reg) == {
        "edge": "131.0.2903.70",
        "chrome": None,
        "firefox": "115.18.0",
    }


def test_windows_11_reports_itself_as_10_in_the_registry() -> None:
    reg = registry("elitebook-win11-enterprise.json")
    os_ = windows.os_from_registry(reg)
    assert (os_["product"], os_["version"], os_["edition"]) == (
        "Windows 11",
        "10.0.22631",
        "Enterprise",
    )
    assert windows.hardware_from_registry(reg)["firmware_date"] == "2023-09-18"
    assert windows.cpu_from_registry(reg) == "11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz"
    assert windows.browsers_from_registry(reg) == {
        "edge": "130.0.2849.80",
        "chrome": "131.0.6778.86",
        "firefox": None,
    }


def test_windows_empty_registry() -> None:
    assert windows.os_from_registry({})["version"] is None
    assert windows.browsers_from_registry({}) == {"edge": None, "chrome": None, "firefox": None}


def test_netsh_wlan_french_connected_and_english_disconnected() -> None:
    fr = (DATA / "netsh-wlan-fr.txt").read_text()
    assert windows.parse_netsh_wlan(fr) == {"Wi-Fi": 62}
    en = (DATA / "netsh-wlan-en-disconnected.txt").read_text()
    assert windows.parse_netsh_wlan(en) == {"Wi-Fi 2": None}


ROUTE_PRINT = """IPv4 Route Table
===========================================================================
Active Routes:
Network Destination        Netmask          Gateway       Interface  Metric
          0.0.0.0          0.0.0.0      192.168.1.1     192.168.1.23     55
          0.0.0.0          0.0.0.0      10.8.0.1         10.8.0.6       25
"""


def test_windows_default_route_interface() -> None:
    assert windows.parse_route_print(ROUTE_PRINT) == "10.8.0.1"
    assert windows.parse_route_interface(ROUTE_PRINT) == "10.8.0.6"


def test_linux_default_route_interface() -> None:
    table = (
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "wlp2s0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
        "enp0s31f6\t00000000\tFE01A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    )
    assert linux.parse_default_route(table) == ("enp0s31f6", "192.168.1.254")


@pytest.mark.parametrize(
    ("entries", "expected"),
    [(["wireless"], "wifi"), (["phy80211"], "wifi"), (["device"], "wired"), ([], "unknown")],
)
def test_linux_link_type_from_sysfs(tmp_path: Path, entries: list[str], expected: str) -> None:
    iface = tmp_path / "if0"
    iface.mkdir()
    for entry in entries:
        (iface / entry).mkdir()
    assert linux.link_type("if0", sys_net=tmp_path) == expected
    assert linux.link_type(None, sys_net=tmp_path) == "unknown"


def test_linux_wifi_signal_from_proc_net_wireless() -> None:
    text = (
        "Inter-| sta-|   Quality        |   Discarded packets               | Missed | WE\n"
        " face | tus | link level noise |  nwid  crypt   frag  retry   misc | beacon | 22\n"
        "wlp2s0: 0000   44.  -66.  -256        0      0      0      0     12        0\n"
    )
    assert linux.parse_wireless(text, "wlp2s0") == 63
    assert linux.parse_wireless(text, "eth0") is None


def test_linux_os_release_and_firmware_date() -> None:
    release = linux.parse_os_release('NAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\n')
    assert (release["NAME"], release["VERSION_ID"]) == ("Ubuntu", "24.04")
    assert linux.iso_firmware_date("06/12/2017") == "2017-06-12"
    assert linux.iso_firmware_date("garbage") is None
    assert linux.version_of("Mozilla Firefox 128.5.1esr") == "128.5.1"
    assert linux.version_of("Chromium 131.0.6778.85 built on Debian") == "131.0.6778.85"


@pytest.mark.skipif(sys.platform != "linux", reason="Linux browser lookup")
def test_hanging_browsers_cost_the_inventory_at_most_its_budget(tmp_path, monkeypatch) -> None:
    """Every browser's `--version` hangs: the lookup gives up within its budget, so the
    inventory (which holds the timed turn) does not stall the timed probes for minutes."""
    for name in ("firefox", "google-chrome", "chromium", "microsoft-edge"):
        fake = tmp_path / name
        fake.write_text("#!/bin/sh\nexec /bin/sleep 30\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    t0 = time.monotonic()
    found = linux.browsers()
    assert time.monotonic() - t0 < linux.BROWSERS_BUDGET + 2
    assert set(found.values()) == {None}
