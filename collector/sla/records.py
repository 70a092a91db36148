"""Which results a contract is judged on, and the one rule for a failed result: the
ledger's rows of a period become per-minute, per-site evidence for the engine."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from collector.ledger.types import ResultRow
from collector.sla.engine import NO_REFERENCES, REFERENCE_ROLES, SiteMinute

CONTRACT_PROBES = ("http", "scenario")  # what a contract's targets are judged on


def failed(success: bool, duration: float | None, slow_threshold: float) -> bool:
    """A contract result counts as failed when it failed or was slower than the threshold."""
    return not success or (duration or 0.0) > slow_threshold


def minute_records(
    rows: Iterable[ResultRow], targets: Iterable[str], slow_threshold: float
) -> dict[int, dict[str, SiteMinute]]:
    """Per UTC minute and site: the contract's results, how many failed, and each
    reference role's (results, failures)."""
    wanted = set(targets)
    raw: dict[int, dict[str, list[Any]]] = {}
    for row in rows:
        entry = raw.setdefault(row.minute, {}).setdefault(row.site, [0, 0, None])
        if row.target in wanted and row.probe in CONTRACT_PROBES:
            entry[0] += 1
            entry[1] += failed(row.success, row.duration, slow_threshold)
        elif row.role in REFERENCE_ROLES:
            if entry[2] is None:
                entry[2] = {}
            total, bad = entry[2].get(row.role, (0, 0))
            entry[2][row.role] = (total + 1, bad + (0 if row.success else 1))
    return {
        m: {
            s: _site_minute(e[0], e[1], tuple(sorted(e[2].items())) if e[2] else ())
            for s, e in sites.items()
        }
        for m, sites in raw.items()
    }


@lru_cache(maxsize=1 << 16)
def _site_minute(results: int, bad: int, references: tuple) -> SiteMinute:
    """Shared instances: most minutes of most sites look alike, and a month holds
    minutes × sites of them."""
    refs = MappingProxyType(dict(references)) if references else NO_REFERENCES
    return SiteMinute(results, bad, refs)
