"""The probe process stays lean: standard library only, no package metadata lookup,
and still reports the agent's version in the context probe."""

from __future__ import annotations

import json
import subprocess
import sys

from agent import __version__
from agent.worker import ProcessRunner, probe_process_command, probe_process_env

PROBES = ("latency", "http", "dns", "context", "inventory", "scenario", "bandwidth", "usage")
# Third-party packages the agent's main process uses, and the standard library's costly
# metadata machinery (importlib.metadata pulls in email, zipfile, csv: ≈ 2.5 MB).
NOT_HERE = ("msgspec", "yaml", "aiomqtt", "paho", "psutil", "click", "importlib.metadata")


def imported(cmd: list[str], code: str) -> set[str]:
    out = subprocess.run(
        [*cmd[:-1], f"{code}; import json; print(json.dumps(sorted(sys.modules)))"],
        env=probe_process_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout))


def test_probe_process_imports_only_the_standard_library() -> None:
    cmd = probe_process_command()
    boot = cmd[-1].replace("; main()", "")  # the process's own start, without serving
    at_start = imported(cmd, "import sys")  # what site and its .pth hooks load
    probe_imports = "; ".join(f"import agent.probes.{kind}" for kind in PROBES)
    modules = imported(cmd, f"{boot}; {probe_imports}") - at_start
    ours = {"agent", "runtime", "__main__"}
    assert sorted(m for m in modules if m.split(".")[0] not in sys.stdlib_module_names | ours) == []
    assert not [m for m in modules if m.startswith(NOT_HERE)]
    assert "runtime.version" not in modules


async def test_context_and_inventory_in_the_probe_process() -> None:
    async with ProcessRunner() as runner:
        context = await runner.run("context", {}, 10)
        inventory = await runner.run("inventory", {}, 60)
    assert context["success"] is True and context["version"] == __version__
    assert inventory["success"] is True, inventory
    assert inventory["ram_bytes"] > 2**28 and inventory["cpu"]["cores"] >= 1
