"""Vendor evidence (docs/evidence.md): backups and restore tests, their strict schemas, the
CSV import, and the checks against the contract (RPO, frequency, retention, restore
tests) as pure functions. Storage is the ledger's hash chain (collector/chain.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

EvidenceId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
Stamp = dt.datetime


# Free text shown in reports: no control characters and no bidirectional overrides,
# which would hide or reorder what a reader sees.
Text = Annotated[
    str,
    msgspec.Meta(max_length=200, pattern="^[^\\x00-\\x1f\\x7f\\u202a-\\u202e\\u2066-\\u2069]*\\Z"),
]


class Backup(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contract: str
    id: EvidenceId
    kind: Literal["full", "incremental", "differential", "snapshot", "log"] = "full"
    status: Literal["success", "failure", "partial"]
    started_at: Stamp
    completed_at: Stamp | None = None
    size_bytes: Annotated[int, msgspec.Meta(ge=0)] | None = None
    restore_point_at: Stamp | None = None
    expires_at: Stamp | None = None
    location: Text | None = None
    checksum: Text | None = None

    def __post_init__(self) -> None:
        _aware(self, ("started_at", "completed_at", "restore_point_at", "expires_at"))
        if self.status == "success" and self.restore_point_at is None:
            raise ValueError("a successful backup needs restore_point_at")


class RestoreTest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    contract: str
    id: EvidenceId
    status: Literal["success", "failure"]
    performed_at: Stamp
    restore_point_at: Stamp | None = None
    duration_seconds: Annotated[float, msgspec.Meta(ge=0)] | None = None

    def __post_init__(self) -> None:
        _aware(self, ("performed_at", "restore_point_at"))


def _aware(record: Any, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(record, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} needs a UTC offset, e.g. 2026-11-22T01:00:00Z")


KINDS: dict[str, type[Backup] | type[RestoreTest]] = {"backup": Backup, "restore_test": RestoreTest}


def parse(kind: str, data: bytes | dict[str, Any]) -> Backup | RestoreTest:
    """A validated record; ValueError names the field."""
    schema = KINDS[kind]
    try:
        if isinstance(data, bytes | bytearray):
            return msgspec.json.decode(data, type=schema)
        return msgspec.convert(data, schema, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "u202a" in text:  # a Text field: say it in words, not as a regex
            text = re.sub(
                r"Expected `str` matching regex '.*?'",
                "must not contain control characters or direction overrides",
                text,
            )
        match = re.match(r"^(.*) - at `\$\.?(.*)`$", text)
        raise ValueError(f"{match[2]}: {match[1]}" if match and match[2] else text) from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None


def void_error(record_id: object, reason: object, kind: object) -> str | None:
    """What is wrong with a voiding request, naming the field, or None."""
    if kind not in KINDS:
        return "kind: backup or restore_test"
    if not isinstance(record_id, str) or not record_id:
        return "id: the record's id, a string"
    if not isinstance(reason, str) or not reason.strip():
        return "reason: required, a non-empty string"
    if len(reason) > 500:
        return "reason: longer than 500 characters"
    return None


def canonical(record: Backup | RestoreTest) -> str:
    """The record as sorted, compact JSON with UTC times: what the chain hashes and what a
    repost is compared on."""
    data = msgspec.to_builtins(record)
    for key, value in list(data.items()):
        if isinstance(value, str) and key.endswith("_at"):
            data[key] = dt.datetime.fromisoformat(value).astimezone(dt.UTC).isoformat()
    return msgspec.json.encode(dict(sorted(data.items()))).decode()


def read_csv(
    text: str, kind: str, contract: str, received: dt.datetime
) -> list[Backup | RestoreTest]:
    """Rows of a vendor spreadsheet: `;` or `,` separated, header row with the JSON field
    names (`contract` optional), French decimal commas accepted, each row plausible at
    `received`. The whole file or nothing: ValueError names the first bad line."""
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    schema = KINDS[kind]
    known = set(schema.__struct_fields__)
    unknown = [f for f in reader.fieldnames or [] if f and f.strip() not in known]
    if unknown:
        raise ValueError(
            f"line 1: unknown column(s) {', '.join(unknown)} (expected: {', '.join(sorted(known))})"
        )
    records = []
    for row in reader:
        line = reader.line_num
        data: dict[str, Any] = {"contract": contract}
        for key, value in row.items():
            if key is None or value is None or not value.strip():
                continue
            value = value.strip()
            if key in ("size_bytes", "duration_seconds"):
                value = value.replace("\u202f", "").replace(" ", "").replace(",", ".")
                try:
                    data[key] = float(value) if key == "duration_seconds" else int(float(value))
                except ValueError:
                    raise ValueError(f"line {line}: {key}: {value!r} is not a number") from None
            else:
                data[key.strip()] = value
        if data.get("contract") != contract:
            raise ValueError(f"line {line}: contract {data.get('contract')!r} is not {contract!r}")
        try:
            record = parse(kind, data)
            check(record, received)
            records.append(record)
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from None
    if not records:
        raise ValueError("no row to import")
    return records


# Plausibility (docs/evidence.md#plausibility): what a record may claim, at the door and
# again in the checks, where records chained by an older version may not satisfy it.
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=1)  # vendor clocks run a little ahead
MAX_SIZE_BYTES = 2**60  # 1 EiB
MAX_DURATION_SECONDS = 31 * 86400
KEPT_LONGEST = dt.timedelta(days=36525)  # expires_at: at most 100 years after reception
_DATES = ("started_at", "completed_at", "restore_point_at", "expires_at", "performed_at")


def implausible(record: Backup | RestoreTest, received: dt.datetime | None) -> str | None:
    """Why the record cannot be true, naming the field, or None. Every date between
    2000-01-01 and `received` + 1 day (no upper bound when `received` is None; `expires_at`
    up to 100 years later), in order, sizes and durations finite and bounded."""
    latest = None if received is None else received + FUTURE_SLACK
    for name in _DATES:
        value = getattr(record, name, None)
        if value is None:
            continue
        if value < EARLIEST:
            return f"{name}: {_text(value)} is before 2000-01-01"
        if name == "expires_at":
            if received is not None and value > received + KEPT_LONGEST:
                return f"expires_at: {_text(value)} is more than 100 years after the receive time"
        elif latest is not None and value > latest:
            return f"{name}: {_text(value)} is more than 1 day after the receive time"
    if isinstance(record, Backup):
        done, point, expires = record.completed_at, record.restore_point_at, record.expires_at
        if done is not None and done < record.started_at:
            return "completed_at: before started_at"
        if point is not None and done is not None and point > done:
            return "restore_point_at: after completed_at"
        if expires is not None and point is not None and expires <= point:
            return "expires_at: not after restore_point_at"
        if record.size_bytes is not None and record.size_bytes > MAX_SIZE_BYTES:
            return f"size_bytes: more than {MAX_SIZE_BYTES} (1 EiB)"
    else:
        point, duration = record.restore_point_at, record.duration_seconds
        if point is not None and point > record.performed_at:
            return "restore_point_at: after performed_at"
        if duration is not None and not 0 <= duration <= MAX_DURATION_SECONDS:
            return f"duration_seconds: more than {MAX_DURATION_SECONDS} (31 days)"
    return None


def _text(value: dt.datetime) -> str:
    try:
        return value.astimezone(dt.UTC).isoformat()
    except OverflowError:
        return value.isoformat()


def check(record: Backup | RestoreTest, received: dt.datetime) -> None:
    """ValueError naming the field when the record is not plausible."""
    reason = implausible(record, received)
    if reason:
        raise ValueError(reason)


WINDOW_AHEAD = dt.timedelta(days=731)  # a window is announced at most 2 years ahead
WINDOW_LONGEST = dt.timedelta(days=31)


def window_error(start: dt.datetime, end: dt.datetime, received: dt.datetime) -> str | None:
    """Why a maintenance window cannot be recorded at `received`, naming the field, or
    None: both ends with an offset, between 2000-01-01 and 2 years after `received`,
    end after start, at most 31 days long."""
    latest = received + WINDOW_AHEAD
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            return f"{name}: needs a UTC offset, e.g. 2026-12-05T20:00:00+01:00"
        if not EARLIEST <= value <= latest:
            return f"{name}: {_text(value)} is not between 2000-01-01 and 2 years from now"
    if end <= start:
        return "end: not after start"
    if end - start > WINDOW_LONGEST:
        return "end: the window is longer than 31 days"
    return None


@dataclass(frozen=True)
class BackupChecks:
    rpo_compliant: bool | None
    largest_gap_seconds: float | None
    rpo_breaches: int
    frequency_compliant: bool | None
    retention_compliant: bool | None
    last_success: dt.datetime | None
    oldest_restore_point: dt.datetime | None
    ignored: tuple[tuple[str, str], ...] = ()  # (id, why) of implausible stored records
    frequency_gap_seconds: float | None = None  # what the frequency check compared
    retention_seconds: float | None = None  # age of the oldest point held at judgement
    latest_restore_point: dt.datetime | None = None


Gap = tuple[dt.datetime, dt.datetime]


def _gaps(points: list[dt.datetime], until: dt.datetime) -> list[Gap]:
    """Between successive points, and from the last one to `until` (still open)."""
    points = sorted(points)
    return [*itertools.pairwise(points), (points[-1], until)] if points else []


def _seconds(gap: Gap) -> float:
    return (gap[1] - gap[0]).total_seconds()


def _largest_gap(gaps: list[Gap], since: dt.datetime | None) -> float | None:
    """The largest gap overlapping [since, …), or of the whole history."""
    overlapping = [_seconds(g) for g in gaps if since is None or g[1] > since]
    return max(overlapping) if overlapping else None


def check_backups(
    backups: Iterable[Backup],
    at: dt.datetime,
    rpo: float | None,
    every: float | None,
    retention: float | None,
    since: dt.datetime | None = None,
) -> BackupChecks:
    """RPO (no gap between successive successful restore points, nor since the last one,
    longer than the RPO), frequency, retention (oldest restore point still held), for the
    period [since, at]. A gap is one RPO breach, charged to the period that holds the
    moment it exceeded the RPO (previous point + RPO): never twice."""
    good, ignored = [], []
    for b in backups:
        reason = implausible(b, None)
        if reason:
            ignored.append((b.id, reason))
        elif (
            b.status == "success"
            and b.restore_point_at is not None
            and b.restore_point_at <= at
            and (b.completed_at or b.started_at) <= at  # it existed at `at`
        ):
            good.append(b)
    points = [b.restore_point_at for b in good if b.restore_point_at is not None]
    gaps = _gaps(points, at)
    gap = _largest_gap(gaps, since)
    completions = [b.completed_at or b.started_at for b in good]
    frequency_gap = _largest_gap(_gaps(completions, at), since)
    held = [
        b.restore_point_at
        for b in good
        if b.restore_point_at is not None and (b.expires_at is None or b.expires_at > at)
    ]
    oldest = min(held) if held else None
    breaches = 0
    if rpo is not None:
        limit = dt.timedelta(seconds=rpo)
        breaches = sum(_seconds(g) > rpo and (since is None or g[0] + limit >= since) for g in gaps)
    return BackupChecks(
        rpo_compliant=None if rpo is None else (gap is not None and gap <= rpo),
        largest_gap_seconds=gap,
        rpo_breaches=breaches,
        frequency_compliant=None
        if every is None
        else (frequency_gap is not None and frequency_gap <= every),
        retention_compliant=None
        if retention is None
        else (oldest is not None and (at - oldest).total_seconds() >= retention),
        last_success=max(completions) if completions else None,
        oldest_restore_point=oldest,
        ignored=tuple(ignored),
        frequency_gap_seconds=frequency_gap,
        retention_seconds=None if oldest is None else (at - oldest).total_seconds(),
        latest_restore_point=max(points) if points else None,
    )


@dataclass(frozen=True)
class RestoreChecks:
    compliant: bool | None
    last_success: dt.datetime | None
    last_duration_seconds: float | None
    ignored: tuple[tuple[str, str], ...] = ()  # (id, why) of implausible stored records
    age_seconds: float | None = None  # from the last successful test to the judgement


def check_restore_tests(
    tests: Iterable[RestoreTest], at: dt.datetime, every: float | None, rto: float | None
) -> RestoreChecks:
    """The last successful restore test is within the interval and took no longer than
    the RTO."""
    good, ignored = [], []
    for t in tests:
        reason = implausible(t, None)
        if reason:
            ignored.append((t.id, reason))
        elif t.status == "success" and t.performed_at <= at:
            good.append(t)
    good.sort(key=lambda t: t.performed_at)
    last = good[-1] if good else None
    if every is None:
        compliant = None
    elif last is None:
        compliant = False
    else:
        recent = (at - last.performed_at).total_seconds() <= every
        fast = rto is None or last.duration_seconds is None or last.duration_seconds <= rto
        compliant = recent and fast
    return RestoreChecks(
        compliant,
        last.performed_at if last else None,
        last.duration_seconds if last else None,
        tuple(ignored),
        (at - last.performed_at).total_seconds() if last else None,
    )
