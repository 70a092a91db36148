"""Each failure explained in `error_detail`, against real servers on loopback: the TLS
verification reason, the OS's reason, the resolver's message, the proxy's answer."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import sys

import pytest
import trustme

from agent.probes import measure
from tests.helpers import ROOT
from tests.helpers.cli import python
from tests.helpers.proxy import http_proxy, proxy_url
from tests.helpers.servers import http_server
from wire.schema import result_problem


def run(url: str, **params) -> dict:
    r = measure("http", {"url": url, "timeout": 3.0, **params})
    assert result_problem({**r, "probe": "http", "target": "t", "role": "dui"}) is None
    assert len(r.get("error_detail") or "") <= 1024
    return r


@pytest.fixture(scope="module")
def ca(tmp_path_factory) -> tuple[trustme.CA, str]:
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return ca, str(ca_file)


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    return ctx


def test_expired_certificate_says_so(ca) -> None:
    authority, ca_file = ca
    now = dt.datetime.now(dt.UTC)
    cert = authority.issue_cert(
        "127.0.0.1", not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    with http_server(ssl_context=server_context(cert)) as url:
        r = run(url, ca_file=ca_file)
    assert r["error"] == "tls"
    assert r["error_detail"] == "certificate of 127.0.0.1 not accepted: certificate has expired"


def test_certificate_for_another_name_says_so(ca) -> None:
    authority, ca_file = ca
    with http_server(ssl_context=server_context(authority.issue_cert("dui.example"))) as url:
        r = run(url, ca_file=ca_file)
    assert r["error"] == "tls"
    assert "mismatch, certificate is not valid for '127.0.0.1'" in r["error_detail"]


def test_unknown_issuer_says_so(ca) -> None:
    authority, _ = ca
    with http_server(ssl_context=server_context(authority.issue_cert("127.0.0.1"))) as url:
        r = run(url)  # the system CAs do not know trustme's CA
    assert r["error"] == "tls"
    assert r["error_detail"].endswith("not accepted: unable to get local issuer certificate")


def test_refused_connection_gives_the_os_reason() -> None:
    with http_server() as url:
        pass  # the port is closed again
    port = url.split(":")[2].rstrip("/")
    r = run(url)
    assert r["error"] == "connect"
    assert r["error_detail"] == f"cannot connect to 127.0.0.1 port {port}: Connection refused"


def test_wrong_status_and_missing_text_say_what_was_expected() -> None:
    with http_server(status=503) as url:
        assert run(url)["error_detail"] == "HTTP 503, expected 200–299"
        assert run(url, expect_status=[200, 302])["error_detail"] == "HTTP 503, expected 200, 302"
    with http_server() as url:
        r = run(url, expect_regex="Tableau de bord")
    assert r["error_detail"] == "expect_regex 'Tableau de bord' not found in the body"


def test_an_invalid_name_is_explained_without_asking_a_resolver() -> None:
    r = run("https://bad..name.example/")
    assert r["error"] == "dns"
    assert r["error_detail"].startswith("cannot resolve bad..name.example: not a valid host name")


RESOLVE = """
import json
from agent.probes import measure
print(json.dumps(measure("http", {"url": "https://dui.example.invalid/", "timeout": 5.0})))
"""


def test_dns_failure_gives_the_resolvers_message() -> None:
    # A network namespace of our own, without interfaces: the query never leaves it.
    if shutil.which("unshare") is None:
        pytest.skip("no unshare command")
    try:
        proc = python("-c", RESOLVE, prefix=["unshare", "-rn"], timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the probe in an empty namespace did not end")
    if proc.returncode != 0 and "unshare" in proc.stderr:
        pytest.skip(f"cannot make a network namespace here: {proc.stderr.strip()}")
    r = json.loads(proc.stdout)
    assert r["error"] == "dns"
    detail = r["error_detail"]
    assert detail.startswith("cannot resolve dui.example.invalid: "), detail
    assert detail.split(": ", 1)[1] in (
        "Temporary failure in name resolution",
        "Name or service not known",
        "No address associated with hostname",
    )


def test_proxy_answer_is_given(ca) -> None:
    authority, ca_file = ca
    ctx = server_context(authority.issue_cert("127.0.0.1"))
    with http_server(ssl_context=ctx) as url, http_proxy(credentials="synth:pa55") as proxy:
        port = proxy.server_address[1]
        anonymous = run(url, proxy=proxy_url(proxy), ca_file=ca_file)
        wrong = run(url, proxy=proxy_url(proxy, "synth:n0p3"), ca_file=ca_file)
    with http_server() as url, http_proxy(credentials="synth:pa55") as proxy:
        plain = run(url, proxy=proxy_url(proxy))
    with http_server(ssl_context=ctx) as url, http_proxy(refuse=True) as proxy:
        refused = run(url, proxy=proxy_url(proxy), ca_file=ca_file)
    assert anonymous["error"] == wrong["error"] == plain["error"] == refused["error"] == "proxy"
    assert anonymous["error_detail"] == (
        f"proxy 127.0.0.1 port {port} answered 407 Proxy Authentication Required: the proxy "
        "wants a user and password (proxy: http://user:password@host:port)"
    )
    assert wrong["error_detail"].endswith(
        "answered 407 Proxy Authentication Required: the proxy refused the user and password "
        "given in `proxy`"
    )
    assert "n0p3" not in wrong["error_detail"] and "synth" not in wrong["error_detail"]
    assert "answered 407" in plain["error_detail"]
    assert "answered 403 Forbidden" in refused["error_detail"]


def test_proxy_down_says_so() -> None:
    with http_proxy() as proxy:
        dead = proxy_url(proxy)
    with http_server() as url:
        r = run(url, proxy=dead)
    assert r["error"] == "proxy"
    assert r["error_detail"].startswith("cannot connect to the proxy 127.0.0.1 port ")
    assert r["error_detail"].endswith(": Connection refused")


@pytest.mark.parametrize(
    "kind, params",
    [
        ("latency", {"host": "bad..name.example", "samples": 1, "timeout": 1.0}),
        ("dns", {"host": "bad..name.example", "timeout": 2.0}),
    ],
)
def test_latency_and_dns_name_the_host_they_could_not_resolve(kind, params) -> None:
    r = measure(kind, params)
    assert r["error"] == "dns"
    assert r["error_detail"].startswith("cannot resolve bad..name.example: not a valid host")


HUNG_RESOLVER = """
import json, socket, threading, time
from agent.probes import measure
sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sink.bind(("127.0.0.1", 53))  # takes the queries, never answers
out = {}
def run(name, kind, params):
    t0 = time.monotonic()
    out[name] = measure(kind, params)
    out[name + "_seconds"] = time.monotonic() - t0
