"""The printed contract report (HTML and PDF): every figure on the page equals the
JSON of the same report, French formats and an English twin with no French left,
nothing fetched, the PDF's pages and text, a golden text for the known day of
tests/test_sla_report.py, and documents without the newer fields still render."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from collector.render import formats
from collector.render.html import STRINGS, report_html
from collector.render.terms import CLAUSES
from tests.helpers import ROOT
from tests.helpers.cli import collector_cli
from tests.helpers.html_page import Page, squeeze
from tests.test_sla_report import config, ledger_path, run_report  # noqa: F401 - fixture

FULL = ROOT / "tests" / "data" / "report_full.json"
GOLDEN_TEXT = ROOT / "tests" / "data" / "report.golden.fr.txt"
FRENCH_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.")
FRENCH_MONTHS += ("oct.", "nov.", "déc.", "novembre", "décembre")


def full() -> dict[str, Any]:
    """A hand-built document with every field of the report (the shape of docs/sla.md)."""
    return json.loads(FULL.read_text(encoding="utf-8"))


def old() -> dict[str, Any]:
    """The known day's document as the code wrote it before the per-site, clause-figure
    and penalty-term fields (a frozen month keeps this shape forever)."""
    return json.loads((ROOT / "tests" / "data" / "report_old.json").read_text("utf-8"))


def zone_of(doc: dict[str, Any]):
    from collector.render.report import _zone

    return _zone(doc)


def assert_figures(page: Page, doc: dict[str, Any], lang: str) -> None:
    """Every figure of the page against the document it was rendered from."""
    t = STRINGS[lang]
    pct = partial(formats.percent, lang=lang)
    num = partial(formats.number, lang=lang)
    duration = partial(formats.duration, lang=lang)
    zone = zone_of(doc)
    assert page.by_id("card-availability").endswith(pct(doc["availability"]))
    assert page.by_id("card-objective").endswith(pct(doc["objective"]))
    budget = doc.get("error_budget_remaining_ratio")
    if budget is not None:
        assert pct(budget, digits=1) in page.by_id("card-budget")
    minutes = page.rows("minutes")
    for state, count in doc["minutes"].items():
        assert minutes[state][1:] == [num(count), duration(count * 60)], state
    downtime = page.rows("downtime")
    for who, seconds in doc["downtime_seconds"].items():
        assert downtime[who] == [t[f"attr_{who}"], duration(seconds)], who
    coverage = page.rows("coverage")
    assert coverage["coverage"] == [t["coverage"], pct(doc["coverage"])]
    minimum = (doc.get("terms") or {}).get("min_coverage")
    assert coverage["min_coverage"][1] == (t["not_available"] if minimum is None else pct(minimum))
    rto_evaluated = (doc.get("clauses") or {}).get("rto") is not None
    names = {k: v["name"] or k for k, v in (doc.get("sites") or {}).items()}
    if doc["incidents"]:
        rows = page.body_rows("incidents")
        assert len(rows) == len(doc["incidents"])
        for row, i in zip(rows, doc["incidents"], strict=True):
            rto = (
                t["rto_not_evaluated"]
                if not rto_evaluated
                else t["rto_breached" if i["rto_breach"] else "rto_met"]
            )
            assert row[:6] == [
                formats.moment(i["start"], zone, lang),
                formats.moment(i["end"], zone, lang),
                duration(i["duration_seconds"]),
                ", ".join(names.get(s, s) for s in i["sites"]),
                t[f"attr_{i['attribution']}"],
                rto,
            ]
            for note in i["notes"]:
                assert note["cause"] in row[6]
    for key in CLAUSES:
        section = page.by_id(f"clause-{key}")
        verdict = (doc.get("clauses") or {}).get(key)
        assert section.startswith(t[f"clause_{key}"])
        if verdict is None:
            assert section == f"{t[f'clause_{key}']} — {t['clause_absent']}"
            continue
        assert t["pass" if verdict else "fail"] in section
        given = (doc.get("clause_figures") or {}).get(key)
        if given:
            show = pct if key == "availability" else duration
            assert f"{t['figure']} {show(given['figure'])}" in section
            assert f"{t['target']} {show(given['target'])}" in section
    penalty = doc.get("penalty")
    if penalty:
        money = formats.money(penalty["amount"], penalty["currency"], lang)
        assert page.by_id("card-penalty").endswith(money)
        rows = page.body_rows("penalty", header=False)
        assert rows[-1] == [t["penalty_amount"], money]
        assert rows[0][0] == t["pen_steps"] and rows[0][1].endswith(num(penalty["steps"]))
    for site, s in (doc.get("sites") or {}).items():
        row = page.rows("sites")[site]
        assert row == [
            s["name"] or site,
            num(s["p50_seconds"], digits=2),
            num(s["p95_seconds"], digits=2),
            num(None if s["rtt_seconds"] is None else s["rtt_seconds"] * 1000, digits=1),
            num(
                None if s["gateway_rtt_seconds"] is None else s["gateway_rtt_seconds"] * 1000,
                digits=1,
            ),
            pct(s["loss_ratio"], digits=1),
            pct(s["gateway_loss_ratio"], digits=1),
            duration(s["local_fault_seconds"]),
        ]
    assert page.by_id("chain") == doc["evidence_chain_head"]


def cli_report(tmp_path, ledger_path, *extra: str) -> tuple[dict[str, Any], str]:  # noqa: F811
    """The known day's report as JSON and in the requested other format, by the real CLI."""
    path = config(tmp_path, ledger_path)
    document = run_report(path, "--format", "json")
    assert document.returncode == 0, document.stderr
    other = run_report(path, *extra)
    assert other.returncode == 0, other.stderr
    return json.loads(document.stdout), other.stdout


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_html_figures_equal_the_json(tmp_path, ledger_path, lang) -> None:  # noqa: F811
    doc, html = cli_report(tmp_path, ledger_path, "--format", "html", "--lang", lang)
    page = Page(html)
    assert_figures(page, doc, lang)
    # the known day is a period report (--from/--to): a VSR, its verdict said plainly
    verdict = page.by_id("verdict")
    if lang == "fr":
        assert verdict.startswith(
            "Verdict. Vérification de service régulier (VSR) du 17 nov. 2026 à 1 h 00 au "
            "18 nov. 2026 à 1 h 00 : le service n'est pas conforme au contrat"
        ), verdict
        assert "97,101 %" in verdict and "795,00\xa0€" in page.by_id("card-penalty")
        assert "17 nov. 2026 à 10 h 00" in page.text() and "UTC+01:00" in page.text()
    else:
        assert "the service did not meet the contract" in verdict


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_full_document_figures(lang) -> None:
    doc = full()
    page = Page(report_html(doc, lang))
    assert_figures(page, doc, lang)
    text = page.text()
    assert "Europe/Paris (UTC+01:00)" in text
    if lang == "fr":
        assert "Verdict. Novembre 2026 : le service n'est pas conforme" in page.by_id("verdict")
        assert "23 nov. 2026 à 18 h 55" in text
        assert "1\u202f500,00\xa0€ × 18 % = 270,00\xa0€" in text
        assert "⌈(99,500 % − 99,498 %) / 0,100 %⌉ = ⌈0,015⌉ = 1" in text
        assert "2 × 5 % = 10 %" in text and "1 × 6 % = 6 %" in text
        assert "INC-4521" in text and "contesté" in text
        # a note on a start where no incident starts any more
        assert "incident du 30 nov. 2026 à 9 h 40 : Lenteurs signalées par les soignants" in text
        assert "Intervention d'urgence" in text  # declared after the fact
        assert "bk-2026-11-12" in text and "rt-77" in text  # voided, ignored


