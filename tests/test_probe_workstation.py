"""inventory, context and usage probes on this machine, validated against the wire schema."""

from __future__ import annotations

import socket
import subprocess
import sys

import msgspec

from agent.probes import measure
from tests.helpers.servers import silent_server
from wire.schema import Result


def as_wire(result: dict, probe: str) -> Result:
    return msgspec.convert(
        {"seq": 1, "probe": probe, "target": "workstation", "role": "workstation", **result}, Result
    )


def test_inventory_fields() -> None:
    r = as_wire(measure("inventory", {}), "inventory")
    assert r.success is True
    assert r.os["name"] and r.ram_bytes > 2**28 and r.disk_free_bytes > 0
    assert r.cpu["cores"] >= 1
    assert set(r.browsers) == {"edge", "chrome", "firefox"}
    assert set(r.hardware) == {"vendor", "model", "firmware_date"}
    assert r.link in ("wired", "wifi", "unknown")


def test_context_fields() -> None:
    from agent import __version__

    r = as_wire(measure("context", {}), "context")
    assert r.success is True and r.version == __version__


HOLD = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
print("connected", flush=True)
time.sleep(30)  # holds the connection open until the test kills this process
"""
DUI = "127.0.0.77"  # a loopback address nothing else on the machine talks to


def test_usage_sees_another_process_connected_to_the_dui_host() -> None:
    with silent_server(DUI) as port:
        assert measure("usage", {"hosts": [DUI]})["in_use"] is False
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, DUI, str(port)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert holder.stdout.readline().strip() == "connected"
            r = as_wire(measure("usage", {"hosts": [DUI]}), "usage")
            assert r.success is True and r.in_use is True
            assert measure("usage", {"hosts": ["127.0.0.78"]})["in_use"] is False
        finally:
            holder.kill()
            holder.wait(10)


def test_usage_ignores_the_agents_own_connections() -> None:
    with silent_server(DUI) as port:
        own = socket.create_connection((DUI, port))  # held by this process, as a probe would
        try:
            assert measure("usage", {"hosts": [DUI]})["in_use"] is False
        finally:
            own.close()
