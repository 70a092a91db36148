"""`./dui try` until the collector lands: the agent's probes against a stand-in DUI page
on loopback (or a URL you give), printed as `dui-agent check` prints them.

    python -m agent.demo [--dui-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from agent.check import check, table
from agent.config import ConfigError, load

PAGE = "<html><head><title>Connexion</title></head><body>DUI de démonstration</body></html>"


class _Page(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def demo_config(url: str, regex: str | None) -> dict:
    host = urlsplit(url).hostname
    port = urlsplit(url).port or (443 if url.startswith("https") else 80)
    http = {"url": url, **({"expect_regex": regex} if regex else {})}
    return {
        "org": "demo",
        "site": "local",
        "agent": "demo",
        "targets": [
            {"name": "dui-login", "role": "dui", "http": http, "dns": {}},
            {
                "name": "dui-host",
                "role": "dui",
                "latency": {"host": host, "port": port, "samples": 10},
            },
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dui try", description=__doc__.splitlines()[0])
    parser.add_argument("--dui-url", help="probe this DUI URL instead of a local stand-in page")
    args = parser.parse_args()
    server = None
    if args.dui_url:
        url, regex = args.dui_url, None
        print(f"Probing {url} from this machine.\n")
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url, regex = f"http://127.0.0.1:{server.server_address[1]}/login", "Connexion"
        print(
            f"No --dui-url given: probing a stand-in DUI page served locally at {url}\n"
            "(loopback only; nothing leaves this machine).\n"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "agent.yaml"
        path.write_text(yaml.safe_dump(demo_config(url, regex), allow_unicode=True))
        try:
            config = load(path)
        except ConfigError as exc:
            print(f"dui-agent: config error: {exc}", file=sys.stderr)
            sys.exit(2)
        results, skipped = asyncio.run(check(config))
    if server is not None:
        server.shutdown()
    print(table(results, skipped))
    print(
        "\nThis is `dui-agent check`. With a broker, `dui-agent run --config FILE` measures"
        " continuously\nand delivers every result (see README.md). The collector"
        " (`dui-collector trial`) is not in this version yet."
    )
    sys.exit(0 if all(r["success"] for r in results) else 1)


if __name__ == "__main__":
    main()