def english(doc: dict[str, Any]) -> dict[str, Any]:
    """The same document with its free text (names, notes, reasons) in English, so what
    is left French on the page can only come from the report itself."""
    doc = copy.deepcopy(doc)
    doc["vendor"] = "DUI Vendor Ltd"
    for i in doc["incidents"]:
        for n in i["notes"]:
            n["cause"] = "database cluster failure"
    for n in doc.get("notes_unmatched", []):
        n["cause"] = "slowness reported"
    for m in doc.get("maintenance", []):
        m["reason"] = "update"
    for v in doc.get("voided", []):
        v["reason"] = "posted twice"
    for s in (doc.get("sites") or {}).values():
        s["name"] = None
    return doc


@pytest.mark.parametrize("document", [full, old])
def test_english_has_no_french_left(document) -> None:
    page = Page(report_html(english(document()), "en"))
    text = page.text()
    french = {
        v for k, v in STRINGS["fr"].items() if v != STRINGS["en"][k] and "{" not in v and len(v) > 3
    }
    for template in (v for v in STRINGS["fr"].values() if "{" in v):
        french |= {part.strip() for part in re.split(r"\{\w+\}", template) if len(part) > 4}
    left = sorted(f for f in french if f in text)
    assert left == [], left
    words = set(re.findall(r"[\w.]+", text))
    assert not words & set(FRENCH_MONTHS), words & set(FRENCH_MONTHS)
    assert not re.search(r"\d,\d+ ?%", text) and " à " not in text
    assert not re.search(r"\w :", text), "French spacing before a colon"


