"""Inventory `os` mappings exactly as the agent builds them, for the readiness tests:
from the recorded Windows registry samples and from /etc/os-release text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.platform.linux import parse_os_release
from agent.platform.windows import os_from_registry

WINDOWS = Path(__file__).parent.parent / "data" / "windows"


def windows_recorded(name: str) -> dict[str, Any]:
    """The `os` mapping of a recorded registry sample (tests/data/windows/NAME)."""
    return os_from_registry(json.loads((WINDOWS / name).read_text(encoding="utf-8")))


def linux_os(os_release: str) -> dict[str, Any]:
    """The `os` mapping agent.platform.linux.os_info builds from this os-release text."""
    release = parse_os_release(os_release)
    return {"name": release.get("NAME"), "version": release.get("VERSION_ID"), "build": "6.1.0"}


WIN10_PRO = windows_recorded("optiplex-win10-pro.json")  # build 19045 (22H2), Pro
WIN11_ENT = windows_recorded("elitebook-win11-enterprise.json")  # build 22631 (23H2), Enterprise
