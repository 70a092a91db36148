"""The report against what a hostile or unlucky input puts in it: a note or a name a
spreadsheet would run, a site name matplotlib would read as TeX, a long unbroken name
that would leave the A4 page, a month with no evidence, a period across a clock change,
a period report's penalty, and a trial given an odd DUI URL."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from collector.trial import dui_endpoint
from tests import test_sla_report as known
from tests.helpers.cli import collector_cli
from tests.test_sla_report import config, report, run_report

ledger_path = known.ledger_path  # the known day's ledger, built once per module


def renamed(tmp_path: Path, ledger_path: Path, site_a: str) -> str:
    """The known day's config with site-a named `site_a`."""
    path = Path(config(tmp_path, ledger_path))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sites"]["site-a"]["name"] = site_a
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_csv_cells_never_run_as_formulas(tmp_path, ledger_path) -> None:
    path = renamed(tmp_path, ledger_path, '=HYPERLINK("http://evil","x")')
    proc = run_report(path, "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = dict(csv.reader(io.StringIO(proc.stdout)))
    assert rows["sites.site-a.name"] == '\'=HYPERLINK("http://evil","x")'
    # numbers stay numbers (a negative figure is not text)
    assert not rows["availability"].startswith("'")


def test_a_dollar_in_a_site_name_is_text_not_tex(tmp_path, ledger_path) -> None:
    name = "Clinique $\\frac$ A et $5"
    proc = run_report(renamed(tmp_path, ledger_path, name), "--format", "html")
    assert proc.returncode == 0, proc.stderr  # was: ValueError … Expected \frac{num}{den}
    assert "Clinique $\\frac$ A et $5" in proc.stdout


def test_a_long_unbroken_name_stays_on_the_page(tmp_path, ledger_path) -> None:
    """pdftotext reads only what is on the page: every column of the incidents table,
    the attribution and the RTO verdict included, must be there."""
    name = "CentreHospitalierIntercommunal" * 6
    path = renamed(tmp_path, ledger_path, name)
    out = tmp_path / "r.pdf"
    proc = run_report(path, "--format", "pdf", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    table = text[text.index("Notes") :]
    assert "éditeur" in table and "dépassé" in table, table[:2000]


def test_a_month_with_no_evidence_meets_no_clause(tmp_path, ledger_path) -> None:
    proc = report(config(tmp_path, ledger_path), "--month", "2026-06", "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["minutes"]["unknown"] > 0 and doc["availability"] is None
    assert doc["clauses"]["rto"] is None  # was True: "RTO met" on no evidence
    assert doc["clause_figures"]["rto"]["compliant"] is None


def test_a_period_across_a_clock_change_names_both_offsets(tmp_path, ledger_path) -> None:
    path = config(tmp_path, ledger_path)
    html = report(path, "--from", "2026-10-24", "--to", "2026-10-27").stdout
    assert "Europe/Paris (UTC+02:00 puis UTC+01:00)" in html
    english = report(path, "--from", "2026-10-24", "--to", "2026-10-27", "--lang", "en").stdout
    assert "Europe/Paris (UTC+02:00 then UTC+01:00)" in english


def test_a_period_reports_penalty_says_it_is_indicative(tmp_path, ledger_path) -> None:
    path = config(tmp_path, ledger_path)
    day = run_report(path, "--format", "html").stdout
    assert 'id="penalty-period"' in day and "par mois civil" in day
    month = report(path, "--month", "2026-11", "--format", "html").stdout
    assert 'id="penalty-period"' not in month


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("https://dui.example.fr/login?next=a:b", ("dui.example.fr", 443)),
        ("http://[::1]/login", ("::1", 80)),
        ("http://127.0.0.1:8080/x", ("127.0.0.1", 8080)),
    ],
)
def test_trial_reads_the_dui_urls_host_and_port(url, endpoint) -> None:
    assert dui_endpoint(url) == endpoint


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://user:pw@host/login", "user or password"),
        ("http://host:99999/", "port"),
        ("https:///nohost", "with a host"),
    ],
)
def test_trial_refuses_an_odd_dui_url_in_one_line(tmp_path, url, says) -> None:
    proc = collector_cli("trial", "--dui-url", url, "--dir", str(tmp_path), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "pw" not in proc.stderr.replace("password", "")
