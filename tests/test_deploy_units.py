"""The systemd units in deploy/systemd: hardened as docs/operations.md says, starting the
console scripts pyproject.toml installs, accepted by `systemd-analyze verify`, and the
Python they run working under MemoryDenyWriteExecute; and the Windows service
definition, which cannot run here, read as WinSW would."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tests.helpers import ROOT
from tests.helpers.cli import python
from tests.helpers.servers import http_server
from tests.test_sla_report import config, ledger_path  # noqa: F401

UNITS = ROOT / "deploy" / "systemd"
NAMES = ("dui-agent", "dui-collector")
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "MemoryDenyWriteExecute": "yes",
    "LockPersonality": "yes",
    "RestrictRealtime": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "SystemCallArchitectures": "native",
    "UMask": "0077",
    "Restart": "on-failure",
    "KillSignal": "SIGTERM",
}
# Linux ≥ 6.3: the kernel's own "memory deny write execute", the rule the unit asks
# systemd to enforce; inherited across exec.
MDWE = (
    "import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.prctl(65, 1, 0, 0, 0):\n"
    "    sys.exit('PR_SET_MDWE: ' + os.strerror(ctypes.get_errno()))\n"
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def directives(name: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [values, in order]}}: systemd repeats keys, configparser would not."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in (UNITS / f"{name}.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.mark.parametrize("name", NAMES)
def test_unit_is_hardened_and_starts_the_console_script(name: str) -> None:
    service = directives(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{name}: {key}={service.get(key)}"
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert service["User"] == [name] and service["StateDirectory"] == [name]
    assert service["ConfigurationDirectory"] == [name] and "LogsDirectory" not in service
    assert "ExecReload" not in service, "neither service reloads on SIGHUP"
    assert int(service["TimeoutStopSec"][0]) >= 20, "the clean stop needs up to ~12 s"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    binary, *args = service["ExecStart"][0].split()
    assert Path(binary).name == name and name in scripts
    assert args == ["run", "--config", f"/etc/{name}/{name.removeprefix('dui-')}.yaml"]


def installed(tmp_path: Path) -> Path:
    """Every unit, with ExecStart on this environment's console scripts: verify checks
    that a binary exists and is executable."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "dui-agent").exists():
        pytest.skip(f"{bin_dir}/dui-agent is not installed (pip install -e .)")
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/usr/local/bin/dui-", f"{bin_dir}/dui-")
        (tmp_path / unit.name).write_text(text)
    return tmp_path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("unit", sorted(p.name for p in UNITS.iterdir()))
def test_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    # verify reads the unit files alone: it runs without systemd as PID 1.
    done = analyze("verify", str(installed(tmp_path) / unit))
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@pytest.mark.parametrize("name", [*NAMES, "dui-collector-backup"])
def test_exposure_score(name: str, tmp_path: Path) -> None:
    unit = installed(tmp_path) / f"{name}.service"
    done = analyze("security", "--offline=yes", "--no-pager", str(unit))
    if "--offline" in done.stderr or "unrecognized option" in done.stderr:
        pytest.skip(f"systemd-analyze security has no --offline here: {done.stderr.strip()}")
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert score, done.stdout + done.stderr
    # docs/operations.md gives the figures with systemd 252: 1.2, 1.1 and 0.4 (backup).
    assert float(score.group(1)) <= 2.0, done.stdout


def under_mdwe(*args: str) -> subprocess.CompletedProcess[str]:
    probe = python("-c", MDWE, sys.executable, "-c", "pass")
    if probe.returncode:
        pytest.skip(f"the kernel cannot deny write+execute memory: {probe.stderr.strip()}")
    return python(*args, prefix=(sys.executable, "-c", MDWE))


def test_the_agent_runs_under_memory_deny_write_execute(tmp_path: Path) -> None:
    with http_server() as url:
        agent = tmp_path / "agent.yaml"
        agent.write_text(
            "org: o\nsite: s\nagent: a\nmqtt: {url: 'mqtt://127.0.0.1:1883'}\n"
            f"spool: {{path: '{tmp_path / 'spool.db'}'}}\n"
            f"targets: [{{name: web, role: dui, http: {{url: '{url}', interval: 30s}}}}]\n"
        )
        done = under_mdwe("-m", "agent", "check", "--config", str(agent))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout


def test_the_collector_renders_under_memory_deny_write_execute(
    tmp_path: Path,
    ledger_path: Path,  # noqa: F811
) -> None:
    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    # The HTML report: matplotlib, numpy and jinja2 loaded, the widest set of native code.
    done = under_mdwe(
        "-m", "collector", "report", "--config", config(tmp_path, copy),
        "--contract", "dui-vendor-2026", "--from", "2026-11-17T00:00:00Z",
        "--to", "2026-11-18T00:00:00Z", "--format", "html",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout


def test_every_exec_start_is_a_console_script() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for unit in UNITS.glob("*.service"):
        (command,) = directives(unit.stem)["Service"]["ExecStart"]
        names = re.findall(r"/usr/local/bin/(\S+)", command)
        assert names and all(n in scripts for n in names), f"{unit.name}: {command}"


def test_windows_service_definition() -> None:
    """WinSW's XML (it cannot run here): the one-file agent with `run --config`, a stop
    long enough for the clean stop, Ctrl+C to the agent before its probe process."""
    service = ElementTree.parse(ROOT / "deploy" / "windows" / "dui-agent-service.xml").getroot()
    assert service.findtext("id") == "dui-agent"
    assert service.findtext("executable") == r"%BASE%\dui-agent.exe"
    assert service.findtext("arguments") == r'run --config "C:\ProgramData\dui-sla\agent.yaml"'
    assert int(service.findtext("stoptimeout", "").split()[0]) >= 20
    assert service.findtext("stopparentprocessfirst") == "true"
    assert service.find("serviceaccount") is None, "sc.exe sets the virtual account"
    spec = (ROOT / "deploy" / "windows" / "dui-agent.spec").read_text()
    entry = re.search(r'\["(\w+\.py)"\]', spec)
    assert entry and (ROOT / "deploy" / "windows" / entry.group(1)).exists()
