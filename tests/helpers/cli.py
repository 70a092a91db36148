"""Commands run to completion from the repository, output captured as text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

from tests.helpers import ROOT


def python(
    *args: str, timeout: float = 60, prefix: Sequence[str] = (), **kwargs
) -> subprocess.CompletedProcess[str]:
    """`python ARGS`; `prefix` runs it inside something, e.g. `ip netns exec NS`."""
    return subprocess.run(
        [*prefix, sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def agent_cli(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess[str]:
    """`dui-agent ARGS` as a real process."""
    return python("-m", "agent", *args, timeout=timeout, **kwargs)


def collector_cli(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    """`dui-collector ARGS` as a real process."""
    return python("-m", "collector", *args, timeout=timeout, **kwargs)
