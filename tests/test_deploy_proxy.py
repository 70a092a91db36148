"""The stack's TLS proxy for real: nginx with deploy/proxy/nginx.conf (on the test's ports
and trustme certificates) in front of a real `dui-collector run` with
deploy/collector/collector.yaml. Over HTTPS: the status page and the contracts API with
http.auth, /metrics and /healthz refused, the vendor's evidence token checked by the
collector, bodies bounded, the speed test streamed, HTTP redirected, the client's address
forwarded, and slow bodies held at the proxy, not at the collector."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import socket
import ssl
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import trustme
import yaml

from collector.config import load
from tests.helpers.broker import end_process, free_port, listening
from tests.helpers.poll import wait_until
from tests.helpers.servers import serving
from tests.test_collector_http import bandwidth, served
from tests.test_deploy_stack import DEPLOY, tool

USER, PASSWORD = "copil", "m0t-de-passe-http"
VENDOR_TOKEN = "v3ndor-t0ken-stack"


def proxy_conf(tmp_path: Path, ports: dict[str, int], certs: Path) -> Path:
    """deploy/proxy/nginx.conf on the test's ports and files; each change must apply,
    so the test breaks when the deploy file drifts from what it replaces."""
    text = (DEPLOY / "proxy" / "nginx.conf").read_text(encoding="utf-8")
    changes = {
        "user nginx;": "user root;",  # the test runs as root; the image has user nginx
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen 443 ssl;": f"listen 127.0.0.1:{ports['https']} ssl;",
        "/etc/nginx/certs/": f"{certs}/",
        "server dui-collector:9108": f"server 127.0.0.1:{ports['collector']}",
        "server grafana:3000": f"server 127.0.0.1:{ports['grafana']}",
        "/var/cache/nginx/": f"{tmp_path}/",
    }
    for old, new in changes.items():
        assert old in text, f"deploy/proxy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


class Https:
    """Requests to the proxy over HTTPS, the test CA trusted, redirects not followed."""

    def __init__(self, port: int, ca: Path) -> None:
        self.port = port
        self.ca = ca
        self.context = ssl.create_default_context(cafile=str(ca))

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


class Echo(BaseHTTPRequestHandler):
    """Grafana's stand-in: answers with the path and headers the proxy sent."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, **dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxied(tmp_path: Path, mosquitto, collector_process) -> Iterator[tuple[Https, object, dict]]:
    nginx_binary = tool("nginx", "nginx")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, text in (
        ("http_users", f"{USER}:{PASSWORD}\n"),
        ("vendor_token", f"{VENDOR_TOKEN}\n"),
        ("speedtest_token", "sp33d-t0ken\n"),
    ):
        (secrets / name).write_text(text)
        (secrets / name).chmod(0o600)
    config = yaml.safe_load((DEPLOY / "collector" / "collector.yaml").read_text(encoding="utf-8"))
    config["mqtt"] = {"url": mosquitto.url}
    config["http"]["auth"]["file"] = str(secrets / "http_users")
    config["speedtest"]["token_file"] = str(secrets / "speedtest_token")
    for contract in config["contracts"]:
        contract["evidence_token_file"] = str(secrets / "vendor_token")
    config["ledger"]["url"] = f"sqlite:///{tmp_path / 'ledger.db'}"
    collector = collector_process(config)
    collector.start()

    ca = trustme.CA()
    certs = tmp_path / "certs"
    certs.mkdir()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(certs / "fullchain.pem"))
    cert.private_key_pem.write_to_path(str(certs / "privkey.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    grafana = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    ports = {
        "http": free_port(),
        "https": free_port(),
        "collector": collector.http_port,
        "grafana": grafana.server_address[1],
    }
    conf = proxy_conf(tmp_path, ports, certs)
    log = open(tmp_path / "nginx.log", "wb")  # noqa: SIM115 - closed below
    nginx = subprocess.Popen(
        [nginx_binary, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        with serving(grafana):

            def ready() -> bool:  # a config error says so at once, with nginx's words
                errors = tmp_path / "error.log"
                assert nginx.poll() is None, errors.read_text() if errors.exists() else "nginx"
                return listening(ports["https"])

            wait_until(ready, 20, "nginx listening")
            yield Https(ports["https"], tmp_path / "ca.pem"), collector, ports
    finally:
        end_process(nginx, grace=20)
        log.close()


def backup_record(contract: str) -> dict:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=3)
    return {
        "contract": contract,
        "id": "bk-stack-1",
        "kind": "full",
        "status": "success",
        "started_at": start.isoformat(),
        "completed_at": (start + dt.timedelta(minutes=40)).isoformat(),
        "size_bytes": 48_000_000_000,
        "restore_point_at": start.isoformat(),
        "expires_at": (start + dt.timedelta(days=30)).isoformat(),
        "location": "secondary-datacenter",
    }


def test_proxy_serves_the_status_page_and_api_with_auth(proxied) -> None:
    https, collector, _ = proxied
    contract = load(collector.config_path).contracts[0].id
    status, headers, _ = https.request("GET", "/")
    assert status == 401 and "Basic" in headers.get("WWW-Authenticate", "")
    status, headers, body = https.request("GET", "/?lang=en", headers=basic())
    assert status == 200 and b"<html" in body.lower()
    assert "max-age" in headers.get("Strict-Transport-Security", "")
    status, _, body = https.request("GET", f"/api/v1/contracts/{contract}", headers=basic())
    assert status == 200, body
    assert json.loads(body)["contract"] == contract


def test_proxy_refuses_metrics_and_unknown_paths(proxied) -> None:
    https, collector, _ = proxied
    assert collector.get("/metrics")[0] == 200  # the collector serves it inside the stack
    for path in ("/metrics", "/metrics/", "/healthz", "/%6detrics", "/./metrics", "/x/../metrics"):
        status, _, body = https.request("GET", path, headers=basic())
        assert status == 404, (path, status, body[:200])
        assert b"dui_" not in body


def test_proxy_passes_evidence_tokens_and_bounds_bodies(proxied) -> None:
    https, collector, _ = proxied
    contract = load(collector.config_path).contracts[0].id
    body = json.dumps(backup_record(contract)).encode()
    headers = {"Content-Type": "application/json"}
    status, _, answer = https.request("POST", "/api/v1/evidence/backups", body, headers)
    assert status == 401, answer  # the collector's refusal, reached through the proxy
    assert "bearer token" in json.loads(answer)["error"]
    headers["Authorization"] = f"Bearer {VENDOR_TOKEN}"
    status, _, answer = https.request("POST", "/api/v1/evidence/backups", body, headers)
    assert status == 201, answer
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    status, _, _ = https.request("POST", "/api/v1/evidence/backups", big, headers)
    assert status == 413
    # the speed test goes through, streamed, with its own bigger bound
    upload = b"\0" * (4 * 1024 * 1024)
    token = {"Authorization": "Bearer sp33d-t0ken"}
    status, _, answer = https.request(
        "POST", "/speedtest/upload?site=site-a&agent=poste-1", upload, token
    )
    assert status == 200 and json.loads(answer) == {"bytes": len(upload)}, answer
    status, _, answer = https.request(
        "GET", "/speedtest/download?site=site-a&agent=poste-1&bytes=3000000", None, token
    )
    assert status == 200 and len(answer) == 3_000_000


def test_proxy_redirects_http_and_forwards_the_client(proxied) -> None:
    https, _, ports = proxied
    conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=30)
    try:
        conn.request("GET", "/api/v1/contracts/x?lang=en", headers={"Host": "dui.example.fr"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 301
    assert response.getheader("Location") == "https://dui.example.fr/api/v1/contracts/x?lang=en"
    status, _, body = https.request("GET", "/grafana/api/health")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["path"] == "/grafana/api/health"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Real-IP"] == "127.0.0.1"
    assert seen["Host"] == "127.0.0.1"


def test_agent_speed_test_through_the_proxy(proxied) -> None:
    """The agent's real bandwidth probe, parallel streams both ways, through nginx."""
    https, collector, _ = proxied
    token = load(collector.config_path).speedtest.token_file
    # served in full; loopback is often too fast for the probe's steady window (served())
    result = bandwidth(f"https://127.0.0.1:{https.port}", token, ca_file=str(https.ca))
    assert served(result), result


def test_slow_bodies_wait_at_the_proxy_not_at_the_collector(proxied) -> None:
    """Request bodies are buffered by nginx: clients trickling a body hold none of the
    collector's connections (its guard allows 512), and others are still served."""
    https, collector, _ = proxied
    held = []
    try:
        for _ in range(8):
            sock = https.context.wrap_socket(
                socket.create_connection(("127.0.0.1", https.port), timeout=10),
                server_hostname="127.0.0.1",
            )
            sock.sendall(
                b"POST /api/v1/evidence/backups HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"contract"'
            )
            held.append(sock)
        # served meanwhile: the trickling clients took nothing the collector needs
        status, _, _ = https.request("GET", "/", headers=basic())
        assert status == 200

        def at_collector() -> int:
            return sum(
                1
                for c in psutil.net_connections(kind="tcp")
                if c.laddr
                and c.laddr.port == collector.http_port
                and c.status == psutil.CONN_ESTABLISHED
            )

        # the GET's own upstream connection may take a moment to close; a held one never
        wait_until(at_collector, 5, "no connection at the collector", until=lambda n: n == 0)
    finally:
        for sock in held:
            sock.close()
