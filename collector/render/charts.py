"""The report's charts: daily availability vs the objective, daily p95 by site and the
incident timeline, drawn by matplotlib's SVG backend and inlined in the HTML. Text
stays text (svg.fonttype none), the output is deterministic (fixed hash salt, no date)
so a golden test is stable, and every tick is formatted by `formats` in the report's
language. matplotlib is imported here only, when a report is drawn."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from markupsafe import Markup

from collector.render import formats

PASS, FAIL, INK, GRID = "#1a7f37", "#cf222e", "#24292f", "#d0d7de"
ATTRIBUTION_COLOURS = {"vendor": FAIL, "local": "#bf8700", "unknown": "#8c959f"}
SITE_COLOURS = ("#0969da", "#8250df", "#bf3989", "#1a7f37", "#bc4c00", "#57606a")
RC = {
    "svg.fonttype": "none",  # text stays text: searchable, selectable, extracted by pdftotext
    "svg.hashsalt": "dui-sla",  # fixed ids: the same report gives the same bytes
    "text.parse_math": False,  # a site named "Budget $5 et $6" is text, not TeX
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.edgecolor": GRID,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": INK,
    "ytick.color": INK,
}
# no date (stable bytes), no creator URL or version (nothing to fetch, nothing that moves)
NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
WIDTH = 7.0  # inches: the A4 text width at the report's margins


def _svg(fig: Any) -> Markup:
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata=NO_METADATA, bbox_inches="tight")
    text = out.getvalue()
    return Markup(text[text.index("<svg") :])  # matplotlib's own SVG, trusted


def _figure(height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height))


def _day_ticks(ax: Any, days: list[dt.date], lang: str) -> None:
    every = -(-len(days) // 8)  # at most 8 labels: a day label is wide
    positions = list(range(0, len(days), every))
    ax.set_xticks(positions, [formats.tick_day(days[i], lang) for i in positions])
    ax.set_xlim(-0.6, len(days) - 0.4)


def availability_chart(daily: list[dict], objective: float, t: dict, lang: str) -> Markup:
    from matplotlib.ticker import FuncFormatter

    days = [dt.date.fromisoformat(d["date"]) for d in daily]
    values = [d.get("availability") for d in daily]
    known = [v for v in values if v is not None]
    low = min([objective, *known]) if known else objective
    floor = max(0.0, low - max(0.002, (1 - low) * 0.3))
    fig = _figure(2.3)
    ax = fig.add_subplot()
    ax.bar(
        range(len(days)),
        [v - floor if v is not None else 0 for v in values],
        bottom=floor,
        color=[PASS if v is not None and v >= objective else FAIL for v in values],
        width=0.7,
    )
    ax.axhline(objective, color=INK, linestyle="--", linewidth=1)
    ax.set_ylim(floor, 1.0)
    digits = 1 if 1 - floor > 0.02 else 2
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formats.percent(v, lang, digits)))
    ax.grid(axis="y", color=GRID, linewidth=0.5)
    ax.set_axisbelow(True)
    _day_ticks(ax, days, lang)
    title = t["chart_availability"].format(objective=formats.percent(objective, lang))
    ax.set_title(title, loc="left", fontsize=9)
    return _svg(fig)


def p95_chart(daily: list[dict], names: dict[str, str], t: dict, lang: str) -> Markup | None:
    from matplotlib.ticker import FuncFormatter

    days = [dt.date.fromisoformat(d["date"]) for d in daily]
    sites = sorted(
        {s for d in daily for s, v in (d.get("p95_seconds") or {}).items() if v is not None}
    )
    if not sites:
        return None
    fig = _figure(2.3)
    ax = fig.add_subplot()
    for n, site in enumerate(sites):
        ys = [(d.get("p95_seconds") or {}).get(site) for d in daily]
        ys = [float("nan") if y is None else y for y in ys]
        ax.plot(
            range(len(days)),
            ys,
            marker="o",
            markersize=3,
            linewidth=1.2,
            color=SITE_COLOURS[n % len(SITE_COLOURS)],
            label=names.get(site, site),
        )
    top = max((y for d in daily for y in (d.get("p95_seconds") or {}).values() if y), default=1)
    ax.set_ylim(0, top * 1.35)  # headroom: the legend sits above the lines
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: formats.number(v, lang, 1)))
    ax.set_ylabel(t["chart_seconds"])
    ax.grid(axis="y", color=GRID, linewidth=0.5)
    ax.legend(loc="upper left", fontsize=7, frameon=False, ncols=min(len(sites), 4))
    _day_ticks(ax, days, lang)
    ax.set_title(t["chart_p95"], loc="left", fontsize=9)
    return _svg(fig)


def timeline_chart(
    incidents: list[dict],
    names: dict[str, str],
    start: dt.datetime,
    end: dt.datetime,
    zone: dt.tzinfo,
    t: dict,
    lang: str,
) -> Markup:
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator, FuncFormatter

    span = (end - start).total_seconds()
    sites = sorted({s for i in incidents for s in i.get("sites") or []}) or ["—"]
    fig = _figure(0.6 + 0.3 * len(sites))
    ax = fig.add_subplot()
    for i in incidents:
        at = (dt.datetime.fromisoformat(i["start"]) - start).total_seconds()
        width = max(i["duration_seconds"], span / 300)  # a short incident stays visible
        colour = ATTRIBUTION_COLOURS.get(i.get("attribution"), INK)
        for site in i.get("sites") or ["—"]:
            ax.broken_barh([(at, width)], (sites.index(site) - 0.35, 0.7), color=colour)
    ax.set_yticks(range(len(sites)), [names.get(s, s) for s in sites])
    ax.set_ylim(-0.6, len(sites) - 0.4)
    ax.invert_yaxis()
    ax.set_xlim(0, span)
    local = start.astimezone(zone)
    if span <= 2 * 86400:
        first = local.replace(minute=0, second=0, microsecond=0)
        step = 3 * 3600 if span > 12 * 3600 else 3600
        ticks = [(first - local).total_seconds() + k * step for k in range(int(span // step) + 2)]

        def label(x: float, _: Any) -> str:
            return formats.tick_time(start + dt.timedelta(seconds=x), zone, lang)
    else:
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        days = int(span // 86400) + 2
        every = max(1, days // 10)
        ticks = [
            (midnight + dt.timedelta(days=k) - local).total_seconds() for k in range(0, days, every)
        ]

        def label(x: float, _: Any) -> str:
            return formats.tick_day((start + dt.timedelta(seconds=x)).astimezone(zone), lang)

    ax.xaxis.set_major_locator(FixedLocator([x for x in ticks if 0 <= x <= span]))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.grid(axis="x", color=GRID, linewidth=0.5)
    ax.set_axisbelow(True)
    used = sorted({i.get("attribution") for i in incidents} & set(ATTRIBUTION_COLOURS))
    ax.legend(
        handles=[Patch(color=ATTRIBUTION_COLOURS[a], label=t[f"attr_{a}"]) for a in used],
        loc="upper left",
        bbox_to_anchor=(0, -0.25 if len(sites) < 3 else -0.12),
        fontsize=7,
        frameon=False,
        ncols=3,
    )
    ax.set_title(t["chart_timeline"], loc="left", fontsize=9)
    return _svg(fig)


def report_charts(
    doc: dict[str, Any],
    zone: dt.tzinfo,
    start: dt.datetime,
    end: dt.datetime,
    t: dict[str, str],
    lang: str,
) -> dict[str, Markup | None]:
    """The three charts, each None when the document has no data for it."""
    import matplotlib

    with matplotlib.rc_context(RC):
        daily = doc.get("daily") or []
        names = {k: (v or {}).get("name") or k for k, v in (doc.get("sites") or {}).items()}
        incidents = doc.get("incidents") or []
        return {
            "availability": availability_chart(daily, doc["objective"], t, lang)
            if daily and any(d.get("availability") is not None for d in daily)
            else None,
            "p95": p95_chart(daily, names, t, lang) if daily else None,
            "timeline": timeline_chart(incidents, names, start, end, zone, t, lang)
            if incidents
            else None,
        }
