"""`dui-collector readiness` as a real process on a real ledger: the JSON document, its
figures on the HTML page (read with html.parser) in French and English, the CSV, the
sentences, and the command's errors (one line, exit 2)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from collector.ingest import Ingest
from collector.ledger import SqliteLedger
from collector.render import formats
from collector.render.html import STRINGS
from collector.render.readiness import figure, readiness_html
from tests.helpers.cli import collector_cli
from tests.helpers.html_page import Page
from tests.helpers.readiness import Sites, usage

TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    """Three sites: one failing only on bandwidth per user, a pilot failing only on Wi-Fi
    loss, a pilot not started without any agent; returns the config file."""
    root = tmp_path_factory.mktemp("readiness")
    ledger = SqliteLedger(root / "ledger.db")
    sites = Sites(Ingest(ledger, raw_retention=35 * 86400), now=time.time())
    sites.healthy("tilleuls", ["accueil-1", "soins-1"])
    sites.bandwidth("tilleuls", "accueil-1", [500_000, 480_000, 520_000])  # 0.4 Mbit/s × 10
    sites.healthy("pins", ["bureau-1", "bureau-2"])
    for agent in ("portable-1", "portable-2"):
        sites.workstation("pins", agent, link="wifi", signal=48)
        sites.latency("pins", agent, "gateway", 0.004, received=8)
    sites.bandwidth("pins", "bureau-1", [5_000_000])
    sites.http("pins", "bureau-1", [0.6] * 30, failures=2, start=9 * 86400, span=9 * 86400)
    for agent in ("bureau-1", "bureau-2"):  # 2 workstations in use for 3 minutes, 2 days ago
        minute = (sites.now - 2 * 86400) // 60 * 60
        sites.send("pins", agent, [usage(minute + 60 * k + 5, True) for k in range(3)])
    ledger.close()
    go_live = TODAY - dt.timedelta(days=10)
    planned = TODAY + dt.timedelta(days=14)
    path = root / "collector.yaml"
    path.write_text(
        f"""
ledger: {{url: "sqlite:///{root}/ledger.db"}}
sites:
  tilleuls: {{name: "EHPAD Les Tilleuls", users: 10}}
  pins: {{name: "Foyer Les Pins", users: 8, pilot: true, go_live: {go_live}}}
  nord: {{name: "SESSAD Nord", users: 6, pilot: true, go_live: {planned}}}
prerequisites:
  workstation: {{max_age: 5y, min_ram: 8GB, os_maintained: true, browsers: {{edge: 120}}}}
  site: {{min_download_per_user: 1Mbit, max_dui_rtt: 100ms, max_loss: 0.01,
         max_gateway_rtt: 5ms, max_dui_p95: 3s, min_workstations_per_user: 0.1,
         min_wifi_signal: 40}}
contracts:
  - {{id: dui-2026, targets: [dui-login], availability: {{objective: 0.995}}}}
