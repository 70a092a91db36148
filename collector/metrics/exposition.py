"""/metrics in the Prometheus text format, written from the catalogue.

prometheus_client renders ~200,000 series in ≈ 1.7 s here; the quality bar is ≤ 1 s at
5,000 agents. So the per-agent lines are formatted once per result and kept until that
agent's next result replaces it; the rest (per site, collector, contracts) is few series.
The process_* families still come from prometheus_client's ProcessCollector.
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from collector.metrics.catalogue import BY_NAME, FAMILIES, INDEX, TARGET, Family
from collector.metrics.samples import Value, agent_samples, result_samples, shared_samples
from collector.state import Histogram, State
from wire.schema import Result


def _value(v: float) -> str:
    return repr(float(v))


def escape(text: str) -> str:
    if "\\" not in text and '"' not in text and "\n" not in text:
        return text  # ids, targets and roles: their patterns exclude all three
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(family: Family, values: tuple[str, ...], extra: str = "") -> str:
    pairs = [f'{k}="{escape(v)}"' for k, v in zip(family.labels, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


@lru_cache(maxsize=4096)  # the extra labels of result lines: phases, directions, probes
def _extra(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return _prefix(names, values)


def _prefix(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    return ",".join(f'{k}="{escape(v)}"' for k, v in zip(names, values, strict=True))


def result_lines(target: tuple[str, ...], probe: str, r: Result) -> list[tuple[int, str]]:
    """(family index, line) of one agent's last result of one probe: the TARGET labels
    are escaped once for all its lines."""
    prefix = _prefix(TARGET, target)
    out = []
    for name, extra, value in result_samples(probe, r):
        names = BY_NAME[name].labels[len(TARGET) :]
        labels = f"{prefix},{_extra(names, extra)}" if extra else prefix
        out.append((INDEX[name], f"{name}{{{labels}}} {_value(value)}"))
    return out


def sample_lines(name: str, values: tuple[str, ...], value: Value) -> list[str]:
    """The text lines of one sample (a histogram's buckets, sum and count)."""
    family = BY_NAME[name]
    if not isinstance(value, Histogram):
        return [f"{name}{_labels(family, values)} {_value(value)}"]
    lines, running = [], 0
    for bound, count in zip(family.buckets, value.counts, strict=False):
        running += count
        le = _labels(family, values, f'le="{float(bound)!r}"')
        lines.append(f"{name}_bucket{le} {running}.0")
    running += value.counts[-1]
    le = _labels(family, values, 'le="+Inf"')
    lines.append(f"{name}_bucket{le} {running}.0")
    lines.append(f"{name}_sum{_labels(family, values)} {_value(value.total)}")
    lines.append(f"{name}_count{_labels(family, values)} {running}.0")
    return lines


def header(family: Family) -> str:
    return f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.type}\n"


class Exposition:
    def __init__(self, state: State) -> None:
        self.state = state
        # (org, site, agent, slot) → (the result, its (family index, line) pairs)
        self._lines: dict[tuple[Any, ...], tuple[Result, list[tuple[int, str]]]] = {}
        self._process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self._process)

    def render(self, now: float | None = None) -> bytes:
        s = self.state
        now = time.time() if now is None else now
        families: list[list[str]] = [[] for _ in FAMILIES]
        live = 0
        for (org, site, agent), view in s.agents.items():
            ids = (org, site, agent)
            for name, values, value in agent_samples(ids, view, s.up(view, now)):
                families[INDEX[name]].extend(sample_lines(name, values, value))
            for slot, (_, r) in view.last.items():
                live += 1
                key = (org, site, agent, slot)
                cached = self._lines.get(key)
                if cached is None or cached[0] is not r:
                    target, role, probe = slot
                    lines = result_lines((*ids, target, role), probe, r)
                    cached = self._lines[key] = (r, lines)
                for index, line in cached[1]:
                    families[index].append(line)
        if len(self._lines) > 2 * live + 1000:  # forgotten agents: drop their cached lines
            self._lines.clear()
        for name, values, value in shared_samples(s, now):
            families[INDEX[name]].extend(sample_lines(name, values, value))
        parts = []
        for family, lines in zip(FAMILIES, families, strict=True):
            parts.append(header(family))
            if lines:
                parts.append("\n".join(lines))
                parts.append("\n")
        return "".join(parts).encode() + generate_latest(self._process)
