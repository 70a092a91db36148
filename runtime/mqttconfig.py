"""The `mqtt:` keys both services share (credentials, TLS files, allow_insecure) and the
one rule for a broker URL: no credentials in it, and no plain text beyond loopback unless
`allow_insecure` says so."""

from __future__ import annotations

from urllib.parse import urlsplit

from runtime.configfile import Strict, is_loopback
from runtime.mqtt import Endpoint


class MqttClientConfig(Strict):
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    allow_insecure: bool = False


def check_url(url: str, allow_insecure: bool) -> Endpoint:
    """The broker endpoint; ValueError naming what is wrong with the URL."""
    # Before parsing: a parse error would quote the URL, password and all.
    if "@" in urlsplit(url).netloc:
        raise ValueError("url must not carry credentials: use username and password_file")
    endpoint = Endpoint.parse(url)
    if not endpoint.tls and not allow_insecure and not is_loopback(endpoint.host):
        raise ValueError(
            f"url {url!r}: plain {endpoint.scheme}:// to a non-loopback host sends "
            "everything unencrypted; use mqtts:// or wss://, or set mqtt.allow_insecure: true"
        )
    return endpoint