@pytest.mark.parametrize("document", [full, old])
def test_no_clause_key_shown_raw(document) -> None:
    for lang in ("fr", "en"):
        text = Page(report_html(document(), lang)).text()
        # an English page may say "availability" or "retention": words, not keys
        keys = [k for k in (*CLAUSES, "rto_breach", "verdict_reason") if lang == "fr" or "_" in k]
        raw = [k for k in keys if re.search(rf"\b{k}\b", text)]
        assert raw == [], (lang, raw)


def test_the_page_fetches_nothing() -> None:
    page = Page(report_html(full(), "fr"))
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "img", "iframe")]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            if name.startswith("xmlns"):
                continue  # a namespace name, never fetched
            assert not (value or "").lower().startswith(("http:", "https:", "//")), (tag, name)
            if name in ("href", "xlink:href", "src"):
                assert (value or "").startswith("#"), (tag, name, value)
    assert "@import" not in report_html(full(), "fr")
    assert "url(http" not in report_html(full(), "fr")


def test_charts_are_svg_text_french_and_stable() -> None:
    doc = full()
    html = report_html(doc, "fr")
    assert html == report_html(doc, "fr"), "the same document gives the same bytes"
    page = Page(html)
    svgs = [tag for tag, _ in page.tags if tag == "svg"]
    assert len(svgs) == 3  # daily availability, daily p95 by site, incident timeline
    chart_text = set(page.text().split("\n")) - set(page.text(charts=False).split("\n"))
    assert {"1 nov.", "90,0 %", "1,0", "EHPAD Les Tilleuls"} <= chart_text, chart_text
    assert "Disponibilité par jour (pointillés : objectif 99,500 %)" in chart_text
    english_text = Page(report_html(doc, "en")).text()
    assert "1 Nov" in english_text and "90.0%" in english_text


def test_a_provisional_month_says_so() -> None:
    doc = full()
    doc.update(complete=False, evaluated_to="2026-11-23T18:55:00+01:00")
    verdict = Page(report_html(doc, "fr")).by_id("verdict")
    assert "Verdict provisoire : la période n'est pas terminée" in verdict
    assert "arrêtés au 23 nov. 2026 à 18 h 55" in verdict


def test_insufficient_evidence_gives_no_verdict() -> None:
    doc = full()
    doc.update(verdict=None, verdict_reason="coverage", coverage=0.62)
    verdict = Page(report_html(doc, "fr")).by_id("verdict")
    assert "preuves insuffisantes, aucun verdict" in verdict
    assert "62,000 %" in verdict and "90,000 %" in verdict
    assert "conforme" not in verdict


def test_rto_not_in_the_contract_is_not_evaluated_never_met() -> None:
    doc = full()
    doc["terms"]["rto_seconds"] = None
    doc["clauses"]["rto"] = None
    del doc["clause_figures"]["rto"]
    page = Page(report_html(doc, "fr"))
    rto = [row[5] for row in page.body_rows("incidents")]
    assert rto == ["non évalué"] * 3
    assert "absente du contrat, non évaluée" in page.by_id("clause-rto")


def test_documents_without_the_newer_fields_render() -> None:
    page = Page(report_html(old(), "fr"))
    assert_figures(page, old(), "fr")
    text = page.text()
    assert "Chiffres par site non disponibles dans ce rapport." in text
    assert "absente du contrat, non évaluée" in page.by_id("clause-rpo")
    bare = {
        k: v
        for k, v in old().items()
        if k in ("contract", "period", "objective", "availability", "minutes", "coverage")
    }
    bare.update(incidents=[], downtime_seconds={})
    assert "Rapport de service" in Page(report_html(bare, "fr")).text()


def test_golden_visible_text(tmp_path, ledger_path) -> None:  # noqa: F811
    """The known day's French report as a reader sees it (charts aside): stable under
    styling, caught by any figure or wording change. DUI_UPDATE_GOLDEN=1 rewrites it."""
    _, html = cli_report(tmp_path, ledger_path, "--format", "html")
    text = Page(html).text(charts=False) + "\n"
    if os.environ.get("DUI_UPDATE_GOLDEN"):
        GOLDEN_TEXT.write_text(text, encoding="utf-8")
    assert text == GOLDEN_TEXT.read_text(encoding="utf-8")


def pdf_text(path: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return squeeze(out.stdout.replace("\u202f", " ").replace("\xa0", " "))


def pdf_pages(path: Path) -> int:
    out = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return int(
        next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("Pages:"))
    )


