"""The single-file build of deploy/windows/dui-agent.spec, built for Linux (the Windows
build cannot be made or run here): it checks a target and, as `run`, starts itself as
its probe process and publishes results that are acked.

Slow (a PyInstaller build, ≈ 15 s here): `pytest -m slow tests/test_windows_build.py`.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT
from tests.helpers.poll import wait_until
from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server
from tests.test_delivery import http_target

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def frozen_agent(tmp_path_factory) -> Path:
    pyinstaller = pytest.importorskip("PyInstaller.__main__", reason="pip install pyinstaller")
    work = tmp_path_factory.mktemp("pyinstaller")
    pyinstaller.run(
        [
            "--clean",
            "--noconfirm",
            "--log-level=WARN",
            "--distpath", str(work / "dist"),
            "--workpath", str(work / "build"),
            str(ROOT / "deploy" / "windows" / "dui-agent.spec"),
        ]
    )  # fmt: skip
    exe = work / "dist" / "dui-agent"
    assert exe.exists()
    return exe


def probe_processes(exe: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # not a process, or gone
            continue
        if argv[:2] == [str(exe).encode(), b"_probe-process"]:
            found.append(int(entry.name))
    return found


def test_frozen_agent_checks_a_target(frozen_agent: Path, tmp_path: Path) -> None:
    with http_server() as url:
        config = tmp_path / "agent.yaml"
        config.write_text(
            yaml.safe_dump(agent_config(tmp_path, "mqtt://127.0.0.1:1883", [http_target(url)]))
        )
        done = subprocess.run(
            [frozen_agent, "check", "--config", config],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dui-login" in done.stdout and "0 failed" in done.stdout


async def test_frozen_agent_runs_its_probe_process(
    frozen_agent: Path, tmp_path: Path, acker
) -> None:
    with http_server() as url:
        config = tmp_path / "agent.yaml"
        settings = agent_config(tmp_path, f"mqtt://127.0.0.1:{acker.port}", [http_target(url)])
        config.write_text(yaml.safe_dump(settings))
        log = tmp_path / "agent.log"
        with open(log, "wb") as out:
            agent = subprocess.Popen(
                [frozen_agent, "run", "--config", config], stdout=out, stderr=out
            )
        try:

            def http_acked() -> bool:
                return any(
                    r.probe == "http" and r.success for b in acker.batches for r in b.results
                ) and bool(acker.acked)

            await acker.wait(http_acked, 60, "an http result from the frozen agent")
            # sys.executable is the exe in a frozen build: the probe process is the exe too.
            assert probe_processes(frozen_agent), "no `dui-agent _probe-process` running"
        finally:
            agent.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(agent.wait, 30)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "probe process started" in text and "Traceback" not in text
    wait_until(lambda: agent.poll() is not None, 5, "the agent gone")
