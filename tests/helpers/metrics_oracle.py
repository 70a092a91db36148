"""The test oracle of /metrics: the catalogue's families and samples rendered through
prometheus_client's own writer, to compare the fast exposition with sample for sample."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from collector.metrics.catalogue import BY_NAME, FAMILIES
from collector.metrics.samples import agent_samples, result_samples, shared_samples
from collector.state import Histogram, State


def _family(name: str) -> Metric:
    f = BY_NAME[name]
    if f.type == "counter":
        return CounterMetricFamily(name.removesuffix("_total"), f.help, labels=f.labels)
    if f.type == "histogram":
        return HistogramMetricFamily(name, f.help, labels=f.labels)
    return GaugeMetricFamily(name, f.help, labels=f.labels)


class _Oracle:
    def __init__(self, state: State, now: float) -> None:
        self.state, self.now = state, now

    def collect(self) -> Iterator[Metric]:
        families = {f.name: _family(f.name) for f in FAMILIES}
        s = self.state
        samples = []
        for (org, site, agent), view in s.agents.items():
            ids = (org, site, agent)
            samples += agent_samples(ids, view, s.up(view, self.now))
            for (target, role, probe), (_, r) in view.last.items():
                samples += [
                    (name, (*ids, target, role, *extra), value)
                    for name, extra, value in result_samples(probe, r)
                ]
        samples += shared_samples(s, self.now)
        for name, labels, value in samples:
            family = families[name]
            if isinstance(value, Histogram):
                buckets, running = [], 0
                for bound, count in zip(BY_NAME[name].buckets, value.counts, strict=False):
                    running += count
                    buckets.append((repr(float(bound)), running))
                buckets.append(("+Inf", running + value.counts[-1]))
                family.add_metric(list(labels), buckets, value.total)
            else:
                family.add_metric(list(labels), value)
        yield from families.values()


def registry(state: State, now: float | None = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_Oracle(state, time.time() if now is None else now))  # type: ignore[arg-type]
    return reg
