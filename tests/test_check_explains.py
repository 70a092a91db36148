"""`dui-agent check` says why each probe failed, in words a technician can act on."""

from __future__ import annotations

import datetime as dt
import ssl

import trustme
import yaml

from tests.helpers.broker import free_port
from tests.helpers.cli import agent_cli
from tests.helpers.servers import http_server


def test_check_explains_each_failure(tmp_path, monkeypatch) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    now = dt.datetime.now(dt.UTC)
    expired = ca.issue_cert("127.0.0.1", not_after=now - dt.timedelta(days=1))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    expired.configure_cert(ctx)
    monkeypatch.delenv("DUI_SYNTH_ABSENT", raising=False)
    monkeypatch.setenv("DUI_SYNTH_PASSWORD", "s3cr3t")
    port = free_port()  # nothing listens there
    with http_server(ssl_context=ctx) as url:
        config = {
            "org": "og-exemple",
            "site": "ehpad-tilleuls",
            "probe_worker": "thread",
            "inventory": {"enabled": False},
            "context": {"enabled": False},
            "targets": [
                {"name": "dui-login", "role": "dui", "http": {"url": url, "ca_file": "ca.pem"}},
                {
                    "name": "internet",
                    "role": "internet",
                    "latency": {"host": "bad..name.invalid", "samples": 2},
                },
                {
                    "name": "dui-parcours",
                    "role": "dui",
                    "scenario": {
                        "username_env": "DUI_SYNTH_ABSENT",
                        "password_env": "DUI_SYNTH_ABSENT",
                        "steps": [{"name": "login-page", "get": f"{url}login"}],
                    },
                },
                {
                    "name": "dui-closed",
                    "role": "dui",
                    "scenario": {
                        "username": "synthetique",
                        "password_env": "DUI_SYNTH_PASSWORD",
                        "steps": [{"name": "dossier", "get": f"https://127.0.0.1:{port}/"}],
                    },
                },
            ],
        }
        path = tmp_path / "agent.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = agent_cli("check", "--config", str(path), timeout=60)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    row = {line.split()[0]: i for i, line in enumerate(lines) if "FAIL" in line}
    assert set(row) == {"dui-login", "internet", "dui-parcours", "dui-closed"}, proc.stdout
    assert "FAIL tls" in lines[row["dui-login"]]
    assert lines[row["dui-login"] + 1] == (
        "    why: certificate of 127.0.0.1 not accepted: certificate has expired"
    )
    assert "FAIL dns" in lines[row["internet"]]
    assert lines[row["internet"]].endswith("no samples sent: host not resolved"), proc.stdout
    assert "None" not in lines[row["internet"]]
    assert lines[row["dui-parcours"] + 1] == (
        "    why: environment variable DUI_SYNTH_ABSENT (username_env) is not set"
    )
    assert lines[row["dui-closed"]].endswith("dossier connect"), proc.stdout
    assert lines[row["dui-closed"] + 1] == (
        f"    why: step dossier: cannot connect to 127.0.0.1 port {port}: Connection refused"
    )
    assert "s3cr3t" not in proc.stdout
    assert "4 probes, 0 ok, 4 failed" in proc.stdout
