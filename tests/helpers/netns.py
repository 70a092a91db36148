"""delaywire links between two network namespaces, for measurements across a known delay."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator

from tests.helpers import ROOT

DELAYWIRE = ROOT / "tools" / "delaywire.py"


def netns_unavailable() -> str | None:
    """Why network namespaces cannot be built here, or None if they can."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux to build network namespaces"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if not shutil.which("ip"):
        return "no ip command (iproute2)"
    if not DELAYWIRE.exists():
        return f"{DELAYWIRE} not found"
    return None


class Wire:
    """A delaywire link: client namespace `{name}-a` (198.18.0.1) and server `{name}-b`."""

    client_addr = "198.18.0.1"
    server_addr = "198.18.0.2"

    def __init__(self, name: str) -> None:
        self.name = name
        self.client_ns = f"{name}-a"
        self.server_ns = f"{name}-b"

    def up(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(DELAYWIRE), "up", "--name", self.name, *args],
            check=True,
            timeout=60,
            capture_output=True,
        )

    def down(self) -> None:
        subprocess.run(
            [sys.executable, str(DELAYWIRE), "down", "--name", self.name],
            timeout=60,
            capture_output=True,
        )

    def in_client(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.client_ns, *cmd]

    def in_server(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.server_ns, *cmd]


def wire_factory() -> Iterator[Callable[..., Wire]]:
    """Yields make(*delaywire_up_args): a new link; all are taken down afterwards."""
    wires: list[Wire] = []

    def make(*args: str) -> Wire:
        wire = Wire(f"dw{os.getpid() % 10000}{len(wires)}")
        wire.down()  # leftovers of an interrupted run
        wire.up(*args)
        wires.append(wire)
        return wire

    yield make
    for wire in wires:
        wire.down()
