"""Commands run to completion from the repository, output captured as text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from tests.helpers import ROOT


def python(
    *args: str, timeout: float = 60, prefix: Sequence[str] = (), **kwargs
) -> subprocess.CompletedProcess[str]:
    """`python ARGS`; `prefix` runs it inside something, e.g. `ip netns exec NS`. From
    another `cwd`, the repository stays importable."""
    cwd = kwargs.pop("cwd", ROOT)
    if cwd != ROOT:
        env = kwargs.pop("env", None) or dict(os.environ)
        kwargs["env"] = env | {
            "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        }
    return subprocess.run(
        [*prefix, sys.executable, *args],
        cwd=cwd,
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
