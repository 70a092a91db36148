"""The few grafanalib building blocks every dashboard uses: the datasource variable, the
template variables, the panels in a flowing 24-column grid, titles and descriptions from
the strings table (dashboards/strings.json, every key in French and English)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from grafanalib.core import (
    GridPos,
    RowPanel,
    Stat,
    StateTimeline,
    Table,
    Target,
    Template,
    TimeSeries,
)

LANGS = ("fr", "en")
STRINGS = Path(__file__).with_name("strings.json")
DS = {"type": "prometheus", "uid": "${datasource}"}  # every panel and query uses the variable
WIDTH = 24

Kind = Literal["stat", "timeseries", "timeline", "table"]


@cache
def strings() -> dict[str, dict[str, str]]:
    return json.loads(STRINGS.read_text(encoding="utf-8"))


def text(key: str, lang: str) -> str:
    return strings()[key][lang]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False  # tables read the value now, as a table


@dataclass(frozen=True)
class Spec:
    """One panel: `key` names its title (`key.title`) and description (`key.description`)."""

    key: str
    kind: Kind
    queries: tuple[Query, ...]
    unit: str = "none"
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)
    overrides: tuple[dict[str, Any], ...] = ()
    mappings: tuple[dict[str, Any], ...] = ()
    minmax: tuple[float, float] | None = None
    stack: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def steps(*pairs: tuple[str, float | None]) -> list[dict[str, Any]]:
    return [{"color": color, "value": value} for color, value in pairs]


def by_name(name: str, **properties: Any) -> dict[str, Any]:
    """A field override for the series displayed as `name` (a contract id, by its legend)."""
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": key, "value": value} for key, value in properties.items()],
    }


def threshold_value(*pairs: tuple[str, float | None]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": steps(*pairs)}


def variable(
    name: str, query: str, lang: str, default: list[str] | None = None, *, multi: bool = True
) -> Template:
    """A multi-valued query variable with "All" = `.*`, refreshed with the time range;
    `multi=False`: one value at a time, no "All" (`default` its first value)."""
    chosen = default or (["$__all"] if multi else [])
    template = Template(
        name=name,
        label=text(f"var.{name}", lang),
        query=query,
        dataSource=DS,
        multi=multi,
        includeAll=multi,
        allValue=".*" if multi else None,
        refresh=2,
        sort=1,
    )
    if multi:
        current: dict[str, Any] = {
            "selected": True,
            "text": ["All"] if chosen == ["$__all"] else chosen,
            "value": chosen,
        }
    else:  # Grafana keeps a single value as a string; none given: it takes the first listed
        current = {"selected": True, "text": chosen[0], "value": chosen[0]} if chosen else {}
    template._current = current  # type: ignore[attr-defined] - a list is what Grafana keeps for multi
    return template


def datasource_variable(lang: str) -> Template:
    return Template(
        name="datasource",
        label=text("var.datasource", lang),
        type="datasource",
        query="prometheus",
        default="Prometheus",
    )


class Page:
    """Panels in reading order: each takes its width, and a new line when the row is full."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.panels: list[Any] = []
        self.x = self.y = self.line = 0

    def _pos(self, width: int, height: int) -> GridPos:
        if self.x + width > WIDTH:
            self.x, self.y = 0, self.y + self.line
            self.line = 0
        pos = GridPos(h=height, w=width, x=self.x, y=self.y)
        self.x += width
        self.line = max(self.line, height)
        return pos

    def row(self, key: str) -> None:
        if self.x:
            self.x, self.y, self.line = 0, self.y + self.line, 0
        self.panels.append(
            RowPanel(
                title=text(key, self.lang),
                gridPos=self._pos(WIDTH, 1),
                id=len(self.panels) + 1,
            )
        )
        self.x, self.y, self.line = 0, self.y + 1, 0

    def add(self, spec: Spec) -> None:
        targets = [
            Target(
                expr=q.expr,
                legendFormat=q.legend,
                refId=chr(ord("A") + i),
                datasource=DS,
                instant=q.instant,
                format="table" if q.instant else "time_series",
            )
            for i, q in enumerate(spec.queries)
        ]
        common: dict[str, Any] = {
            "title": text(f"{spec.key}.title", self.lang),
            "description": text(f"{spec.key}.description", self.lang),
            "dataSource": DS,
            "targets": targets,
            "gridPos": self._pos(spec.width, spec.height),
            "id": len(self.panels) + 1,
            "thresholds": steps(*spec.thresholds),
            "overrides": list(spec.overrides),
            "mappings": list(spec.mappings),
        }
        extra: dict[str, Any] = {"fieldConfig": {"defaults": {}}}
        if spec.minmax is not None:
            extra["fieldConfig"]["defaults"].update(min=spec.minmax[0], max=spec.minmax[1])
        _merge(extra, spec.extra)
        panel: Any
        if spec.kind == "stat":
            panel = Stat(
                format=spec.unit,
                reduceCalc="lastNotNull",
                graphMode="none",
                noValue="—",
                extraJson=extra,
                **common,
            )
        elif spec.kind == "timeseries":
            panel = TimeSeries(
                unit=spec.unit,
                legendDisplayMode="table",
                legendCalcs=["lastNotNull", "max"],
                thresholdsStyleMode="line" if len(spec.thresholds) > 1 else "off",
                stacking={"mode": "normal", "group": "A"} if spec.stack else {},
                fillOpacity=30 if spec.stack else 0,
                extraJson=extra,
                **common,
            )
        elif spec.kind == "timeline":
            panel = StateTimeline(extraJson=extra, **common)
        else:
            panel = Table(
                unit=spec.unit,
                transformations=[
                    {"id": "merge", "options": {}},
                    {"id": "organize", "options": {"excludeByName": {"Time": True}}},
                ],
                extraJson=extra,
                **common,
            )
        self.panels.append(panel)


def _merge(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
