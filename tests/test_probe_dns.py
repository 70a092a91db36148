"""dns probe: resolution time through the system resolver (hosts file here)."""

from agent.probes import measure


def test_localhost_resolves() -> None:
    r = measure("dns", {"host": "localhost", "timeout": 5.0})
    assert r["success"] is True and r["error"] is None
    assert 0 <= r["duration_seconds"] < 5


def test_malformed_name_is_dns_error() -> None:
    r = measure("dns", {"host": "bad..name.invalid", "timeout": 5.0})
    assert (r["success"], r["error"]) == (False, "dns")
