"""Placeholder command line of dui-collector until its issue lands."""

import sys


def main() -> None:
    print(
        "dui-collector: not yet available in this version (see README.md, Status)", file=sys.stderr
    )
    sys.exit(2)
