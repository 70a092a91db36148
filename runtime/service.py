"""What the agent and the collector services share at run time: a clean stop on
SIGTERM/SIGINT (Ctrl-C on Windows), and one-line config errors for their commands."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from runtime.configfile import ConfigError

T = TypeVar("T")


def install_stop(stop: asyncio.Event) -> None:
    """Set `stop` on SIGTERM or SIGINT, from inside the running loop."""
    loop = asyncio.get_running_loop()
    if sys.platform == "win32":
        signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(stop.set))
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def load_or_exit(load: Callable[[str], T], path: str, program: str) -> T:
    """The config, or one line on stderr naming the file and the key, and exit 2."""
    try:
        return load(path)
    except ConfigError as exc:
        print(f"{program}: config error: {exc}", file=sys.stderr)
        sys.exit(2)


def config_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The `--config FILE` option every command takes, after its subcommand."""
    import click

    return click.option(
        "--config",
        "-c",
        "config_path",
        required=True,
        metavar="FILE",
        type=click.Path(dir_okay=False),
        help=f"{what} config file (YAML).",
    )
