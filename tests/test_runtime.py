"""The shared runtime's small parts: broker URLs, secret files, the version."""

from __future__ import annotations

import importlib.metadata

import pytest

from runtime.mqtt import ClientSettings, Endpoint, client
from runtime.secrets import SecretError, read_secret
from runtime.version import VERSION


def test_endpoints_from_urls() -> None:
    assert Endpoint.parse("mqtt://127.0.0.1") == Endpoint("mqtt", "127.0.0.1", 1883)
    secure = Endpoint.parse("mqtts://broker.example:8884")
    assert (secure.port, secure.tls, secure.websockets, str(secure)) == (
        8884,
        True,
        False,
        "broker.example:8884",
    )
    wss = Endpoint.parse("wss://collector.example/ws")
    assert (wss.port, wss.path, wss.tls, wss.websockets) == (443, "/ws", True, True)
    assert Endpoint.parse("ws://10.0.0.2").path == "/mqtt"
    with pytest.raises(ValueError, match="scheme must be"):
        Endpoint.parse("http://broker.example")
    with pytest.raises(ValueError, match="has no host"):
        Endpoint.parse("mqtt://:1883")


def test_secret_files(tmp_path) -> None:
    path = tmp_path / "password"
    path.write_text("  s3cret\n", encoding="utf-8")
    assert read_secret(path) == "s3cret"
    with pytest.raises(SecretError, match=f"{tmp_path / 'missing'}: cannot read"):
        read_secret(tmp_path / "missing")
    path.write_bytes(b"s3cret\xff")
    with pytest.raises(SecretError, match="not UTF-8") as raised:
        read_secret(path)
    assert "s3cret" not in str(raised.value).replace(str(tmp_path), "")


def test_client_refuses_an_unreadable_password_file(tmp_path) -> None:
    settings = ClientSettings(
        Endpoint.parse("mqtt://127.0.0.1"),
        "og.site.agent",
        "dui/v1/og/site/agent/status",
        b"offline",
        password_file=str(tmp_path / "missing"),
    )
    with pytest.raises(SecretError, match="missing"):
        client(settings)


def test_version_is_the_package_metadata() -> None:
    assert importlib.metadata.version("dui-sla") == VERSION
