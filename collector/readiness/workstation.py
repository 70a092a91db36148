"""Per-workstation go-live checks against `prerequisites.workstation`: age, RAM, OS
maintained, browsers; each with its evidence, threshold and verdict (docs/readiness.md).
Pure: the inventory and the day are given.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from collector.config import WorkstationPrerequisites
from collector.readiness.model import Check, Verdict, WorkstationReadiness
from collector.readiness.os_support import decide

__all__ = ["Check", "Inventory", "Verdict", "WorkstationReadiness", "check_workstation"]
YEAR_DAYS = 365  # as the config's `y`
# A firmware date before this, or after the day of the check, is no PC's age: a BIOS
# clock never set, or an agent that lies. The age is then unknown, never a pass.
FIRST_FIRMWARE = dt.date(1990, 1, 1)


def firmware_age_days(firmware: dt.date | None, on: dt.date) -> int | None:
    """Days from the firmware date to `on`, None when absent or implausible."""
    if firmware is None or not FIRST_FIRMWARE <= firmware <= on:
        return None
    return (on - firmware).days


@dataclass(frozen=True)
class Inventory:
    """The facts of one agent's latest inventory result that the checks read."""

    agent: str
    site: str
    os: dict[str, Any] | None = None
    firmware_date: dt.date | None = None
    ram_bytes: int | None = None
    browsers: dict[str, str | None] | None = None
    org: str = ""
    model: str | None = None
    link: str | None = None
    wifi_signal_percent: int | None = None
    ts: float = 0.0

    @classmethod
    def from_body(
        cls, agent: str, site: str, body: bytes | dict[str, Any], org: str = "", ts: float = 0.0
    ) -> Inventory:
        """From an inventory result as the ledger stores it (the agent's JSON)."""
        doc = msgspec.json.decode(body) if isinstance(body, bytes) else body
        hardware = doc.get("hardware") or {}
        try:
            firmware = dt.date.fromisoformat(hardware.get("firmware_date") or "")
        except (TypeError, ValueError):
            firmware = None
        # The wire lets an inventory's os and hardware values be numbers or booleans: the
        # outputs join and label them as text, so they are read as text here (an agent
        # sending {"name": 5} made the report and /metrics fail).
        os_info = doc.get("os")
        if isinstance(os_info, dict):
            os_info = {k: v for k, value in os_info.items() if (v := _text(value)) is not None}
        ram = doc.get("ram_bytes")
        return cls(
            agent=agent,
            site=site,
            os=os_info or None,
            firmware_date=firmware,
            ram_bytes=ram if isinstance(ram, int) and not isinstance(ram, bool) else None,
            browsers=doc.get("browsers"),
            org=org,
            model=_text(hardware.get("model")),
            link=doc.get("link"),
            wifi_signal_percent=doc.get("wifi_signal_percent"),
            ts=ts,
        )


def _text(value: object) -> str | None:
    """An inventory value as text: a string as is, a number written out, else None."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def age_check(inv: Inventory, max_age_seconds: float, on: dt.date) -> Check:
    max_years = round(max_age_seconds / 86400 / YEAR_DAYS, 2)
    if inv.firmware_date is None:
        return Check("max_age", None, max_years, "unknown", "no firmware date in the inventory")
    days = firmware_age_days(inv.firmware_date, on)
    if days is None:
        detail = (
            f"firmware dated {inv.firmware_date}: before {FIRST_FIRMWARE.year} or in the future"
        )
        return Check("max_age", None, max_years, "unknown", detail)
    years = round(days / YEAR_DAYS, 2)
    # The firmware date is the installed BIOS's: an update makes a PC look younger.
    verdict: Verdict = "pass" if days * 86400 <= max_age_seconds else "fail"
    return Check("max_age", years, max_years, verdict, f"firmware dated {inv.firmware_date}")


def ram_check(inv: Inventory, min_ram: int) -> Check:
    if inv.ram_bytes is None:
        return Check("min_ram", None, min_ram, "unknown", "no RAM in the inventory")
    return Check("min_ram", inv.ram_bytes, min_ram, "pass" if inv.ram_bytes >= min_ram else "fail")


def os_check(inv: Inventory, on: dt.date, esu: str) -> Check:
    found = decide(inv.os, on, esu)
    verdict: Verdict = {True: "pass", False: "fail", None: "unknown"}[found.maintained]
    evidence = found.name or (" ".join(str(v) for v in (inv.os or {}).values() if v) or None)
    threshold = found.end_of_support.isoformat() if found.end_of_support else None
    return Check("os_maintained", evidence, threshold, verdict, found.reason)


def major(version: str | None) -> int | None:
    match = re.match(r"\d+", version or "")
    return int(match.group(0)) if match else None


def browsers_check(inv: Inventory, minimums: dict[str, int]) -> Check:
    """pass when one configured browser is installed at or above its minimum major."""
    if inv.browsers is None:
        return Check("browsers", None, minimums, "unknown", "no browsers in the inventory")
    evidence = {name: inv.browsers.get(name) for name in minimums}
    ok = [n for n, least in minimums.items() if (major(inv.browsers.get(n)) or 0) >= least]
    if ok:
        return Check("browsers", evidence, minimums, "pass", f"{', '.join(ok)} at or above minimum")
    unreported = [n for n in minimums if n not in inv.browsers]
    if unreported:
        detail = f"none at minimum; not looked for by the agent: {', '.join(unreported)}"
        return Check("browsers", evidence, minimums, "unknown", detail)
    return Check("browsers", evidence, minimums, "fail", "no listed browser at its minimum")


def check_workstation(
    inv: Inventory, prereq: WorkstationPrerequisites, on: dt.date
) -> WorkstationReadiness:
    """The configured checks only: a prerequisite left out is not checked. The facts
    (OS, age, RAM, link) are filled whatever is configured."""
    checks = []
    if prereq.max_age is not None:
        checks.append(age_check(inv, float(prereq.max_age), on))
    if prereq.min_ram is not None:
        checks.append(ram_check(inv, int(prereq.min_ram)))
    if prereq.os_maintained:
        checks.append(os_check(inv, on, prereq.windows10_esu))
    if prereq.browsers:
        checks.append(browsers_check(inv, prereq.browsers))
    os_found = decide(inv.os, on, prereq.windows10_esu) if inv.os else None
    os_info = inv.os or {}
    days = firmware_age_days(inv.firmware_date, on)
    age = None if days is None else days * 86400.0
    return WorkstationReadiness(
        inv.agent,
        inv.site,
        checks,
        org=inv.org,
        os_name=(os_found.name if os_found else None)
        or os_info.get("product")
        or os_info.get("name"),
        os_version=os_info.get("version"),
        os_maintained=os_found.maintained if os_found else None,
        model=inv.model,
        age_seconds=age,
        ram_bytes=inv.ram_bytes,
        link=inv.link,
        wifi_signal_percent=inv.wifi_signal_percent,
        inventory_ts=inv.ts,
    )
