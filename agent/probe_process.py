"""The probe process: reads requests as JSON lines on stdin, runs each probe in a
thread of its own, writes answers as JSON lines on stdout.

Started by agent.worker.ProcessRunner as `python -m agent.probe_process`; it imports
only the standard library and the probe modules, to stay small.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from typing import Any

from agent import probes
from agent.probes._common import SWITCH_INTERVAL

MAX_CONCURRENT_PROBES = 16


def safe_measure(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return probes.measure(kind, params)
    except Exception as exc:  # a probe bug must cost one result, not the agent
        return {"ts": time.time(), "success": False, "error": "internal", "detail": repr(exc)}


def main() -> None:
    # The agent stops this process by closing its stdin; a signal sent to the whole
    # process group (Ctrl-C, systemd) must not kill it before the agent is done with it.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    # A thread whose timed socket call returned waits at most this long for the GIL.
    sys.setswitchinterval(SWITCH_INTERVAL)
    out_lock = threading.Lock()
    # A thread per probe, at most MAX_CONCURRENT_PROBES at once (further requests wait in
    # the pipe): concurrent.futures would cost the process ~1 MB for nothing more.
    slots = threading.BoundedSemaphore(MAX_CONCURRENT_PROBES)

    def work(request_id: int, kind: str, params: dict[str, Any]) -> None:
        try:
            answer = json.dumps([request_id, safe_measure(kind, params)])
            with out_lock:
                sys.stdout.write(answer + "\n")
                sys.stdout.flush()
        finally:
            slots.release()

    for line in sys.stdin:  # ends when the agent closes the pipe
        request_id, kind, params = json.loads(line)
        slots.acquire()
        threading.Thread(
            target=work, args=(request_id, kind, params), name="probe", daemon=True
        ).start()


if __name__ == "__main__":
    main()
