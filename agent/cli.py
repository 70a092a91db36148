"""Command line of dui-agent: `run` and `check` (README.md).

Exit codes: 0 ok, 1 a probe failed (check), 2 usage or config error — one line,
no traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

import click

from agent import __version__
from agent.config import AgentConfig, load
from runtime import logs
from runtime.service import config_option, load_or_exit

CONFIG = config_option("Agent")


def _load(path: str) -> AgentConfig:
    return load_or_exit(load, path, "dui-agent")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dui-agent")
def cli() -> None:
    """Measure the DUI from this workstation and deliver every result to the collector."""


@cli.command()
@CONFIG
def run(config_path: str) -> None:
    """Run the agent service until SIGTERM or SIGINT (the spool stays intact)."""
    from agent.run import run as run_agent
    from agent.spool import SpoolError

    config = _load(config_path)
    logs.setup(config.log.level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_agent(config))
    except SpoolError as exc:
        click.echo(f"dui-agent: config error: {config_path}: spool.path: {exc}", err=True)
        sys.exit(2)


@cli.command()
@CONFIG
@click.option(
    "--json", "as_json", is_flag=True, help='Print {"results": [...]} in the wire schema.'
)
def check(config_path: str, as_json: bool) -> None:
    """Run every probe once and print the results; exit 1 when one failed."""
    from agent.check import check as run_check
    from agent.check import table

    config = _load(config_path)
    logs.setup("warning")
    results, skipped = asyncio.run(run_check(config))
    if as_json:
        click.echo(json.dumps({"results": results}, ensure_ascii=False, indent=1))
    else:
        click.echo(table(results, skipped))
    sys.exit(0 if all(r["success"] for r in results) else 1)


def main() -> None:
    if sys.argv[1:2] == ["_probe-process"]:  # the probe process of a single-file build
        from agent.probe_process import main as probe_process

        probe_process()
        return
    cli()
