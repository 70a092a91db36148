"""The installed dui-sla version, from the package metadata (pyproject.toml):
one number for the agent, the collector and their status messages.

Read from the `dui_sla-*.dist-info/METADATA` file on sys.path by hand: importlib.metadata
pulls in email, zipfile and csv (≈ 2.5 MB of a small agent's memory) for one line.
"""

from __future__ import annotations

import os
import sys

DISTRIBUTION = "dui_sla"


def _from_dist_info(paths: list[str]) -> str | None:
    for entry in paths:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.startswith(f"{DISTRIBUTION}-") and name.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry, name, "METADATA"), encoding="utf-8") as f:
                        for line in f:
                            if line.startswith("Version:"):
                                return line.partition(":")[2].strip()
                            if not line.strip():  # end of the headers
                                break
                except OSError:
                    continue
    return None


def _version() -> str:
    found = _from_dist_info(sys.path)
    if found:
        return found
    import importlib.metadata  # other installs (eggs, zips): the slow, complete way

    try:
        return importlib.metadata.version("dui-sla")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "0+unknown"


VERSION = _version()
