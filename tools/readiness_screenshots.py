"""The readiness report's screenshots in docs/ (readiness-fr.png, readiness-en.png) from a
realistic ledger: a ready site, a site not ready (an old PC, a PC short of RAM, a lossy
Wi-Fi) and a pilot site four weeks after go-live with its usage; the French shot is the
report's top, the English one the pilot alone (`--site`). Run from the repo root:

    python tools/readiness_screenshots.py [--out docs]   # needs chromium on PATH
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from tests.helpers.readiness import PREREQUISITES, Sites, usage

DAY = 86400


def build(root: Path) -> Path:
    """The ledger and the config under `root`; returns the config's path."""
    now = time.time()
    ledger = SqliteLedger(root / "ledger.db")
    sites = Sites(Ingest(ledger, raw_retention=35 * DAY), org="og-exemple", now=now)
    sites.healthy("ehpad-tilleuls", [f"soins-{i}" for i in range(1, 6)])
    sites.bandwidth("ehpad-tilleuls", "soins-1", [2_400_000, 2_300_000, 2_500_000])
    # not ready: a 2017 PC, a 4 GB one, two laptops on a lossy Wi-Fi
    sites.healthy("foyer-pins", ["bureau-1", "bureau-2"])
    sites.workstation("foyer-pins", "accueil-1", firmware="2017-05-12")
    sites.workstation("foyer-pins", "accueil-2", ram=4_000_000_000)
    for agent in ("portable-1", "portable-2"):
        sites.workstation("foyer-pins", agent, link="wifi", signal=52)
        sites.latency("foyer-pins", agent, "gateway", 0.003, received=9)
    sites.bandwidth("foyer-pins", "bureau-1", [1_500_000, 1_400_000])
    # the pilot: go-live 26 days ago, results and usage every day since
    pilot = "sessad-nord"
    agents = ["educ-1", "educ-2", "educ-3"]
    sites.healthy(pilot, agents, link="wifi", signal=70)
    sites.bandwidth(pilot, "educ-1", [1_200_000, 1_250_000])
    for agent in agents:
        sites.http(pilot, agent, [0.5, 0.7, 0.9, 1.4] * 40, failures=3, start=26 * DAY)
    for day in range(26, 0, -1):  # in time order, as a spool sends them
        start = (now - day * DAY) // 60 * 60
        for k, agent in enumerate(agents[: 1 + day % 3]):  # 1 to 3 in use a day
            minutes = 60 + 20 * k + 4 * (26 - day)  # adoption grows week by week
            sites.send(pilot, agent, [usage(start + 60 * m + 5, True) for m in range(minutes)])
    ledger.close()
    go_live = dt.date.today() - dt.timedelta(days=26)
    config = root / "collector.yaml"
    document = {
        "ledger": {"url": f"sqlite:///{root}/ledger.db"},
        "sites": {
            "ehpad-tilleuls": {"name": "EHPAD Les Tilleuls", "users": 10},
            "foyer-pins": {"name": "Foyer Les Pins", "users": 8},
            "sessad-nord": {"name": "SESSAD Nord", "users": 6, "pilot": True, "go_live": go_live},
        },
        "prerequisites": PREREQUISITES,  # the readiness tests' own
        "contracts": [
            {"id": "dui-2026", "targets": ["dui-login"], "availability": {"objective": 0.995}}
        ],
    }
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", type=Path)
    parser.add_argument("--keep", type=Path, help="build here and keep the HTML")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="readiness-shots-"))
    root.mkdir(parents=True, exist_ok=True)
    config = build(root)
    # French: the whole report from its top (a site ready, one not); English: the pilot
    for lang, only in (("fr", []), ("en", ["--site", "sessad-nord"])):
        page = root / f"readiness-{lang}.html"
        subprocess.run(
            [sys.executable, "-m", "collector", "readiness", "--config", str(config),
             "--lang", lang, *only, "--output", str(page)],
            check=True,
        )  # fmt: skip
        shot = (args.out / f"readiness-{lang}.png").resolve()
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--hide-scrollbars",
             f"--screenshot={shot}", "--window-size=1200,1800", page.resolve().as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
        print(shot)


if __name__ == "__main__":
    main()
