"""What a Grafana dashboard asks Prometheus, asked of a real one: template variables
resolved as Grafana resolves them (label_values through the label API; All when the
variable has it), then every panel's query, a range query over the given span unless the
target is instant, as Grafana runs a time series or stat panel.

    found = list(answers(prom, {"dui-site.json": dashboard}, since=start_of_test))
    assert empty_queries(found) == []
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from typing import NamedTuple

from dashboards.build import panel_queries
from tests.helpers.prometheus import Prometheus


class Answer(NamedTuple):
    file: str
    panel: dict
    target: dict
    expr: str  # as asked, variables substituted
    samples: list[dict]


# Grafana's own variables, at values that cover the whole test in Prometheus's time
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}


def substitute(text: str, values: dict[str, str]) -> str:
    """Grafana's variable syntaxes ($name, ${name}, ${name:fmt}, [[name]]) replaced."""

    def value(match: re.Match) -> str:
        name = next(g for g in match.groups() if g)
        return values.get(name, match.group(0))

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", value, text)


def variable_values(prom: Prometheus, dashboard: dict) -> tuple[dict[str, str], list[str]]:
    """A value per template variable as Grafana would pick it (All when it may, else the
    first value Prometheus lists), and the variables that list nothing."""
    values, empty = dict(BUILTINS), []
    for var in dashboard.get("templating", {}).get("list", []):
        name, kind, query = var["name"], var.get("type"), var.get("query")
        if isinstance(query, dict):
            query = query.get("query", "")
        if kind == "datasource":
            values[name] = "prometheus"
            continue
        if kind == "query":
            query = substitute(query or "", values)
            found = re.fullmatch(r"\s*label_values\((?:(.*),)?\s*(\w+)\s*\)\s*", query)
            assert found, f"{dashboard.get('uid')}: variable {name}: query {query!r}"
            options = prom.label_values(found.group(2), found.group(1))
        else:  # custom, interval, constant: comma-separated options
            options = [o.strip() for o in str(query or "").split(",") if o.strip()]
        if not options:
            empty.append(name)
            continue
        all_value = var.get("allValue") or "|".join(re.escape(o) for o in options)
        values[name] = all_value if var.get("includeAll") else options[0]
    return values, empty


def finite(samples: list[dict]) -> bool:
    values = [s["value"][1] for s in samples if "value" in s]
    values += [v for s in samples for _, v in s.get("values", [])]
    return any(math.isfinite(float(v)) for v in values)


def answers(prom: Prometheus, dashboards: dict[str, dict], since: float) -> Iterator[Answer]:
    """What Prometheus answers each panel query: an instant target at the end, the others
    over [since, now], as Grafana asks (a panel that shows the last minutes before an
    outage has data). A variable that lists nothing comes as an Answer without a panel."""
    now = time.time()
    for file, dashboard in sorted(dashboards.items()):
        values, no_values = variable_values(prom, dashboard)
        for name in no_values:
            yield Answer(file, {"title": f"variable ${name}"}, {}, "", [])
        for panel, target in panel_queries(dashboard):
            expr = substitute(target["expr"], values)
            if target.get("instant"):
                samples = prom.query(expr)
            else:
                samples = prom.query_range(expr, since, now)
            yield Answer(file, panel, target, expr, samples)


def empty_queries(found: list[Answer]) -> list[str]:
    """The answers without a sample with a value, as 'file: panel refId: expr'."""
    return [
        f"{a.file}: {a.panel.get('title')!r} {a.target.get('refId', '')}: {a.expr}"
        for a in found
        if not finite(a.samples)
    ]
