"""Placeholder command line of dui-dashboards until its issue lands."""

import sys


def main() -> None:
    print(
        "dui-dashboards: not yet available in this version (see README.md, Status)", file=sys.stderr
    )
    sys.exit(2)
