"""RAM and physical cores read from /proc without psutil (the probe process stays on the
standard library), against psutil's figures on this machine."""

from __future__ import annotations

import sys

import psutil
import pytest

from agent.platform import linux

CPUINFO = """processor\t: 0
physical id\t: 0
core id\t\t: 0

processor\t: 1
physical id\t: 0
core id\t\t: 0

processor\t: 2
physical id\t: 0
core id\t\t: 1
"""


def test_parse_physical_cores_counts_cores_not_threads() -> None:
    assert linux.parse_physical_cores(CPUINFO) == 2
    assert linux.parse_physical_cores("processor\t: 0\n") is None  # some VMs, ARM boards


def test_parse_meminfo_total() -> None:
    assert linux.parse_meminfo_total("MemTotal:       16318068 kB\nMemFree: 1 kB\n") == (
        16318068 * 1024
    )
    assert linux.parse_meminfo_total("") is None


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_same_figures_as_psutil() -> None:
    assert linux.ram_bytes() == psutil.virtual_memory().total
    assert linux.physical_cores() == (psutil.cpu_count(logical=False) or psutil.cpu_count())
