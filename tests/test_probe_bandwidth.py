"""bandwidth probe against a loopback /speedtest server: streams, token, cap, busy site."""

from __future__ import annotations

import pytest

from agent.probes import measure
from agent.probes.bandwidth import throughput
from tests.helpers.speedtest import speedtest_server


def params(server, tmp_path, **extra) -> dict:
    token = tmp_path / "token"
    token.write_text(server.token + "\n")
    base = f"http://127.0.0.1:{server.server_address[1]}/speedtest"
    return {
        "url": base,
        "timeout": 20.0,
        "max_bytes": 4_000_000,
        "streams": 4,
        "token_file": str(token),
        "site": "site-a",
        "agent": "poste-1",
        **extra,
    }


def test_paced_download_and_upload(tmp_path) -> None:
    rate = 4_000_000  # bytes/s, paced by the server for downloads
    with speedtest_server(rate=rate) as server:
        r = measure("bandwidth", params(server, tmp_path))
    assert r["success"] is True, r
    assert r["download_bytes_per_second"] == pytest.approx(rate, rel=0.1)
    assert r["upload_bytes_per_second"] > 0
    paths = [p for p, _, _ in server.requests]
    assert paths.count("/speedtest/download") == 4 and paths.count("/speedtest/upload") == 4
    assert {(s, a) for _, s, a in server.requests} == {("site-a", "poste-1")}


def test_wrong_token_is_status_error(tmp_path) -> None:
    with speedtest_server() as server:
        p = params(server, tmp_path)
        (tmp_path / "token").write_text("wrong")
        r = measure("bandwidth", p)
    assert (r["success"], r["error"]) == (False, "status")


def test_busy_site_skips_the_run(tmp_path) -> None:
    with speedtest_server(hold=60) as server:
        assert server.claim("site-a", "another-agent")
        r = measure("bandwidth", params(server, tmp_path))
    assert r.get("skipped") == "busy" and "success" not in r


def test_time_cap_still_gives_a_rate(tmp_path) -> None:
    with speedtest_server(rate=500_000) as server:  # 10 MB would take 20 s
        r = measure("bandwidth", params(server, tmp_path, max_bytes=20_000_000, timeout=4.0))
    assert r["success"] is True, r
    assert r["download_bytes_per_second"] == pytest.approx(500_000, rel=0.15)
    assert r["duration_seconds"] < 8


def test_throughput_counts_the_steady_window() -> None:
    second = 10**9
    # two streams, 1 MB every 0.1 s each, after a slow first second
    marks = [
        [(int(0.5 * second), 10_000)]
        + [(second + i * second // 10, 1_000_000) for i in range(1, 31)]
        for _ in range(2)
    ]
    marks[1].append((5 * second, 1))  # the second stream ends later
    rate = throughput(0, marks)
    assert rate == pytest.approx(2 * 10_000_000, rel=0.05)
    assert throughput(0, [[], marks[0]]) is None
