"""Command line of dui-dashboards (README.md): the Grafana dashboards and their
provisioning files, and `rules`, the Prometheus rules file, both from the collector config.

Exit codes: 0 ok, 1 a file could not be written, 2 usage or config error — one line naming
the file and the key.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import click

from collector.config import CollectorConfig, load
from runtime.service import config_option, load_or_exit
from runtime.version import VERSION as __version__

LANG_OPTION = click.option(
    "--lang",
    type=click.Choice(["fr", "en"]),
    default="fr",
    show_default=True,
    help="Language of titles, descriptions and alert texts.",
)


def _load(path: str) -> CollectorConfig:
    # the collector's secret files (mode 0600) are none of our business: run without sudo
    return load_or_exit(partial(load, files=False), path, "dui-dashboards")


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        click.echo(f"dui-dashboards: error: cannot write {path}: {exc.strerror}", err=True)
        sys.exit(1)


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
DIR receives:
  dui-overview.json, dui-site.json, dui-fleet.json, dui-evidence.json,
  dui-readiness.json, dui-pilot.json
      → copy to the --dashboards-path folder on the Grafana host
  provisioning/datasources/dui-prometheus.yaml
      → /etc/grafana/provisioning/datasources/
  provisioning/dashboards/dui.yaml
      → /etc/grafana/provisioning/dashboards/
Then restart Grafana (docs/dashboards.md).""",
)
@click.version_option(__version__, prog_name="dui-dashboards")
@click.option(
    "--config",
    "-c",
    "config_path",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Collector config file (YAML).",
)
@click.option(
    "--out", metavar="DIR", type=click.Path(file_okay=False), help="Write the files here."
)
@LANG_OPTION
@click.option(
    "--prometheus-url",
    default="http://127.0.0.1:9090",
    show_default=True,
    metavar="URL",
    help="Prometheus as Grafana reaches it (the provisioned datasource).",
)
@click.option(
    "--dashboards-path",
    default="/var/lib/grafana/dashboards/dui",
    show_default=True,
    metavar="DIR",
    help="Where Grafana reads the dashboards' JSON (the provider's path).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    out: str | None,
    lang: str,
    prometheus_url: str,
    dashboards_path: str,
) -> None:
    """Grafana dashboards (overview, site, fleet, SLA evidence) and their provisioning
    files, generated from the collector config; `rules` writes the Prometheus rules."""
    if ctx.invoked_subcommand is not None:
        return
    if not config_path or not out:
        raise click.UsageError("give --config FILE and --out DIR (or a command: rules)")
    from dashboards import provisioning
    from dashboards.build import build_dashboards, dump

    config = _load(config_path)
    directory = Path(out)
    written = []
    for name, dashboard in build_dashboards(config, lang).items():
        _write(directory / name, dump(dashboard))
        written.append(name)
    for name, text in provisioning.files(prometheus_url, dashboards_path).items():
        _write(directory / name, text)
        written.append(name)
    click.echo(f"{len(written)} files written to {directory}: {', '.join(written)}")


@cli.command()
@config_option("Collector")
@click.option("--out", required=True, metavar="FILE", type=click.Path(dir_okay=False))
@LANG_OPTION
def rules(config_path: str, out: str, lang: str) -> None:
    """The Prometheus recording and alert rules file (rule_files: in prometheus.yml)."""
    config = _load(config_path)
    try:
        from dashboards.rules import build_rules  # lands with its own part of the work
    except ModuleNotFoundError:
        click.echo("dui-dashboards: rules: not available in this version", err=True)
        sys.exit(2)
    _write(Path(out), build_rules(config, lang))
    click.echo(f"rules written to {out}")


def main() -> None:
    cli()
