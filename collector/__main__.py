"""`python -m collector` is `dui-collector`."""

from collector.cli import main

if __name__ == "__main__":
    main()
