"""Whether an inventory's OS still gets security updates on a day, from the shipped,
dated table `os_support.json` (docs/readiness.md). Pure: no clock, no I/O but the table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from runtime.configfile import ConfigError, Strict, where

DATA = Path(__file__).with_name("os_support.json")


class Entry(Strict, frozen=True, kw_only=True):
    """One row of the table, as written in os_support.json."""

    family: str
    name: str
    match: dict[str, str | list[str]]
    end_of_support: dt.date | None  # None: no published end (macOS)
    extended_until: dict[str, dt.date] | None = None  # subscription → last day (Windows 10 ESU)
    note: str
    source: str


class Table(Strict, frozen=True, kw_only=True):
    as_of: dt.date
    about: str = ""
    entries: list[Entry]


@dataclass(frozen=True)
class OsVerdict:
    maintained: bool | None  # None: not decided (unknown OS), never a guess
    name: str | None
    end_of_support: dt.date | None  # the last day of support that applies
    source: str | None
    reason: str


def load_table(path: Path = DATA) -> Table:
    """The table, or ConfigError naming the file and the entry's key (it is edited by hand)."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=Table)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the OS table: {exc.strerror}") from None
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {where(str(exc))}") from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None


@cache
def table() -> Table:
    return load_table()


def _equals(value: str, wanted: str) -> bool:
    value, wanted = value.casefold(), wanted.casefold()
    return value.startswith(wanted[:-1]) if wanted.endswith("*") else value == wanted


def _matches(entry: Entry, os_info: dict[str, Any], missing_ok: frozenset[str]) -> bool:
    for key, wanted in entry.match.items():
        value = os_info.get(key)
        if value is None and key in missing_ok:
            continue
        options = wanted if isinstance(wanted, list) else [wanted]
        if value is None or not any(_equals(str(value), w) for w in options):
            return False
    return True


def _last_day(entry: Entry, esu: str) -> tuple[dt.date | None, str]:
    extended = entry.extended_until or {}
    if esu in extended:
        return extended[esu], f"with {esu} ESU"
    return entry.end_of_support, "end of support"


def _verdict(entry: Entry, on: dt.date, esu: str) -> OsVerdict:
    last, what = _last_day(entry, esu)
    if last is None:
        reason = f"no end date published: {entry.note}"
        return OsVerdict(True, entry.name, None, entry.source, reason)
    maintained = on <= last  # the published date is the last day with support
    state = "supported up to" if maintained else "support ended after"
    return OsVerdict(maintained, entry.name, last, entry.source, f"{state} {last} ({what})")


def decide(os_info: dict[str, Any] | None, on: dt.date, esu: str = "none") -> OsVerdict:
    """The verdict for the inventory's `os` mapping on day `on`; `esu` is
    `prerequisites.workstation.windows10_esu`.

    The first table entry whose `match` the inventory satisfies decides. When the
    inventory lacks only the edition, every edition's entry is tried: one answer if
    they all agree, else None.
    """
    if not os_info:
        return OsVerdict(None, None, None, None, "the inventory reports no OS")
    entries = table().entries
    for entry in entries:
        if _matches(entry, os_info, frozenset()):
            return _verdict(entry, on, esu)
    if os_info.get("edition") is None:
        loose = [e for e in entries if _matches(e, os_info, frozenset({"edition"}))]
        verdicts = {_verdict(e, on, esu).maintained for e in loose}
        if len(verdicts) == 1:
            pick = (min if verdicts == {True} else max)(
                loose, key=lambda e: _last_day(e, esu)[0] or dt.date.max
            )
            found = _verdict(pick, on, esu)
            return OsVerdict(
                found.maintained,
                found.name,
                found.end_of_support,
                found.source,
                f"edition not reported, the same for every edition: {found.reason}",
            )
        if loose:
            dates = ", ".join(f"{e.name} {_last_day(e, esu)[0]}" for e in loose)
            reason = f"edition not reported and it decides: {dates}"
            return OsVerdict(None, None, None, None, reason)
    described = " ".join(str(v) for k, v in sorted(os_info.items()) if v and k != "build")
    return OsVerdict(None, None, None, None, f"OS not in os_support.json: {described or os_info}")
