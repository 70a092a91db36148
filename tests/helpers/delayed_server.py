"""An HTTP server with a fixed think time, for runs across delaywire.

    python -m tests.helpers.delayed_server --bind 198.18.0.2 --port 8080 --think 0.02

Prints `ready` once it listens. Paths under /missing answer 404.
"""

from __future__ import annotations

import argparse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b"<html><title>Connexion</title>" + b"x" * 2000 + b"</html>"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    think = 0.0

    def do_GET(self) -> None:
        time.sleep(self.think)
        self.send_response(404 if self.path.startswith("/missing") else 200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--think", type=float, default=0.0)
    args = parser.parse_args()
    Handler.think = args.think
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
