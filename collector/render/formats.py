"""How figures read in each language, through Babel's CLDR data: `99,500 %`,
`1 500,00 €`, `23 nov. 2026 à 18 h 55` in French; `99.500%`, `€1,500.00`,
`23 Nov 2026, 18:55` in English. Every page and document of the collector formats here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

DASH = "—"  # a figure that does not exist (no minute evaluated, no evidence)
_DATETIME = {"fr": "d MMM y 'à' H 'h' mm", "en": "d MMM y, HH:mm"}
_DATE = {"fr": "d MMM y", "en": "d MMM y"}
_MONTH = {"fr": "MMMM y", "en": "MMMM y"}
_TIME = {"fr": "H 'h' mm", "en": "HH:mm"}


def percent(value: float | None, lang: str, digits: int = 3) -> str:
    """A ratio as a percentage with `digits` decimals: 0.995 → `99,500 %`."""
    if value is None:
        return DASH
    pattern = "#,##0" + ("." + "0" * digits if digits else "") + " %"
    if lang == "en":
        pattern = pattern.replace(" %", "%")
    return format_percent(value, pattern, locale=lang)


def number(value: float | int | None, lang: str, digits: int | None = None) -> str:
    """A count or measure with the language's grouping: 12345 → `12 345`."""
    if value is None:
        return DASH
    if digits is None:
        return format_decimal(value, locale=lang)
    return format_decimal(value, "#,##0." + "0" * digits if digits else "#,##0", locale=lang)


def decimal(value: float | int | None, lang: str, digits: int = 2) -> str:
    """At most `digits` decimals, none when whole: 0.4 → `0,4`, 1.0 → `1`."""
    if value is None:
        return DASH
    return format_decimal(value, "#,##0." + "#" * digits if digits else "#,##0", locale=lang)


def money(amount: Decimal | str | None, currency: str, lang: str) -> str:
    """An amount in decimal (never a float): `1 500,00 €`."""
    if amount is None:
        return DASH
    return format_currency(Decimal(amount), currency, locale=lang)


def moment(value: dt.datetime | str | None, zone: dt.tzinfo, lang: str) -> str:
    """A date-time in `zone`: `23 nov. 2026 à 18 h 55`. The page names the zone once."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    try:
        return format_datetime(value, _DATETIME[lang], tzinfo=zone, locale=lang)
    except OverflowError:  # year 1 or 9999 moved across midnight: shown in its own offset
        return format_datetime(value, _DATETIME[lang], tzinfo=value.tzinfo, locale=lang)


def day(value: dt.date | str | None, lang: str) -> str:
    """A calendar date: `23 nov. 2026`."""
    if value is None:
        return DASH
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return format_date(value, _DATE[lang], locale=lang)


def month(value: dt.date | str, lang: str) -> str:
    """A month: `novembre 2026`."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return format_date(value, _MONTH[lang], locale=lang)


def duration(seconds: float | None, lang: str) -> str:
    """Whole minutes, as people say them: `45 min`, `2 h 05 min`, `3 j 4 h` / `3 d 4 h`."""
    if seconds is None:
        return DASH
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        unit = "j" if lang == "fr" else "d"
        return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min"


def _utc(zone: dt.tzinfo, at: dt.datetime) -> str:
    offset = at.astimezone(zone).strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def zone_name(zone: dt.tzinfo, at: dt.datetime, lang: str, until: dt.datetime | None = None) -> str:
    """The zone as a page names it once: `Europe/Paris (UTC+01:00)`, or across a clock
    change before `until`: `Europe/Paris (UTC+02:00 puis UTC+01:00)`; a bare offset (an
    older report that kept no zone name) as `UTC+01:00`."""
    offsets = [_utc(zone, at)]
    if until is not None and until > at:
        step = max(dt.timedelta(days=1), (until - at) / 4000)  # bounded for long periods
        moment_ = at
        while moment_ < until:
            moment_ = min(moment_ + step, until - dt.timedelta(seconds=1))
            if _utc(zone, moment_) != offsets[-1]:
                offsets.append(_utc(zone, moment_))
            if moment_ >= until - dt.timedelta(seconds=1):
                break
    utc = (" puis " if lang == "fr" else " then ").join(offsets)
    key = getattr(zone, "key", None)
    return f"{key} ({utc})" if key else utc


def tick_day(value: dt.date, lang: str) -> str:
    """A chart's day tick: `17 nov.` / `17 Nov`."""
    return format_date(value, "d MMM", locale=lang)


def tick_time(value: dt.datetime, zone: dt.tzinfo, lang: str) -> str:
    """A chart's time-of-day tick in `zone`: `18 h 55` / `18:55`."""
    return format_datetime(value, _TIME[lang], tzinfo=zone, locale=lang)


def printable(text: str | None) -> str:
    """An agent's text as shown or labelled: control and bidi-override characters as
    spaces (a model "\\u202eexe.txt" read "txt.exe" on the page), on one line."""
    return "".join(c if c.isprintable() else " " for c in text or "").strip()
