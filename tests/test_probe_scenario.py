"""scenario probe: log in to a real HTTPS login form on loopback, then open a page."""

from __future__ import annotations

import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar
from urllib.parse import parse_qs

import pytest
import trustme

from agent.probes import measure
from tests.helpers.broker import free_port
from tests.helpers.servers import http_server
from wire.schema import result_problem

USER, PASSWORD = "synthetique", "m0t-de-passe"


class LoginSite(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    csrf = secrets.token_hex(8)
    posts: ClassVar[list[dict]] = []

    def _send(self, status: int, body: str = "", headers: dict | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/login":
            page = f'<form><input type="hidden" name="csrf" value="{self.csrf}">Connexion</form>'
            self._send(200, page, {"Set-Cookie": "pre=1; Path=/"})
        elif self.path == "/accueil" and "session=ok" in (self.headers.get("Cookie") or ""):
            self._send(200, "<h1>Tableau de bord</h1>")
        else:
            self._send(302, "", {"Location": "/login"})

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.posts.append({k: v[0] for k, v in form.items()})
        good = form.get("user") == [USER] and form.get("pass") == [PASSWORD]
        if good and form.get("csrf") == [self.csrf] and "pre=1" in self.headers.get("Cookie", ""):
            self._send(
                302, "", {"Set-Cookie": "session=ok; Path=/; HttpOnly", "Location": "/accueil"}
            )
        else:
            self._send(200, "Identifiants incorrects")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    folder = tmp_path_factory.mktemp("scenario")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    (folder / "password").write_text(PASSWORD + "\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoginSite)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def params(base: str, folder, password_file: str | None = None) -> dict:
    return {
        "timeout": 10.0,
        "ca_file": str(folder / "ca.pem"),
        "username_env": "DUI_SYNTH_USER",
        "password_file": password_file or str(folder / "password"),
        "steps": [
            {
                "name": "login-page",
                "get": f"{base}/login",
                "expect_regex": "Connexion",
                "extract": {"csrf": 'name="csrf" value="([0-9a-f]+)"'},
            },
            {
                "name": "login",
                "post": f"{base}/login",
                "expect_status": [302],
                "form": {"user": "{username}", "pass": "{password}", "csrf": "{csrf}"},
            },
            {"name": "dossier", "get": f"{base}/accueil", "expect_regex": "Tableau de bord"},
        ],
    }


def test_login_and_page_behind_it(site, monkeypatch) -> None:
    base, folder = site
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    r = measure("scenario", params(base, folder))
    assert r["success"] is True, r
    names = [s["name"] for s in r["steps"]]
    assert names == ["login-page", "login", "dossier"]
    assert [s["status_code"] for s in r["steps"]] == [200, 302, 200]
    first = r["steps"][0]["phases"]
    assert first["tls"] > 0 and first["connect"] > 0 and first["processing"] > 0
    assert "connect" not in r["steps"][1]["phases"], "later steps reuse the connection"
    assert [s["reused_connection"] for s in r["steps"]] == [False, True, True]
    assert all(s["tls_issuer"] and s["tls_expiry_ts"] > time.time() for s in r["steps"])
    assert valid(r)
    assert r["duration_seconds"] >= sum(s["duration_seconds"] for s in r["steps"]) * 0.99
    assert LoginSite.posts[-1]["csrf"] == LoginSite.csrf


def test_wrong_password_fails_at_the_login_step(site, monkeypatch, tmp_path) -> None:
    base, folder = site
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    r = measure("scenario", params(base, folder, str(wrong)))
    assert (r["success"], r["error"]) == (False, "status")
    assert [s["name"] for s in r["steps"]] == ["login-page", "login"]
    assert r["steps"][-1]["status_code"] == 200


def test_missing_username_env_is_config_error(site, monkeypatch) -> None:
    base, folder = site
    monkeypatch.delenv("DUI_SYNTH_USER", raising=False)
    r = measure("scenario", params(base, folder))
    assert (r["success"], r["error"]) == (False, "config")
    assert r["steps"] == []


def test_a_last_step_to_a_closed_port_fails_on_that_step(site, monkeypatch) -> None:
    # It used to go down the login step's connection and answer 200.
    base, folder = site
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    p = params(base, folder)
    port = free_port()  # nothing listens there
    p["steps"][2]["get"] = f"https://127.0.0.1:{port}/accueil"
    r = measure("scenario", p)
    assert (r["success"], r["error"]) == (False, "connect")
    assert [s["name"] for s in r["steps"]] == ["login-page", "login", "dossier"]
    last = r["steps"][-1]
    assert last["error"] == "connect" and "status_code" not in last
    assert r["error_detail"] == (
        f"step dossier: cannot connect to 127.0.0.1 port {port}: Connection refused"
    )
    assert valid(r)


def test_a_step_to_another_endpoint_gets_its_own_connection(site, monkeypatch) -> None:
    base, folder = site
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    p = params(base, folder)
    with http_server() as plain:  # its page says "Portail DUI"; the login site's does not
        p["steps"].append({"name": "portail", "get": plain, "expect_regex": "Portail DUI"})
        r = measure("scenario", p)
    assert r["success"] is True, r
    portail = r["steps"][-1]
    assert "connect" in portail["phases"] and "tls" not in portail["phases"]


def test_wrong_password_names_the_step_and_what_it_expected(site, monkeypatch, tmp_path) -> None:
    base, folder = site
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    r = measure("scenario", params(base, folder, str(wrong)))
    assert r["error_detail"] == "step login: HTTP 200, expected 302"
    assert (r["steps"][-1]["error"], r["steps"][-1]["expected"]) == ("status", "302")
    p = params(base, folder, str(wrong))
    del p["steps"][1]["expect_status"]
    p["steps"][1]["expect_regex"] = "Tableau de bord"
    r = measure("scenario", p)
    assert r["error_detail"] == "step login: 'Tableau de bord' not found in the body"
    assert valid(r)


def test_missing_variable_and_unreadable_file_are_named(site, monkeypatch, tmp_path) -> None:
    base, folder = site
    monkeypatch.delenv("DUI_SYNTH_USER", raising=False)
    r = measure("scenario", params(base, folder))
    assert r["error_detail"] == "environment variable DUI_SYNTH_USER (username_env) is not set"
    monkeypatch.setenv("DUI_SYNTH_USER", USER)
    binary = tmp_path / "password"
    binary.write_bytes(b"\xffs3cr3t")
    r = measure("scenario", params(base, folder, str(binary)))
    assert r["error"] == "config"
    assert r["error_detail"] == f"password_file {binary}: the secret file is not UTF-8 text"
    missing = tmp_path / "absent"
    r = measure("scenario", params(base, folder, str(missing)))
    assert r["error_detail"] == (
        f"password_file {missing}: cannot read the secret file: No such file or directory"
    )
    assert valid(r)


def valid(r: dict) -> bool:
    return result_problem({**r, "probe": "scenario", "target": "t", "role": "dui"}) is None
