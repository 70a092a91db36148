"""Command line of dui-collector (DESIGN.md §3): `run` and `trial` in this version.

Exit codes: 0 ok, 2 usage or config error — one line naming the file and the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import click

from agent import __version__
from collector.config import CollectorConfig, ConfigError, load
from wire import logs


def _load(path: str) -> CollectorConfig:
    try:
        return load(path)
    except ConfigError as exc:
        click.echo(f"dui-collector: config error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dui-collector")
def cli() -> None:
    """Collect the agents' results, expose them to Prometheus, hold the DUI to its contract."""


@cli.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Collector config file (YAML).",
)
def run(config_path: str) -> None:
    """Run the collector service until SIGTERM or SIGINT."""
    from collector.run import run as run_collector

    config = _load(config_path)
    logs.setup(config.log.level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_collector(config))
    except OSError as exc:  # a port in use, a ledger path that cannot be created…
        click.echo(f"dui-collector: error: {exc}", err=True)
        sys.exit(1)


@cli.command()
@click.option(
    "--dui-url", metavar="URL", help="The DUI page to measure (default: a local stand-in page)."
)
@click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="Keep the trial's files here (default: a temporary directory).",
)
@click.option(
    "--mqtt-port",
    default=1883,
    show_default=True,
    help="Embedded broker port (another free one if taken).",
)
@click.option(
    "--http-port", default=9108, show_default=True, help="HTTP port (another free one if taken)."
)
def trial(dui_url: str | None, directory: str | None, mqtt_port: int, http_port: int) -> None:
    """Embedded broker, SQLite ledger, collector and a local agent: nothing to configure."""
    from collector.trial import main as run_trial

    if dui_url is not None and not dui_url.startswith(("http://", "https://")):
        raise click.BadParameter("write an http:// or https:// URL", param_hint="--dui-url")
    logs.setup("warning")
    with contextlib.suppress(KeyboardInterrupt):
        run_trial(dui_url, directory, mqtt_port, http_port)


def main() -> None:
    cli()
