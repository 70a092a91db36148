"""A real Mosquitto on a free loopback port, with a temporary config."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.helpers.poll import wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    wait_until(lambda: listening(port, host), timeout, f"something listening on {host}:{port}")


class Mosquitto:
    """Start, stop and restart a broker on the same port; persistence on."""

    def __init__(self, workdir: Path, extra: str = "", tls: dict[str, str] | None = None) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install -y mosquitto")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {workdir}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ]
        if os.geteuid() == 0:
            # Mosquitto run as root drops to user `mosquitto`, which cannot read the
            # test's private temporary directory; stay root for the test broker.
            lines.append("user root")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            end_process(self.proc, grace=10)
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


def end_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10) -> int:
    """Stop a test's server: `sig`, `grace` seconds to exit, then SIGKILL; its exit code."""
    proc.send_signal(sig)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)
