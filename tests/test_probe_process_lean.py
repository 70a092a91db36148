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


def test_probe_process_imports_only_the_standard_library() -> None:
    cmd = probe_process_command()
    boot = cmd[-1].replace("; main()", "")  # the process's own start, without serving
    probe_imports = "; ".join(f"import agent.probes.{kind}" for kind in PROBES)
    code = f"{boot}; {probe_imports}; import json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [*cmd[:-1], code], env=probe_process_env(), capture_output=True, text=True, check=True
    )
    modules = json.loads(out.stdout)
    ours = {"agent", "runtime", "__main__"}
    foreign = [m for m in modules if m.split(".")[0] not in sys.stdlib_module_names | ours]
    assert foreign == []
    assert not [m for m in modules if m.startswith(NOT_HERE)]
    assert "runtime.version" not in modules


async def test_context_probe_in_the_probe_process_has_the_version() -> None:
    async with ProcessRunner() as runner:
        result = await runner.run("context", {}, 10)
    assert result["success"] is True and result["version"] == __version__
