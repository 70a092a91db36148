"""Reference TCP-connect RTT: a blocking connect timed around the call, nothing else.

python -m tests.helpers.reference_client HOST PORT COUNT SPACING  → JSON list of seconds
"""

from __future__ import annotations

import json
import socket
import sys
import time


def main() -> None:
    host, port, count, spacing = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    rtts = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        t0 = time.perf_counter_ns()
        sock.connect((host, port))
        rtts.append((time.perf_counter_ns() - t0) * 1e-9)
        sock.close()
        time.sleep(spacing)
    print(json.dumps(rtts))


if __name__ == "__main__":
    main()
