"""`python -m dashboards` is `dui-dashboards`."""

from dashboards.cli import main

if __name__ == "__main__":
    main()