def test_pdf(tmp_path, ledger_path) -> None:  # noqa: F811
    pdf = tmp_path / "report.pdf"
    doc, _ = cli_report(tmp_path, ledger_path, "--format", "pdf", "--output", str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert 2 <= pdf_pages(pdf) <= 6
    text = pdf_text(pdf)
    assert "le service n'est pas conforme au contrat" in text
    assert "97,101 %" in text and "795,00 €" in text
    assert doc["evidence_chain_head"] in text.replace(" ", "")


MISSING = {
    "raise ImportError('not installed')": (
        "--format pdf needs WeasyPrint: pip install 'dui-sla[pdf]'"
    ),
    "raise OSError(\"cannot load library 'libpango-1.0-0'\\nsecond line\")": (
        "WeasyPrint cannot load its system libraries (cannot load library 'libpango-1.0-0'): "
        "install Pango (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
        "libharfbuzz-subset0)"
    ),
}


@pytest.mark.parametrize("failure", list(MISSING))
def test_pdf_without_weasyprint_says_what_to_install(
    tmp_path,
    ledger_path,  # noqa: F811
    failure,
) -> None:
    """A stand-in `weasyprint` package that fails to import as the real one would."""
    stub = tmp_path / "stub" / "weasyprint"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(failure + "\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(stub.parent), str(ROOT)])}
    out = collector_cli(
        "report",
        "--config",
        config(tmp_path, ledger_path),
        "--contract",
        "dui-vendor-2026",
        "--month",
        "2026-11",
        "--format",
        "pdf",
        "--output",
        str(tmp_path / "r.pdf"),
        env=env,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"dui-collector: error: {MISSING[failure]}"]
    assert not (tmp_path / "r.pdf").exists()


def test_pdf_never_to_a_terminal(tmp_path, ledger_path) -> None:  # noqa: F811
    import pty
    import sys

    main, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [
                *(sys.executable, "-m", "collector", "report"),
                *("--config", config(tmp_path, ledger_path), "--contract", "dui-vendor-2026"),
                *("--month", "2026-11", "--format", "pdf"),
            ],
            cwd=ROOT,
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(main)
    assert proc.returncode == 2 and "--format pdf is binary: give --output FILE" in proc.stderr


def test_a_vsr_of_whole_days_names_them() -> None:
    doc = full()
    doc.update(
        kind="period",
        period={"from": "2026-11-02T00:00:00+01:00", "to": "2026-11-16T00:00:00+01:00"},
    )
    verdict = Page(report_html(doc, "fr")).by_id("verdict")
    assert verdict.startswith(
        "Verdict. Vérification de service régulier (VSR) du 2 nov. 2026 au 15 nov. 2026 inclus : "
        "le service n'est pas conforme au contrat"
    ), verdict
    english = Page(report_html(doc, "en")).by_id("verdict")
    assert "Regular service check (VSR) from 2 Nov 2026 to 15 Nov 2026 inclusive:" in english


def test_a_frozen_month_says_when_it_was_chained() -> None:
    doc = full()
    doc.update(frozen=True, frozen_at=1796461200)  # 2026-12-05 09:00 UTC
    assert "mois arrêté et chaîné le 5 déc. 2026 à 10 h 00" in Page(report_html(doc, "fr")).text()


def test_incident_notes_are_shown_with_their_incident(tmp_path, ledger_path) -> None:  # noqa: F811
    import shutil

    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    path = config(tmp_path, copy)
    noted = collector_cli(
        "incidents", "note", "--config", path, "--contract", "dui-vendor-2026",
        "--incident", "2026-11-17T10:00:00+01:00", "--cause", "coupure réseau éditeur",
        "--vendor-ticket", "INC-4521", "--status", "disputed", "--author", "dsi",
    )  # fmt: skip
    assert noted.returncode == 0, noted.stderr
    doc, html = cli_report(tmp_path, copy, "--format", "html")
    page = Page(html)
    assert_figures(page, doc, "fr")
    first, second = page.body_rows("incidents")
    assert first[6].startswith("coupure réseau éditeur · ticket éditeur INC-4521 · contesté (dsi, ")
    assert second[6] == ""


def test_two_runs_give_the_same_bytes(tmp_path, ledger_path) -> None:  # noqa: F811
    """Fixed SVG ids and no date in the charts: the same report, byte for byte, from two
    processes (matplotlib's default salt is random per process)."""
    path = config(tmp_path, ledger_path)
    first, second = (run_report(path, "--format", "html").stdout for _ in range(2))
    assert "<svg" in first and first == second
