"""Per-site figures of a period (the report's `sites`): response times of the contract's
targets, RTT and loss to the DUI vs the gateway, minutes in local fault. Pure: the
ledger's rows are arguments; durations are also kept per local day for `daily`."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from collector.ledger.types import ResultRow


def percentile(values: list[float], q: float, ordered: bool = False) -> float | None:
    """Nearest-rank percentile (q in (0, 1]); `ordered` when values are already sorted."""
    if not values:
        return None
    values = values if ordered else sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def p95(values: list[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    return percentile(values, 0.95)


def number(value: object) -> float | None:
    """A JSON value as a float when it is a number (a bool is not)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


_decode = msgspec.json.Decoder(dict).decode  # a month is ~10^5-10^6 of these


def latency_runs(
    bodies: Iterable[tuple[str, bytes]],
) -> Iterator[tuple[str, float | None, float | None]]:
    """(site, mean RTT, loss_ratio) of latency results as the agents sent them."""
    for site, body in bodies:
        data = _decode(body)
        rtt = data.get("rtt_seconds")
        yield (
            site,
            number(rtt.get("avg")) if isinstance(rtt, dict) else None,
            number(data.get("loss_ratio")),
        )


@dataclass
class Durations:
    """Successful contract-result durations per (day index, site), and every result's
    count per site; parts of a period (as the live evaluation reads them) add up."""

    by_day: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)  # every result, failed included

    def site(self, site: str) -> list[float]:
        return [v for (_, s), values in self.by_day.items() if s == site for v in values]

    def add(self, other: Durations) -> None:
        for key, values in other.by_day.items():
            self.by_day.setdefault(key, []).extend(values)
        for site, n in other.results.items():
            self.results[site] = self.results.get(site, 0) + n


class DurationsReader:
    """Takes rows one at a time (so one scan of the ledger can feed the minute records
    too): those of minutes [first, upto); `day_starts` are the UTC minutes each local
    day of the period begins (the first is `first`)."""

    def __init__(self, day_starts: Sequence[int], first: int, upto: int) -> None:
        self.durations = Durations()
        self._starts, self._first, self._upto = day_starts, first, upto
        self._lo, self._hi, self._day = 0, -1, -1  # the last day seen: most rows fall in it

    def add(self, row: ResultRow) -> None:
        minute = row.minute
        if not self._first <= minute < self._upto:
            return
        out = self.durations
        out.results[row.site] = out.results.get(row.site, 0) + 1
        if not row.success or row.duration is None:
            return
        if not self._lo <= minute < self._hi:
            starts = self._starts
            day = self._day = bisect.bisect_right(starts, minute) - 1
            self._lo = starts[day]
            self._hi = starts[day + 1] if day + 1 < len(starts) else self._upto
        out.by_day.setdefault((self._day, row.site), []).append(row.duration)


def collect_durations(
    rows: Iterable[ResultRow], day_starts: Sequence[int], first: int, upto: int
) -> Durations:
    """The durations of rows of minutes [first, upto) (see DurationsReader)."""
    reader = DurationsReader(day_starts, first, upto)
    for row in rows:
        reader.add(row)
    return reader.durations


Sums = dict[str, tuple[float, int, float, int]]  # site → (RTT sum, n, loss sum, n)


def latency_sums(bodies: Iterable[tuple[str, bytes]]) -> Sums:
    """Latency runs summed per site (fsum: no drift over a month); sums of parts add up."""
    rtts: dict[str, list[float]] = {}
    losses: dict[str, list[float]] = {}
    for site, rtt, loss in latency_runs(bodies):
        if rtt is not None:
            rtts.setdefault(site, []).append(rtt)
        if loss is not None:
            losses.setdefault(site, []).append(loss)
    return {
        s: (
            math.fsum(rtts.get(s, ())),
            len(rtts.get(s, ())),
            math.fsum(losses.get(s, ())),
            len(losses.get(s, ())),
        )
        for s in {*rtts, *losses}
    }


def add_sums(parts: Iterable[Sums]) -> Sums:
    out: dict[str, list[float]] = {}
    for part in parts:
        for site, values in part.items():
            acc = out.setdefault(site, [0.0, 0, 0.0, 0])
            for i, v in enumerate(values):
                acc[i] += v
    return {s: (a[0], int(a[1]), a[2], int(a[3])) for s, a in out.items()}


def _means(sums: Sums) -> dict[str, tuple[float | None, float | None]]:
    return {
        s: (r / n if n else None, loss / m if m else None) for s, (r, n, loss, m) in sums.items()
    }


@dataclass(frozen=True)
class SiteFigures:
    name: str
    p50_seconds: float | None
    p95_seconds: float | None
    rtt_seconds: float | None  # mean RTT of the latency runs to the DUI
    gateway_rtt_seconds: float | None
    loss_ratio: float | None
    gateway_loss_ratio: float | None
    local_fault_seconds: int  # in-service minutes the engine put the site in local fault
    results: int


def site_figures(
    durations: Durations,
    dui_latency: Sums,
    gateway_latency: Sums,
    local_minutes: Mapping[str, int],
    names: Mapping[str, str],
) -> dict[str, SiteFigures]:
    """Every site with a contract result, a latency run or a local-fault minute."""
    dui, gateway = _means(dui_latency), _means(gateway_latency)
    out = {}
    for site in sorted({*durations.results, *dui, *gateway, *local_minutes}):
        values = sorted(durations.site(site))
        rtt, loss = dui.get(site, (None, None))
        gateway_rtt, gateway_loss = gateway.get(site, (None, None))
        out[site] = SiteFigures(
            name=names.get(site) or site,
            p50_seconds=percentile(values, 0.5, ordered=True),
            p95_seconds=percentile(values, 0.95, ordered=True),
            rtt_seconds=rtt,
            gateway_rtt_seconds=gateway_rtt,
            loss_ratio=loss,
            gateway_loss_ratio=gateway_loss,
            local_fault_seconds=60 * local_minutes.get(site, 0),
            results=durations.results.get(site, 0),
        )
    return out
