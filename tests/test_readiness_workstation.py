"""Per-workstation readiness checks on hand-built inventories and on this host's own
inventory: evidence, threshold, verdict; unknown when the inventory lacks the fact."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest

from agent.probes import inventory
from collector.config import ConfigError, WorkstationPrerequisites, parse
from collector.readiness.workstation import Inventory, check_workstation
from tests.helpers.inventories import WIN10_PRO, WIN11_ENT
from tests.helpers.readiness import PREREQUISITES

GIB = 2**30
D = dt.date.fromisoformat
PREREQ = parse(
    {"prerequisites": {"workstation": PREREQUISITES["workstation"]}}, files=False
).prerequisites.workstation
# The inventory result of the design's example, as the ledger stores its body.
BODY = json.dumps(
    {
        "seq": 46, "ts": 1763900002.0, "probe": "inventory", "target": "workstation",
        "role": "workstation", "success": True, "duration_seconds": 0.2, "error": None,
        "os": WIN10_PRO,
        "hardware": {"vendor": "Dell Inc.", "model": "OptiPlex 7050",
                     "firmware_date": "2017-06-12"},
        "cpu": {"model": "Intel(R) Core(TM) i5-7500", "cores": 4}, "ram_bytes": 8 * GIB,
        "disk_free_bytes": 51200000000,
        "browsers": {"edge": "131.0.2903.70", "chrome": None, "firefox": None},
        "link": "wifi", "wifi_signal_percent": 62,
    }
).encode()  # fmt: skip


def by_id(inv: Inventory, on: str, prereq: WorkstationPrerequisites = PREREQ) -> dict:
    result = check_workstation(inv, prereq, D(on))
    return {c.id: c for c in result.checks} | {"verdict": result.verdict}


def test_design_example_fails_on_age_and_os_only() -> None:
    inv = Inventory.from_body("pc-accueil", "ehpad-tilleuls", BODY)
    checks = by_id(inv, "2026-11-24")
    assert checks["max_age"].verdict == "fail"
    assert checks["max_age"].evidence == pytest.approx(9.46, abs=0.01)
    assert checks["max_age"].threshold == 5
    assert (checks["min_ram"].verdict, checks["min_ram"].evidence) == ("pass", 8 * GIB)
    assert checks["min_ram"].threshold == 8_000_000_000
    assert checks["os_maintained"].verdict == "fail"
    assert checks["os_maintained"].evidence == "Windows 10 22H2"
    assert checks["os_maintained"].threshold == "2025-10-14"
    assert checks["browsers"].verdict == "pass"
    assert checks["browsers"].evidence == {"edge": "131.0.2903.70", "chrome": None, "firefox": None}
    assert checks["verdict"] == "fail"


def test_age_either_side_of_max_age() -> None:
    inv = Inventory("a", "s", firmware_date=D("2021-01-01"))
    only_age = WorkstationPrerequisites(max_age=PREREQ.max_age)
    last_day = D("2021-01-01") + dt.timedelta(days=5 * 365)
    assert by_id(inv, str(last_day), only_age)["max_age"].verdict == "pass"
    assert by_id(inv, str(last_day + dt.timedelta(days=1)), only_age)["max_age"].verdict == "fail"


@pytest.mark.parametrize("firmware", ["2099-12-31", "2026-01-02", "1900-01-01", "1989-12-31"])
def test_an_implausible_firmware_date_is_an_unknown_age(firmware: str) -> None:
    """A BIOS dated in the future (a hostile or broken agent) gave a negative age that
    passed max_age; one dated 1900 an age of 126 years: neither is evidence."""
    inv = Inventory("a", "s", firmware_date=D(firmware))
    result = check_workstation(inv, PREREQ, D("2026-01-01"))
    (age,) = [c for c in result.checks if c.id == "max_age"]
    assert (age.verdict, age.evidence) == ("unknown", None)
    assert firmware in age.detail and result.age_seconds is None
    assert result.verdict != "pass"


def test_firmware_dated_the_day_of_the_check_is_a_new_pc() -> None:
    inv = Inventory("a", "s", firmware_date=D("2026-01-01"))
    (age,) = [
        c for c in check_workstation(inv, PREREQ, D("2026-01-01")).checks if c.id == "max_age"
    ]
    assert (age.verdict, age.evidence) == ("pass", 0.0)


def test_windows_10_esu_from_the_config_makes_the_os_pass() -> None:
    inv = Inventory("a", "s", os=WIN10_PRO)
    esu = parse(
        {"prerequisites": {"workstation": {"os_maintained": True, "windows10_esu": "consumer"}}},
        files=False,
    ).prerequisites.workstation
    assert by_id(inv, "2027-10-12", esu)["os_maintained"].verdict == "pass"
    assert by_id(inv, "2027-10-13", esu)["os_maintained"].verdict == "fail"
    assert by_id(inv, "2025-10-15")["os_maintained"].verdict == "fail"  # default: none


def test_windows10_esu_key_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"prerequisites\.workstation\.windows10_esu"):
        parse({"prerequisites": {"workstation": {"windows10_esu": "yes"}}}, files=False)


def test_missing_facts_are_unknown_never_pass() -> None:
    bare = Inventory.from_body("a", "s", b'{"os": null, "hardware": {"firmware_date": null}}')
    checks = by_id(bare, "2026-01-01")
    assert {k: c.verdict for k, c in checks.items() if k != "verdict"} == dict.fromkeys(
        ("max_age", "min_ram", "os_maintained", "browsers"), "unknown"
    )
    assert all(checks[k].evidence is None for k in ("max_age", "min_ram", "browsers"))
    assert checks["verdict"] == "unknown"


def test_unknown_os_does_not_hide_a_failure() -> None:
    inv = Inventory("a", "s", os={"name": "Fedora Linux", "version": "41"}, ram_bytes=4 * GIB)
    checks = by_id(inv, "2026-01-01")
    assert checks["os_maintained"].verdict == "unknown"
    assert "not in os_support.json" in checks["os_maintained"].detail
    assert checks["min_ram"].verdict == "fail" and checks["verdict"] == "fail"


@pytest.mark.parametrize(
    ("browsers", "verdict"),
    [
        ({"edge": "119.0.1", "chrome": "120.0.6099.71", "firefox": None}, "pass"),
        ({"edge": "119.0.1", "chrome": None, "firefox": "115.18.0"}, "pass"),
        ({"edge": "119.0.1", "chrome": "119.9", "firefox": "102.0"}, "fail"),
        ({"edge": None, "chrome": None, "firefox": None}, "fail"),
        ({"edge": "119.0.1"}, "unknown"),  # chrome and firefox not looked for
    ],
)
def test_browsers_one_at_its_minimum_is_enough(browsers: dict, verdict: str) -> None:
    inv = Inventory("a", "s", browsers=browsers)
    only = WorkstationPrerequisites(browsers=PREREQ.browsers)
    assert by_id(inv, "2026-01-01", only)["browsers"].verdict == verdict


def test_only_configured_checks_run() -> None:
    inv = Inventory("a", "s", os=WIN11_ENT, ram_bytes=16 * GIB)
    result = check_workstation(inv, WorkstationPrerequisites(), D("2026-01-01"))
    assert result.checks == [] and result.verdict == "pass"


def test_this_hosts_own_inventory_is_read() -> None:
    """The real inventory probe on this machine, through its JSON as the ledger keeps it."""
    body = msgspec.json.encode(inventory.measure({}))
    inv = Inventory.from_body("here", "s", body)
    checks = by_id(inv, str(dt.date.today()))
    assert checks["min_ram"].evidence == inv.ram_bytes and inv.ram_bytes
    assert checks["os_maintained"].evidence  # named, even when not in the table
