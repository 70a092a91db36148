"""The installed dui-sla version, from the package metadata (pyproject.toml):
one number for the agent, the collector and their status messages."""

from __future__ import annotations

import importlib.metadata

try:
    VERSION = importlib.metadata.version("dui-sla")
except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
    VERSION = "0+unknown"
