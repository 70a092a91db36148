"""Linux specifics: the default gateway from /proc/net/route."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

ROUTE_FILE = Path("/proc/net/route")


def parse_route_table(text: str) -> str | None:
    """Gateway of the default IPv4 route with the lowest metric, or None."""
    best: tuple[int, str] | None = None
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        destination, gateway, flags, metric = cols[1], cols[2], int(cols[3], 16), int(cols[6])
        route_up, route_gateway = 0x1, 0x2
        if destination != "00000000" or not flags & route_up or not flags & route_gateway:
            continue
        address = socket.inet_ntoa(struct.pack("<I", int(gateway, 16)))
        if best is None or metric < best[0]:
            best = (metric, address)
    return best[1] if best else None


def default_gateway() -> str | None:
    try:
        return parse_route_table(ROUTE_FILE.read_text())
    except OSError:
        return None