""",
        encoding="utf-8",
    )
    return path


def run(config: Path, *args: str) -> str:
    done = collector_cli("readiness", "--config", str(config), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def documents(setup) -> dict[str, dict[str, Any]]:
    return {
        lang: json.loads(run(setup, "--format", "json", "--lang", lang)) for lang in ("fr", "en")
    }


def by_site(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["site"]: s for s in doc["sites"]}


def test_the_json_document(documents) -> None:
    doc = documents["fr"]
    assert doc["window_seconds"] == 7 * 86400 and doc["timezone"] == "Europe/Paris"
    sites = by_site(doc)
    assert list(sites) == ["nord", "pins", "tilleuls"]
    tilleuls, pins, nord = sites["tilleuls"], sites["pins"], sites["nord"]
    assert [c["id"] for c in tilleuls["checks"] if c["verdict"] != "pass"] == ["download_per_user"]
    assert tilleuls["sentence"] == (
        "EHPAD Les Tilleuls n'est pas prêt pour le démarrage : "
        "débit par utilisateur 0,4 Mbit/s pour 1 Mbit/s attendu."
    )
    check = next(c for c in tilleuls["checks"] if c["id"] == "download_per_user")
    assert check == {
        "id": "download_per_user",
        "label": "débit par utilisateur",
        "evidence": 50_000.0,
        "threshold": 125_000,
        "unit": "bytes_per_second",
        "threshold_unit": "bytes_per_second",
        "verdict": "fail",
        "detail": "median of 3 runs 500000 B/s over 10 users",
        "note": "",
    }
    # a workstation check counts workstations against the workstation prerequisite
    units = {c["id"]: (c["unit"], c["threshold_unit"], c["threshold"]) for c in tilleuls["checks"]}
    assert units["max_age"] == ("workstations", "years", 5.0)
    assert units["min_ram"] == ("workstations", "bytes", 8_000_000_000)
    assert units["os_maintained"] == ("workstations", None, None)
    assert units["browsers"] == ("workstations", "major_versions", {"edge": 120})
    assert units["dui_rtt"] == ("seconds", "seconds", 0.1)
    assert [c["id"] for c in pins["checks"] if c["verdict"] != "pass"] == ["wifi_loss"]
    assert pins["sentence"].endswith("pertes en Wi-Fi 20,0 % pour 1,0 % attendu.")
    assert pins["wifi_share"] == 0.5 and pins["started"] is True
    assert len(pins["weeks"]) == 2 and pins["weeks"][0]["week"] == 1
    assert [w["workstations_in_use_peak"] for w in pins["weeks"]] == [None, 2]
    assert pins["weeks"][0]["reasons"] == ["usage_off"] and pins["weeks"][1]["reasons"] == []
    assert sum(w["requests"] for w in pins["weeks"]) == 2 * 20 + 32  # healthy() sends 20 each
    assert sum(w["errors"] for w in pins["weeks"]) == 2
    assert nord["verdict"] == "unknown" and nord["started"] is False and nord["weeks"] == []
    assert nord["sentence"].startswith(
        "SESSAD Nord ne peut pas encore être jugé : aucun poste équipé de dui-agent ; "
        "aucune mesure de débit par utilisateur"
    )
    ws = {w["agent"]: w for w in pins["workstations"]}
    assert ws["portable-1"]["link"] == "wifi" and ws["portable-1"]["wifi_signal_percent"] == 48
    assert ws["bureau-1"]["os_maintained"] is True and ws["bureau-1"]["verdict"] == "pass"
    en = by_site(documents["en"])["tilleuls"]
    assert en["sentence"] == (
        "EHPAD Les Tilleuls is not ready for go-live: bandwidth per user 0.4 Mbit/s against "
        "1 Mbit/s required."
    )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_html_figures_equal_the_json(setup, documents, lang) -> None:
    doc = documents[lang]
    page = Page(run(setup, "--lang", lang))
    t = STRINGS[lang]
    summary = page.rows("summary")
    assert len(summary) == len(doc["sites"])
    for i, site in enumerate(doc["sites"]):
        anchor = f"site-{i}"
        assert summary[anchor] == [site["name"], t[f"rd_{site['verdict']}"]]
        assert site["sentence"] in page.by_id(f"{anchor}-verdict")
        rows = page.rows(f"{anchor}-checks")
        assert list(rows) == [c["id"] for c in site["checks"]]
        for c in site["checks"]:
            label, evidence, threshold, verdict, _ = rows[c["id"]]
            assert label == c["label"]
            assert evidence == figure(c["id"], c["evidence"], lang)
            assert threshold == figure(c["id"], c["threshold"], lang, threshold=True)
            assert verdict == t[f"rd_check_{c['verdict']}"]
        if site["workstations"]:
            assert list(page.rows(f"{anchor}-workstations")) == [
                w["agent"] for w in site["workstations"]
            ]
        if site["weeks"]:
            weeks = page.rows(f"{anchor}-weeks")
            assert [cells[2] for cells in weeks.values()] == [
                str(w["requests"]) for w in site["weeks"]
            ]
            assert [cells[3] for cells in weeks.values()] == [
                str(w["errors"]) for w in site["weeks"]
            ]
            assert [cells[6] for cells in weeks.values()] == [
                formats.number(w["workstations_in_use_peak"], lang) for w in site["weeks"]
            ]
    # the figures read as people write them, independently of the formatting code
    text = page.text()
    if lang == "fr":
        assert "0,4 Mbit/s" in text and "20,0 %" in text and "20 ms" in text
        assert "pas encore démarré" in text
    else:
        assert "0.4 Mbit/s" in text and "20.0%" in text and "not started yet" in text


def test_english_has_no_french_left(setup) -> None:
    text = Page(run(setup, "--lang", "en")).text()
    french = {
        v for k, v in STRINGS["fr"].items() if v != STRINGS["en"][k] and "{" not in v and len(v) > 3
    }
    for template in (v for v in STRINGS["fr"].values() if "{" in v):
        french |= {p.strip() for p in re.split(r"\{\w+\}", template) if len(p.strip()) > 4}
    left = sorted(f for f in french if f in text)
    assert left == [], left
    assert not re.search(r"\d,\d+ ?%", text) and " à " not in text
    assert not re.search(r"\w :", text), "French spacing before a colon"


def test_the_page_fetches_nothing(setup) -> None:
    page = Page(run(setup))
    for tag, attrs in page.tags:
        assert tag not in ("script", "img", "link", "iframe"), tag
        assert not any(v and "://" in v for k, v in attrs.items() if k in ("src", "href"))


def test_csv_has_one_row_per_leaf(setup, documents) -> None:
    rows = list(csv.reader(io.StringIO(run(setup, "--format", "csv"))))
    assert rows[0] == ["field", "value"]
    values = dict(rows[1:])
    assert values["sites.2.site"] == "tilleuls"
    assert values["sites.2.checks.5.id"] == "download_per_user"
    assert float(values["sites.2.checks.5.evidence"]) == 50_000
    assert values["sites.1.pilot"] == "true" and values["sites.0.weeks"] == ""


def test_one_site_and_unknown_site(setup) -> None:
    doc = json.loads(run(setup, "--format", "json", "--site", "pins"))
    assert [s["site"] for s in doc["sites"]] == ["pins"]
    done = collector_cli("readiness", "--config", str(setup), "--site", "nowhere")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "--site 'nowhere'" in line and "known: nord, pins, tilleuls" in line


def test_config_errors_are_one_line(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: {a: {users: 3, min_workstations_per_user: -1}}\n", encoding="utf-8")
    done = collector_cli("readiness", "--config", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert str(bad) in line and "min_workstations_per_user" in line
    missing = tmp_path / "missing.yaml"
    missing.write_text(f'ledger: {{url: "sqlite:///{tmp_path}/none.db"}}\n', encoding="utf-8")
    done = collector_cli("readiness", "--config", str(missing))
    assert done.returncode == 2 and "ledger.url: no ledger at" in done.stderr


def _many_failing(n: int) -> dict[str, Any]:
    """A site of `n` workstations, every one below the RAM bar, as a readiness document."""
    from zoneinfo import ZoneInfo

    from collector.readiness.evaluate import workstation_check
    from collector.readiness.model import Check, Readiness, SiteReadiness, WorkstationReadiness
    from collector.render.readiness import readiness_document

    stations = [
        WorkstationReadiness(
            f"poste-{i:04d}", "grand", [Check("min_ram", 4e9, 8e9, "fail")], ram_bytes=4e9
        )
        for i in range(n)
    ]
    check = workstation_check("min_ram", 8_000_000_000, stations)
    site = SiteReadiness("og", "grand", "Grand site", False, None, 3000, stations, [check], "fail")
    return readiness_document(Readiness(0.0, 0.0, [site]), ZoneInfo("Europe/Paris"))


@pytest.mark.parametrize(("lang", "more"), [("fr", "et 1 990 autre(s)"), ("en", "and 1,990 more")])
def test_a_large_site_names_ten_workstations_per_check(lang: str, more: str) -> None:
    """2,000 PCs below the RAM bar: the check's note names 10 and says how many more (it
    named all 2,000, pages of names in one cell); the figures are grouped as numbers."""
    from collector.render.readiness import view

    doc = _many_failing(2000)
    (check,) = view(doc, lang)["sites"][0]["checks"]
    note, evidence = (
        check[k].replace("\u202f", " ").replace("\xa0", " ") for k in ("note", "evidence")
    )
    table = " (table des postes)" if lang == "fr" else " (workstations table)"
    assert note.count("poste-") == 10 and note.endswith(more + table)
    expected = {"fr": "2 000/2 000 postes hors seuil", "en": "2,000 of 2,000 workstations"}
    assert evidence.startswith(expected[lang])
    page = Page(readiness_html(doc, lang))
    assert len(page.rows("site-0-workstations")) == 2000  # the table still lists them all


def test_numbers_where_an_inventory_has_text_are_read_as_text(tmp_path) -> None:
    """The wire lets os and hardware values be numbers: an agent sending os {"name": 5}
    and model 12345 made the HTML report raise (a traceback) and the readiness samples of
    /metrics raise; they are read as text, and the page and the samples are made."""
    from zoneinfo import ZoneInfo

    from collector.config import parse
    from collector.metrics.exposition import sample_lines
    from collector.metrics.samples import readiness_samples
    from collector.readiness.evaluate import evaluate
    from collector.render.readiness import readiness_document

    ledger = SqliteLedger(tmp_path / "ledger.db")
    sites = Sites(Ingest(ledger, raw_retention=35 * 86400), now=time.time())
    sites.workstation("a", "p1", os={"name": 5, "version": 7, "build": True})
    inventory = sites._result(
        "inventory", "workstation", "workstation", 60,
        os={"product": "Windows 10", "build": 19045}, ram_bytes=8,
        hardware={"model": 12345, "firmware_date": 20230301}, link="wired",
    )  # fmt: skip
    sites.send("a", "p2", [inventory])
    config = parse({"prerequisites": {"workstation": {"os_maintained": True}}}, files=False)
    found = evaluate(config, ledger, sites.now)
    ledger.close()
    doc = readiness_document(found, ZoneInfo("Europe/Paris"), "fr")
    stations = {w["agent"]: w for w in doc["sites"][0]["workstations"]}
    assert (stations["p1"]["os_name"], stations["p1"]["os_version"]) == ("5", "7")
    assert (stations["p2"]["model"], stations["p2"]["os_name"]) == ("12345", "Windows 10 22H2")
    assert stations["p2"]["os_maintained"] is False  # build 19045 read as "19045"
    rows = Page(readiness_html(doc, "fr")).rows("site-0-workstations")
    assert rows["p1"][2].startswith("5 7") and rows["p2"][1] == "12345"
    lines = [line for n, v, x in readiness_samples(found) for line in sample_lines(n, v, x)]
    assert any('model="12345"' in line for line in lines)


@pytest.mark.parametrize(
    ("lang", "one", "none"),
    [
        ("fr", "S est prêt pour le démarrage : le seul prérequis vérifié est rempli.",
         "S ne peut pas être jugé : aucun prérequis n'est configuré (prerequisites: dans la"
         " configuration du collecteur)."),
        ("en", "S is ready for go-live: the one prerequisite checked is met.",
         "S cannot be judged: no prerequisite is configured (prerequisites: in the"
         " collector's config)."),
    ],
)  # fmt: skip
def test_the_sentence_of_one_check_and_of_none(lang: str, one: str, none: str) -> None:
    """ "les 1 prérequis vérifiés sont remplis" read wrong; with none, where to add them."""
    from collector.render.readiness import sentence

    check = {"id": "min_ram", "verdict": "pass"}
    assert sentence({"name": "S", "verdict": "pass", "checks": [check]}, lang) == one
    assert sentence({"name": "S", "verdict": "unknown", "checks": []}, lang) == none


def test_control_and_bidi_characters_of_an_inventory_are_not_shown() -> None:
    """A model with a right-to-left override displayed reversed ("\u202eexe.txt" read
    "txt.exe"), and control characters went into the page as they came."""
    from zoneinfo import ZoneInfo

    from collector.readiness.model import Readiness, SiteReadiness, WorkstationReadiness
    from collector.render.readiness import readiness_document, view

    station = WorkstationReadiness(
        "p1", "s", [], model="\u202eexe.txt", os_name="Deb\x07ian\x1b[31m", os_maintained=None
    )
    site = SiteReadiness("og", "s", "S", False, None, None, [station], [], "unknown")
    doc = readiness_document(Readiness(0.0, 0.0, [site]), ZoneInfo("Europe/Paris"))
    shown = view(doc, "en")["sites"][0]["workstations"][0]
    assert (shown["model"], shown["os"]) == ("exe.txt", "Deb ian [31m")
    assert doc["sites"][0]["workstations"][0]["model"] == "\u202eexe.txt"  # the JSON as sent


def test_an_unknown_site_reads_the_ledger_once(setup, monkeypatch, capsys) -> None:
    """The known sites come from the one evaluation the command makes (a second full
    evaluation took 11 s at 40 agents); counted on the real ledger's 7-day scan."""
    import collector.readiness.evaluate as evaluate_module
    from collector import cli

    scans = []
    read_window = evaluate_module.read_window
    monkeypatch.setattr(
        evaluate_module, "read_window", lambda *a: scans.append(a) or read_window(*a)
    )
    with pytest.raises(SystemExit) as exited:
        cli.readiness.callback(setup, "nowhere", "json", "en", None)
    assert exited.value.code == 2 and len(scans) == 1
    assert "known: nord, pins, tilleuls" in capsys.readouterr().err
