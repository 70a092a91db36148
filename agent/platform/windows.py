"""Windows specifics: the default gateway from `route print`.

`route print -4 0.0.0.0` needs no admin rights and exists on every Windows;
its table is parsed by column position, which does not depend on the UI language.
"""

from __future__ import annotations

import ipaddress
import subprocess


def parse_route_print(text: str) -> str | None:
    """Gateway of the 0.0.0.0/0 route with the lowest metric, or None."""
    best: tuple[int, str] | None = None
    for line in text.splitlines():
        cols = line.split()
        if len(cols) != 5 or cols[0] != "0.0.0.0" or cols[1] != "0.0.0.0":
            continue
        try:
            gateway = ipaddress.IPv4Address(cols[2])
            metric = int(cols[4])
        except ValueError:
            continue  # "On-link" routes have no gateway
        if best is None or metric < best[0]:
            best = (metric, str(gateway))
    return best[1] if best else None


def default_gateway() -> str | None:
    try:
        out = subprocess.run(
            ["route", "print", "-4", "0.0.0.0"],
            capture_output=True,
            text=True,
            timeout=10,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_route_print(out)
