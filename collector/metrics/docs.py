"""docs/metrics.md, generated from the catalogue: `python -m collector.metrics.docs >
docs/metrics.md` (a test fails when the file in the repo is stale)."""

from __future__ import annotations

from collector.metrics.catalogue import FAMILIES

INTRO = """\
# Metrics

Every family that `dui-collector` exposes on `/metrics`, generated from
`collector/metrics/catalogue.py` (`python -m collector.metrics.docs > docs/metrics.md`).
The names are an interface: dashboards and alert rules depend on them.

- Probe results are the **last value** per agent and target; per-site families
  aggregate all the site's agents.
- Agents silent for `agents.forget_after` (default 24 h) leave the exposition.
- `dui_sla_seconds_total{state}` counts time like `node_cpu_seconds_total{mode}`:
  60 per minute, each minute once, when it becomes final (`ledger.finalize_after`
  after its end), from the collector's first start on. Later corrections go to the
  period figures (`dui_sla_period_seconds`), never back into the counter: use it for
  burn rates, e.g. `rate(dui_sla_seconds_total{state="down"}[1h])`.
- No timestamps, and no URLs, IPs, error texts or sequence numbers in labels.
  Sizing: about 40 series per agent with 4 targets.
- The `process_*` families of the collector's own process come from
  prometheus_client and are not listed here.
"""


def _buckets(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:g}" for v in values)


def markdown() -> str:
    out = [INTRO]
    section = None
    for f in FAMILIES:
        if f.section != section:
            section = f.section
            out.append(f"\n## {section}\n\n| name | type | labels | unit | help |\n")
            out.append("| --- | --- | --- | --- | --- |\n")
        labels = ", ".join(f"`{label}`" for label in f.labels) or "—"
        text = f.help.replace("|", "\\|")
        if f.buckets:
            text += f" (buckets: {_buckets(f.buckets)})"
        out.append(f"| `{f.name}` | {f.type} | {labels} | {f.unit or '—'} | {text} |\n")
    return "".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
