"""Incident notes (cause, vendor ticket, disputed/accepted) added through the API or
`incidents note`: validated here, chained by the ledger with author and server time,
shown with their incident in the report and the contracts API (docs/sla.md)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from zoneinfo import ZoneInfo

from collector.config import Contract
from collector.ledger import Ledger
from collector.sla.period import IncidentReport, month_bounds

STATUSES = ("disputed", "accepted")
LIMITS = {"cause": 2000, "vendor_ticket": 200, "author": 200}
# shown in reports: no control or format characters (C0/C1 controls, direction marks
# and overrides, zero-width ones, BOM) nor line/paragraph separators, which would hide or
# reorder what a reader sees; a newline in a cause is fine
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _hidden(value: str, newline_ok: bool) -> bool:
    return any(unicodedata.category(c) in _HIDDEN and not (newline_ok and c == "\n") for c in value)


def note_error(fields: dict[str, object]) -> str | None:
    """What is wrong with a note's fields, naming the field, or None."""
    for name, limit in LIMITS.items():
        value = fields.get(name)
        if value is None and name != "cause":
            continue
        if not isinstance(value, str) or not value.strip():
            return f"{name}: a non-empty string" + (", or absent" if name != "cause" else "")
        if len(value) > limit:
            return f"{name}: longer than {limit} characters"
        if _hidden(value, newline_ok=name == "cause"):
            return (
                f"{name}: must not contain control characters, invisible format characters"
                " or line separators"
            )
    status = fields.get("status")
    if status is not None and status not in STATUSES:
        return "status: disputed or accepted, or absent"
    unknown = sorted(set(fields) - {*LIMITS, "status"})
    if unknown:
        return f"{unknown[0]}: unknown field (cause, vendor_ticket, status, author)"
    return None


def incident_minute(text: str) -> int:
    """An incident start as the report prints it (ISO date-time with an offset) → its UTC
    minute; ValueError naming `incident` otherwise."""
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"incident: {text!r} is not an ISO date-time, e.g. 2026-11-17T10:00:00+01:00"
        ) from None
    if value.tzinfo is None:
        raise ValueError(f"incident: {text!r} needs a UTC offset, e.g. 2026-11-17T10:00:00+01:00")
    if not 2000 <= value.year <= 2199:
        raise ValueError(f"incident: {text!r} is not between 2000 and 2199")
    return int(value.timestamp()) // 60


def incidents_around(
    ledger: Ledger, contract: Contract, minute: int, now: float
) -> list[IncidentReport]:
    """The incidents of the month (in the contract's zone) holding `minute`: as frozen
    when that month is (what the signed report shows), else evaluated up to now (late
    data included)."""
    from collector.periods import read_period  # the glue imports the render side

    zone = ZoneInfo(contract.service_hours.timezone)
    local = dt.datetime.fromtimestamp(minute * 60, zone)
    key = f"{local.year}-{local.month:02d}"
    frozen = ledger.frozen_month(contract.id, key)
    if frozen is not None:
        return [_frozen_incident(i) for i in frozen["incidents"]]
    start, end = month_bounds(key, contract.service_hours.timezone)
    upto = min(end, dt.datetime.fromtimestamp(int(now // 60) * 60, dt.UTC))
    if upto <= start:
        return []
    return read_period(ledger, contract, start, end, now, evaluated_to=upto).incidents


def _frozen_incident(i: dict) -> IncidentReport:
    def minute(text: str) -> int:
        return int(dt.datetime.fromisoformat(text).timestamp()) // 60

    return IncidentReport(
        minute(i["start"]), minute(i["end"]), i["sites"], i["rto_breach"], i["attribution"]
    )


def holds(start: int, end: int | None, minute: int) -> bool:
    """Whether an incident [start, end) holds `minute` (an open one: from its start on);
    the one rule that ties a note to its incident."""
    return start <= minute and (end is None or minute < max(end, start + 1))


def no_incident_message(
    contract: Contract, minute: int, incidents: list[IncidentReport]
) -> str | None:
    """None when an incident holds `minute` (its start, or a later minute of it: the start
    a period report clipped it to); else why not, with that day's starts."""
    if any(holds(i.start, i.end, minute) for i in incidents):
        return None
    zone = ZoneInfo(contract.service_hours.timezone)
    day = dt.datetime.fromtimestamp(minute * 60, zone).date()
    starts = [
        dt.datetime.fromtimestamp(i.start * 60, zone).isoformat()
        for i in incidents
        if dt.datetime.fromtimestamp(i.start * 60, zone).date() == day
    ]
    at = dt.datetime.fromtimestamp(minute * 60, zone).isoformat()
    listed = ", ".join(starts) if starts else "none"
    return f"incident: no incident of {contract.id} holds {at} (that day's starts: {listed})"
