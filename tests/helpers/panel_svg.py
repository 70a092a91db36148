"""Pictures of Grafana panels drawn from what Prometheus answered their queries, as plain
SVG (no plotting library): a time series as one line per series, a state timeline as one
band per series coloured by the panel's value mappings, a stat or table as each series'
last value (mapped to its text when the panel maps it). For the docs, from the
end-to-end test's data; not Grafana's rendering (no threshold colours).
"""

from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path

WIDTH, HEIGHT, PAD = 520, 260, 44
COLORS = ("#7eb26d", "#eab839", "#6ed0e0", "#ef843c", "#e24d42", "#1f78c1", "#ba43a9", "#705da0")
NAMED = {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c", "text": "#ccccdc"}


def mapped(panel: dict, value: float) -> tuple[str, str] | None:
    """(text, colour) of the panel's value mapping for `value`, if it has one."""
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    for mapping in defaults.get("mappings") or []:
        if mapping.get("type") == "value":
            hit = mapping.get("options", {}).get(f"{value:g}")
            if hit:
                colour = hit.get("color", "text")
                return hit.get("text", f"{value:g}"), NAMED.get(colour, colour)
    return None


def legend(fmt: str, labels: dict[str, str]) -> str:
    """Grafana's legendFormat ({{label}}) filled in; the labels when there is none."""
    if fmt:
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "value"


def number(value: float, unit: str) -> str:
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    if unit == "percentunit":
        return f"{value * 100:.2f} %"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.3g} s"
    if unit in ("Bps", "bytes", "decbytes"):
        for scale, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}B{'/s' if unit == 'Bps' else ''}"
    return f"{value:.4g}"


def panel_svg(panel: dict, series: list[tuple[str, list[tuple[float, float]]]]) -> str:
    """One panel; `series` is (legend, [(unix time, value)]) per series, in query order."""
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit") or ""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#181b1f"/>',
        f'<text x="8" y="16" fill="#ccccdc" font-size="13">{escape(panel.get("title", ""))}</text>',
    ]
    series = [(name, [(t, v) for t, v in points if math.isfinite(v)]) for name, points in series]
    series = [(name, points) for name, points in series if points]
    if panel.get("type") == "timeseries":
        out += _lines(series, unit)
    elif panel.get("type") == "state-timeline":
        out += _bands(panel, series)
    else:
        for i, (name, points) in enumerate(series[:8]):
            y = 44 + i * 22
            value, color = mapped(panel, points[-1][1]) or (
                number(points[-1][1], unit),
                COLORS[i % len(COLORS)],
            )
            out.append(f'<text x="12" y="{y}" fill="#ccccdc">{escape(name)}</text>')
            out.append(f'<text x="{WIDTH - 12}" y="{y}" fill="{color}" font-size="15" ')
            out[-1] += f'text-anchor="end">{escape(value)}</text>'
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _bands(panel: dict, series: list[tuple[str, list[tuple[float, float]]]]) -> list[str]:
    times = [t for _, points in series for t, _ in points]
    if not times:
        return []
    t0, t1 = min(times), max(times)
    left, right, out, seen = 150, WIDTH - 10, [], {}
    step = (right - left) / (t1 - t0 + 1)  # one band a second: the range queries' step
    for row, (name, points) in enumerate(series[:8]):
        y = 30 + row * 26
        out.append(f'<text x="8" y="{y + 15}" fill="#ccccdc">{escape(name[:22])}</text>')
        for t, v in points:
            text, colour = mapped(panel, v) or (f"{v:g}", "#8e8e8e")
            seen[text] = colour
            x = left + (t - t0) * step
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{step + 0.5:.1f}" height="20" fill="{colour}"/>'
            )
    for i, (text, colour) in enumerate(seen.items()):
        x, y = 12 + i * 120, HEIGHT - 12
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="8" fill="{colour}"/>')
        out.append(f'<text x="{x + 14}" y="{y}" fill="#ccccdc">{escape(text)}</text>')
    return out


def _lines(series: list[tuple[str, list[tuple[float, float]]]], unit: str) -> list[str]:
    if not series:
        return []
    times = [t for _, points in series for t, _ in points]
    values = [v for _, points in series for _, v in points]
    t0, t1 = min(times), max(times) or 1
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1
    left, right, top, bottom = PAD + 20, WIDTH - 10, 28, HEIGHT - 76

    def xy(t: float, v: float) -> str:
        x = left + (right - left) * (t - t0) / ((t1 - t0) or 1)
        y = bottom - (bottom - top) * (v - low) / (high - low)
        return f"{x:.1f},{y:.1f}"

    out = [
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/>',
        f'<text x="{left - 4}" y="{top + 4}" fill="#8e8e8e" text-anchor="end">'
        f"{escape(number(high, unit))}</text>",
        f'<text x="{left - 4}" y="{bottom}" fill="#8e8e8e" text-anchor="end">'
        f"{escape(number(low, unit))}</text>",
        f'<text x="{right}" y="{bottom + 14}" fill="#8e8e8e" text-anchor="end">'
        f"{t1 - t0:.0f} s</text>",
    ]
    for i, (name, points) in enumerate(series[:8]):
        color = COLORS[i % len(COLORS)]
        path = " ".join(xy(t, v) for t, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        x, y = 12 + (i % 2) * (WIDTH // 2), bottom + 30 + (i // 2) * 14
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{x + 14}" y="{y}" fill="#ccccdc">{escape(name[:38])}</text>')
    return out


def write_pictures(found: list, folder: Path, page: Path, intro: str) -> None:
    """One SVG per panel (from grafana.answers' Answers) in `folder`, and a Markdown `page`
    that shows them dashboard by dashboard under `intro`."""
    folder.mkdir(parents=True, exist_ok=True)
    by_panel: dict[tuple[str, int], list] = {}
    for answer in found:
        if answer.target:
            by_panel.setdefault((answer.file, id(answer.panel)), []).append(answer)
    lines = [intro.rstrip() + "\n"]
    current = None
    for (file, _), group in by_panel.items():
        if file != current:
            lines.append(f"\n## {file}\n")
            current = file
        panel = group[0].panel
        series = [
            (
                legend(a.target.get("legendFormat", ""), s.get("metric", {})),
                [(float(t), float(v)) for t, v in s.get("values", [s.get("value")])],
            )
            for a in group
            for s in a.samples
        ]
        name = f"{file.removesuffix('.json')}-{panel.get('id', 0)}.svg"
        (folder / name).write_text(panel_svg(panel, series), encoding="utf-8")
        rel = folder.relative_to(page.parent) / name
        lines.append(f"\n![{panel.get('title', '')}]({rel.as_posix()})\n")
    page.write_text("".join(lines), encoding="utf-8")
