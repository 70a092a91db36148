"""OS end-of-support decisions: either side of every end day that matters, the Windows 10
ESU rule, editions, macOS by Apple's practice, Linux releases, unknown OS never guessed."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlparse

import pytest

from collector.readiness.os_support import DATA, decide, load_table, table
from runtime.configfile import ConfigError
from tests.helpers.inventories import WIN10_PRO, WIN11_ENT
from tests.helpers.inventories import linux_os as linux

D = dt.date.fromisoformat


def windows(build: str, edition: str | None, product: str = "Windows 11") -> dict:
    return {**WIN10_PRO, "product": product, "build": build, "edition": edition}


@pytest.mark.parametrize(
    ("esu", "last"),
    [("none", "2025-10-14"), ("consumer", "2027-10-12"), ("commercial", "2028-10-10")],
)
def test_windows_10_either_side_of_its_last_day(esu: str, last: str) -> None:
    assert WIN10_PRO["product"] == "Windows 10" and WIN10_PRO["build"] == "19045"
    on_last = decide(WIN10_PRO, D(last), esu)
    after = decide(WIN10_PRO, D(last) + dt.timedelta(days=1), esu)
    assert on_last.maintained is True and after.maintained is False
    assert on_last.end_of_support == D(last) == after.end_of_support
    assert on_last.name == "Windows 10 22H2"
    assert "learn.microsoft.com" in on_last.source


def test_windows_10_without_esu_is_unmaintained_during_the_esu_year() -> None:
    day = D("2026-01-15")
    assert decide(WIN10_PRO, day, "none").maintained is False
    assert decide(WIN10_PRO, day, "consumer").maintained is True
    assert decide(WIN10_PRO, D("2027-10-13"), "consumer").maintained is False
    assert decide(WIN10_PRO, D("2027-10-13"), "commercial").maintained is True


def test_esu_does_not_extend_windows_10_before_22h2_nor_windows_11() -> None:
    old = windows("19044", "Pro", "Windows 10")
    assert decide(old, D("2024-01-01"), "commercial").maintained is False
    assert decide(WIN11_ENT, D("2026-11-11"), "commercial").maintained is False


@pytest.mark.parametrize(
    ("build", "edition", "last"),
    [
        ("22631", "Pro", "2025-11-11"),
        ("22631", "Enterprise", "2026-11-10"),
        ("22631", "Education", "2026-11-10"),
        ("26100", "Home", "2026-10-13"),
        ("26100", "Enterprise", "2027-10-12"),
        ("26100", "Enterprise LTSC", "2029-10-09"),
        ("26200", "Pro", "2027-10-12"),
        ("26200", "Enterprise", "2028-10-10"),
        ("22621", "Pro", "2024-10-08"),
    ],
)
def test_windows_11_versions_by_edition(build: str, edition: str, last: str) -> None:
    os_info = windows(build, edition)
    assert decide(os_info, D(last)).maintained is True
    assert decide(os_info, D(last) + dt.timedelta(days=1)).maintained is False


def test_recorded_windows_11_enterprise_sample() -> None:
    assert (WIN11_ENT["product"], WIN11_ENT["build"], WIN11_ENT["edition"]) == (
        "Windows 11",
        "22631",
        "Enterprise",
    )
    verdict = decide(WIN11_ENT, D("2026-11-10"))
    assert (verdict.maintained, verdict.name) == (True, "Windows 11 23H2 (Enterprise/Education)")


def test_edition_not_reported_decides_only_when_every_edition_agrees() -> None:
    os_info = windows("22631", None)
    assert decide(os_info, D("2025-11-11")).maintained is True  # Pro's last day
    assert decide(os_info, D("2025-11-11")).end_of_support == D("2025-11-11")
    between = decide(os_info, D("2026-01-01"))
    assert between.maintained is None and "edition not reported" in between.reason
    assert decide(os_info, D("2026-11-11")).maintained is False


@pytest.mark.parametrize(
    "os_info",
    [
        None,
        {},
        windows("22631", "IoTEnterpriseS"),
        windows("99999", "Pro"),
        linux('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n'),
        linux('NAME="Fedora Linux"\nVERSION_ID=41\n'),
        linux('NAME="Ubuntu"\nVERSION_ID="24.10"\n'),
        {"name": "Darwin", "version": None, "build": "19.6.0"},
    ],
)
def test_unknown_os_is_never_guessed(os_info: dict | None) -> None:
    verdict = decide(os_info, D("2026-01-01"))
    assert verdict.maintained is None and verdict.reason


@pytest.mark.parametrize(
    ("os_release", "last"),
    [
        ('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', "2028-06-30"),
        ('NAME="Debian GNU/Linux"\nVERSION_ID="11"\n', "2026-08-31"),
        ('NAME="Ubuntu"\nVERSION_ID="24.04"\n', "2029-04-30"),
        ('NAME="Ubuntu"\nVERSION_ID="20.04"\n', "2025-05-31"),
    ],
)
def test_linux_releases_either_side(os_release: str, last: str) -> None:
    os_info = linux(os_release)
    assert decide(os_info, D(last)).maintained is True
    assert decide(os_info, D(last) + dt.timedelta(days=1)).maintained is False


def test_macos_by_apples_practice() -> None:
    sequoia = {"name": "Darwin", "version": None, "build": "24.1.0", "edition": None}
    verdict = decide(sequoia, D("2026-01-01"))
    assert verdict.maintained is True and verdict.end_of_support is None
    assert "practice" in verdict.reason
    ventura = {**sequoia, "build": "22.6.0"}
    assert decide(ventura, D("2025-09-15")).maintained is True
    assert decide(ventura, D("2025-09-16")).maintained is False


def test_the_table_is_dated_sourced_and_sane() -> None:
    entries = table().entries
    doc = json.loads(DATA.read_text())
    assert table().as_of == D(doc["as_of"])
    assert {e.family for e in entries} == {"windows", "macos", "debian", "ubuntu"}
    for entry in entries:
        assert entry.source and urlparse(entry.source.split()[0]).scheme == "https", entry.name
        assert entry.note, entry.name
        for last in (entry.extended_until or {}).values():
            assert entry.end_of_support is not None and last > entry.end_of_support
    names = [e.name for e in entries]
    assert len(names) == len(set(names))


def test_no_entry_is_shadowed_by_an_earlier_one() -> None:
    """The first match wins: each entry's own example must reach that entry."""
    for entry in table().entries:
        example = {}
        for key, wanted in entry.match.items():
            value = wanted[-1] if isinstance(wanted, list) else wanted
            example[key] = value.rstrip("*") + ("0" if value.endswith("*") else "")
        assert decide(example, D("2000-01-01")).name == entry.name, entry.name


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda doc: doc["entries"][2].update(end_of_support="14/10/2025"),
            "entries[2].end_of_support",
        ),
        (lambda doc: doc["entries"][0].pop("source"), "entries[0]: missing required key `source`"),
        (lambda doc: doc.update(asof="2026-01-01"), "unknown key `asof`"),
    ],
)
def test_a_hand_edit_mistake_is_one_line_naming_the_entry(tmp_path, edit, message) -> None:
    doc = json.loads(DATA.read_text())
    edit(doc)
    path = tmp_path / "os_support.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_table(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    path.write_text('{"as_of": "2026-01-01", "entries": [}')
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_table(path)