http = threading.Thread(target=run, args=("http", "http",
    {"url": "http://dui.example.org:8080/", "timeout": 1.5}))
http.start()
time.sleep(0.2)  # the http probe holds the timed turn, stuck in the resolver
run("latency", "latency", {"host": "127.0.0.1", "port": 9, "samples": 2, "timeout": 1.0})
http.join(30)
print(json.dumps(out))
"""


def test_a_hung_resolver_holds_neither_the_probe_nor_the_others(tmp_path) -> None:
    """The resolver never answers (its own namespace, queries to a sink on its loopback,
    10 s per try): the http probe fails at its 1.5 s timeout saying why, and a latency
    probe queued behind it runs right after, not after the resolver gives up."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:10 attempts:1\n")
    script = tmp_path / "hung.py"
    script.write_text(HUNG_RESOLVER)
    inner = (
        f"mount --bind {resolv} /etc/resolv.conf && ip link set lo up && "
        f"exec {sys.executable} {script}"
    )
    try:
        proc = subprocess.run(
            ["unshare", "-rnm", "sh", "-c", inner],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the probes in a namespace with a hung resolver did not end")
    if proc.returncode != 0 and not proc.stdout:
        pytest.skip(f"cannot make a namespace with its own resolv.conf: {proc.stderr.strip()}")
    out = json.loads(proc.stdout)
    http = out["http"]
    assert (http["success"], http["error"]) == (False, "timeout"), http
    assert "resolver gave no answer for dui.example.org" in http["error_detail"], http
    assert out["http_seconds"] < 4.0, out
    assert out["latency"]["sent"] == 2 and out["latency_seconds"] < 5.0, out
