"""`proxy: system | none | URL` for the http probe, through a real proxy on loopback."""

from __future__ import annotations

import json
import os
import ssl

import pytest
import trustme

from agent.probes import measure
from agent.probes._client import resolve_proxy
from tests.helpers.cli import python
from tests.helpers.proxy import http_proxy, proxy_url
from tests.helpers.servers import http_server


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_ctx, str(ca_file)


def test_plain_http_through_proxy() -> None:
    with http_server() as url, http_proxy() as proxy:
        r = measure("http", {"url": url, "timeout": 3.0, "proxy": proxy_url(proxy)})
    assert r["success"] is True, r
    assert proxy.seen == [f"GET {url}"]


def test_https_through_connect_tunnel(tls) -> None:
    server_ctx, ca_file = tls
    with http_server(ssl_context=server_ctx) as url, http_proxy() as proxy:
        r = measure(
            "http", {"url": url, "timeout": 3.0, "proxy": proxy_url(proxy), "ca_file": ca_file}
        )
    assert r["success"] is True, r
    assert r["phases"]["tls"] > 0 and r["tls_issuer"]
    assert proxy.seen == [f"CONNECT {url.split('/')[2]}"]


def test_refusing_proxy_is_proxy_error(tls) -> None:
    server_ctx, ca_file = tls
    with http_server(ssl_context=server_ctx) as url, http_proxy(refuse=True) as proxy:
        r = measure(
            "http", {"url": url, "timeout": 3.0, "proxy": proxy_url(proxy), "ca_file": ca_file}
        )
    assert (r["success"], r["error"]) == (False, "proxy")


def test_proxy_password() -> None:
    with http_server() as url, http_proxy(credentials="synth:pa55") as proxy:
        denied = measure("http", {"url": url, "timeout": 3.0, "proxy": proxy_url(proxy)})
        allowed = measure(
            "http", {"url": url, "timeout": 3.0, "proxy": proxy_url(proxy, "synth:pa55")}
        )
    assert (denied["success"], denied["error"]) == (False, "proxy")
    assert allowed["success"] is True


def test_proxy_down_is_proxy_error() -> None:
    with http_proxy() as proxy:
        dead = proxy_url(proxy)
    with http_server() as url:
        r = measure("http", {"url": url, "timeout": 3.0, "proxy": dead})
    assert (r["success"], r["error"]) == (False, "proxy")


SYSTEM_SCRIPT = """
import json, sys
from agent.probes import measure
print(json.dumps(measure("http", {"url": sys.argv[1], "timeout": 3.0, "proxy": sys.argv[2]})))
"""


@pytest.mark.parametrize("setting", ["system", "none"])
def test_system_proxy_from_environment(setting: str) -> None:
    with http_server() as url, http_proxy() as proxy:
        env = {**os.environ, "http_proxy": proxy_url(proxy), "no_proxy": ""}
        env.pop("HTTP_PROXY", None)
        out = python("-c", SYSTEM_SCRIPT, url, setting, env=env, timeout=30, check=True)
        r = json.loads(out.stdout)
        assert r["success"] is True
        assert proxy.seen == ([f"GET {url}"] if setting == "system" else [])


def test_no_proxy_bypass(monkeypatch) -> None:
    monkeypatch.setenv("https_proxy", "http://proxy.invalid:3128")
    monkeypatch.setenv("no_proxy", "dui.vendor.fr")
    assert resolve_proxy("system", "https://dui.vendor.fr/login") is None
    assert resolve_proxy("system", "https://other.example/").host == "proxy.invalid"
    assert resolve_proxy("none", "https://other.example/") is None
    explicit = resolve_proxy("http://u:p%40ss@proxy.og:3128", "https://x/")
    assert (explicit.host, explicit.port) == ("proxy.og", 3128)
    assert explicit.authorization == "Basic dTpwQHNz"
