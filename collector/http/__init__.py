"""The collector's HTTP side (one aiohttp server): /metrics, /healthz, /speedtest/*, the
JSON API (evidence, maintenance, contracts) and the status page."""

from collector.http.server import http_server, make_app

__all__ = ["http_server", "make_app"]
