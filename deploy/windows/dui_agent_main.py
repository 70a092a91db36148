"""The entry point of the single-file dui-agent build (PyInstaller). The executable is
also its own probe process (`dui-agent.exe _probe-process`, agent/worker.py): that role
imports only agent.probe_process, not the command line, to stay as lean as `python -I`."""

import sys

if sys.argv[1:2] == ["_probe-process"]:
    from agent.probe_process import main
else:
    from agent.cli import main

if __name__ == "__main__":
    main()
