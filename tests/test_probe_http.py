"""http probe against real servers on loopback: phases, checks and each failure."""

from __future__ import annotations

import ssl
import sys
import time

import pytest
import trustme

from agent.probes import measure
from tests.helpers.servers import http_server, silent_server


def run(url: str, **params) -> dict:
    return measure("http", {"url": url, "timeout": 3.0, **params})


def test_success_has_every_phase_and_status() -> None:
    with http_server() as url:
        r = run(url, expect_regex="Connexion")
    assert r["success"] is True and r["error"] is None
    assert r["status_code"] == 200
    assert r["reused_connection"] is False
    kernel = r["phases"].pop("connect_kernel", None)  # TCP_INFO: Linux only
    assert (kernel is not None) == (sys.platform == "linux")
    assert kernel is None or 0 < kernel < 1
    assert set(r["phases"]) == {"resolve", "connect", "processing", "transfer"}
    assert all(v >= 0 for v in r["phases"].values())
    assert r["duration_seconds"] >= sum(r["phases"].values()) * 0.99
    assert abs(r["ts"] - time.time()) < 5


def test_processing_phase_includes_server_think_time() -> None:
    with http_server(delay=0.2) as url:
        r = run(url)
    assert 0.2 <= r["phases"]["processing"] < 0.5
    assert r["phases"]["transfer"] < 0.1


def test_wrong_status_is_status_error() -> None:
    with http_server(status=503) as url:
        r = run(url)
    assert (r["success"], r["error"], r["status_code"]) == (False, "status", 503)


def test_expected_status_list_is_honoured() -> None:
    with http_server(status=302) as url:
        assert run(url, expect_status=[200, 302])["success"] is True
        assert run(url)["error"] == "status"


def test_regex_miss_is_body_error() -> None:
    with http_server() as url:
        r = run(url, expect_regex="Tableau de bord")
    assert (r["success"], r["error"], r["status_code"]) == (False, "body", 200)


def test_regex_only_sees_the_capped_body() -> None:
    body = b"x" * 5000 + b"Connexion"
    with http_server(body=body) as url:
        assert run(url, expect_regex="Connexion")["success"] is True
        assert run(url, expect_regex="Connexion", max_body=1000)["error"] == "body"


def test_refused_is_connect_error() -> None:
    with http_server() as url:
        pass  # the port is closed again
    r = run(url)
    assert (r["success"], r["error"]) == (False, "connect")
    assert "processing" not in r["phases"]


def test_silent_server_is_timeout() -> None:
    with silent_server() as port:
        started = time.monotonic()
        r = run(f"http://127.0.0.1:{port}/", timeout=0.5)
        elapsed = time.monotonic() - started
    assert (r["success"], r["error"]) == (False, "timeout")
    assert elapsed < 2
    assert "connect" in r["phases"]


@pytest.fixture(scope="module")
def tls_server_context():
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(server_ctx)
    return ca, server_ctx


def test_tls_phases_expiry_and_issuer(tls_server_context, tmp_path) -> None:
    ca, server_ctx = tls_server_context
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with http_server(ssl_context=server_ctx) as url:
        r = run(url, ca_file=str(ca_file))
    assert r["success"] is True, r
    assert r["phases"]["tls"] > 0
    assert r["tls_expiry_ts"] > time.time()
    assert r["tls_issuer"]  # trustme's CA names itself in the organization


def test_untrusted_certificate_is_tls_error(tls_server_context) -> None:
    _, server_ctx = tls_server_context
    with http_server(ssl_context=server_ctx) as url:
        r = run(url)
    assert (r["success"], r["error"]) == (False, "tls")


def test_insecure_skip_verify_accepts_untrusted_certificate(tls_server_context) -> None:
    _, server_ctx = tls_server_context
    with http_server(ssl_context=server_ctx) as url:
        r = run(url, insecure_skip_verify=True)
    assert r["success"] is True


def test_reuse_keeps_the_connection_between_runs() -> None:
    with http_server() as url:
        first = run(url, connection="reuse", key="t-reuse")
        second = run(url, connection="reuse", key="t-reuse")
        fresh = run(url, connection="new", key="t-new")
    assert first["reused_connection"] is False and first["phases"]["connect"] > 0
    assert second["success"] is True and second["reused_connection"] is True
    assert set(second["phases"]) == {"processing", "transfer"}, "skipped phases are absent"
    assert fresh["reused_connection"] is False


def test_reuse_reconnects_when_server_closed_the_connection() -> None:
    with http_server(timeout=0.2) as url:  # the server drops idle connections after 0.2 s
        first = run(url, connection="reuse", key="t-closed")
        time.sleep(0.6)  # time passes on purpose: the server's idle timeout must expire
        second = run(url, connection="reuse", key="t-closed")
    assert first["success"] is True
    assert second["success"] is True and second["reused_connection"] is False


def test_reuse_keeps_the_certificate_facts(tls_server_context, tmp_path) -> None:
    ca, server_ctx = tls_server_context
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with http_server(ssl_context=server_ctx) as url:
        first, second = (
            run(url, connection="reuse", key="t-tls", ca_file=str(ca_file)) for _ in range(2)
        )
    assert second["success"] is True and second["reused_connection"] is True
    assert set(second["phases"]) == {"processing", "transfer"}
    assert second["tls_expiry_ts"] == first["tls_expiry_ts"] > time.time()
    assert second["tls_issuer"] == first["tls_issuer"] is not None
