"""The entry point of the single-file dui-agent build (PyInstaller): the console
script's `main`, which also serves `dui-agent.exe _probe-process`, the probe process."""

from agent.cli import main

if __name__ == "__main__":
    main()
