"""Incident notes through the CLI and the API, on the day with known incidents of
test_sla_report (17 Nov 2026, incidents at 10:00 and 15:00 Paris time): chained, shown in
the report, `incidents list` and the contracts API; bad input refused naming the field."""

from __future__ import annotations

import asyncio
import datetime as dt
import getpass
import json
import shutil
import urllib.parse
from zoneinfo import ZoneInfo

import yaml

from collector.config import parse
from collector.http import http_server
from collector.ledger import Note, SqliteLedger
from collector.live import LiveSla
from collector.notes import note_error
from collector.render.document import attach_notes
from collector.state import State
from tests.helpers.broker import free_port
from tests.helpers.cli import collector_cli
from tests.test_evidence_void import call
from tests.test_sla_report import (  # noqa: F401
    T0,
    add_late_failures,
    config,
    ledger_path,
    run_report,
)

C = "dui-vendor-2026"
FIRST, SECOND = "2026-11-17T10:00:00+01:00", "2026-11-17T15:00:00+01:00"


def note(path: str, incident: str, *extra: str):
    return collector_cli(
        "incidents", "note", "--config", path, "--contract", C, "--incident", incident, *extra
    )


def head(path) -> str:
    ledger = SqliteLedger(path)
    try:
        assert ledger.verify_chain() is None
        return ledger.chain_head()
    finally:
        ledger.close()


def test_notes_by_cli_are_chained_and_shown(tmp_path, ledger_path) -> None:  # noqa: F811
    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    path = config(tmp_path, copy)
    before = head(copy)
    first = note(path, FIRST, "--cause", "panne du répartiteur", "--vendor-ticket", "INC-42")
    assert first.returncode == 0, first.stderr
    assert head(copy) != before, "a note is a chained entry"
    second = note(path, FIRST, "--cause", "contesté", "--status", "disputed", "--author", "OG")
    assert second.returncode == 0, second.stderr
    r = json.loads(run_report(path, "--format", "json").stdout)
    notes = r["incidents"][0]["notes"]
    assert [(n["author"], n["cause"], n["vendor_ticket"], n["status"]) for n in notes] == [
        (getpass.getuser(), "panne du répartiteur", "INC-42", None),
        ("OG", "contesté", None, "disputed"),
    ]
    assert notes[0]["at"] <= notes[1]["at"] and notes[0]["at"].endswith(("+01:00", "+00:00"))
    assert r["incidents"][1]["notes"] == [] and r["notes_unmatched"] == []
    listed = collector_cli(
        "incidents", "list", "--config", path, "--contract", C, "--month", "2026-11"
    )
    assert listed.returncode == 0, listed.stderr
    assert FIRST in listed.stdout and "contesté (disputed)" in listed.stdout
    as_json = collector_cli(
        "incidents", "list", "--config", path, "--contract", C, "--month", "2026-11",
        "--format", "json",
    )  # fmt: skip
    assert json.loads(as_json.stdout)["incidents"][0]["notes"] == notes


def test_bad_notes_are_refused_in_one_line(tmp_path, ledger_path) -> None:  # noqa: F811
    path = config(tmp_path, ledger_path)
    before = head(ledger_path)
    cases = {
        ("2026-11-17T10:45:00+01:00", "--cause", "x"): (
            f"--incident: no incident of {C} holds 2026-11-17T10:45:00+01:00"
            f" (that day's starts: {FIRST}, {SECOND})"
        ),
        ("2026-11-17T10:00:00", "--cause", "x"): "--incident: '2026-11-17T10:00:00' needs a UTC",
        ("hier", "--cause", "x"): "--incident: 'hier' is not an ISO date-time",
        (FIRST, "--cause", "x" * 2001): "--cause: longer than 2000 characters",
        (FIRST, "--cause", " "): "--cause: a non-empty string",
        (FIRST, "--cause", "x", "--vendor-ticket", "t" * 201): "--vendor-ticket: longer than 200",
        (FIRST, "--cause", "a\u202eb"): "--cause: must not contain control characters",
        (FIRST, "--cause", "a\u2028b"): "--cause: must not contain control characters",
        (FIRST, "--cause", "x", "--author", "O\u200bG"): "--author: must not contain control",
        (FIRST, "--cause", "x", "--vendor-ticket", "\ufeffT"): "--vendor-ticket: must not",
    }
    for args, message in cases.items():
        proc = note(path, *args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr
    bad_status = note(path, FIRST, "--cause", "x", "--status", "maybe")
    assert bad_status.returncode == 2 and "--status" in bad_status.stderr
    assert head(ledger_path) == before, "nothing chained"


def post(url: str, body: dict, token: str | None) -> tuple[int, dict]:
    return call(url, body, token)


def api_config(tmp_path, ledger_path, auth: str, secret: str):  # noqa: F811
    """A copy of the day's ledger and a config serving it with `http.auth` of that type."""
    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    with open(config(tmp_path, copy), encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    (tmp_path / "http-secret").write_text(secret + "\n")
    raw["http"] = {
        "listen": f"127.0.0.1:{free_port()}",
        "auth": {"type": auth, "file": str(tmp_path / "http-secret")},
    }
    return copy, parse(raw)


async def test_notes_by_api_in_the_contracts_api(tmp_path, ledger_path) -> None:  # noqa: F811
    copy, cfg = api_config(tmp_path, ledger_path, "token", "adm1n")
    now = T0 + 3 * 86400  # the 20th: the 17th is in the current period
    ledger, live = SqliteLedger(copy), LiveSla(cfg, SqliteLedger(copy))
    before = ledger.chain_head()
    async with http_server(cfg, State(300, 3600), ledger, live, clock=lambda: now) as port:
        base = f"http://127.0.0.1:{port}/api/v1/contracts/{C}"

        def url(start: str) -> str:
            return f"{base}/incidents/{urllib.parse.quote(start)}/notes"

        send = lambda u, b, t="adm1n": asyncio.to_thread(post, u, b, t)  # noqa: E731
        body = {"cause": "bascule ratée", "vendor_ticket": "INC-7", "status": "accepted"}
        assert (await send(url(FIRST), body, None))[0] == 401
        assert (await send(url(FIRST), body, "wrong"))[0] == 401
        status, stored = await send(url(FIRST), body)
        assert status == 201, stored
        assert stored["incident"] == FIRST and stored["author"] == "api"
        assert stored["chain_hash"].startswith("sha256:")
        status, answer = await send(url("2026-11-17T11:00:00+01:00"), body)
        assert status == 404 and "that day's starts: " + FIRST in answer["error"]
        status, answer = await send(url(FIRST), {**body, "status": "maybe"})
        assert status == 422 and answer["error"].startswith("status:")
        status, answer = await send(url(FIRST), {**body, "cause": "x" * 2001})
        assert status == 422 and answer["error"].startswith("cause:")
        status, answer = await send(url(FIRST), {**body, "colour": "red"})
        assert status == 422 and answer["error"].startswith("colour:")
        raw_path = f"{base}/incidents/{FIRST}/notes"  # a literal + and :
        assert (await send(raw_path, {"cause": "vu par le DSI", "author": "DSI"}))[0] == 201
        status, answer = await send(url("hier"), body)
        assert status == 422 and answer["error"].startswith("incident:")
        document = await asyncio.to_thread(call_get, base, "adm1n")
    live.ledger.close()
    assert ledger.verify_chain() is None and ledger.chain_head() != before
    ledger.close()
    shown, other = document["incidents"][0]["notes"]
    assert (shown["cause"], shown["vendor_ticket"], shown["status"]) == (
        "bascule ratée",
        "INC-7",
        "accepted",
    )
    assert (other["author"], other["cause"], other["status"]) == ("DSI", "vu par le DSI", None)
    assert document["notes_unmatched"] == []


def call_get(url: str, token: str) -> dict:
    import urllib.request

    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_a_note_whose_incident_moved_is_kept() -> None:
    paris = ZoneInfo("Europe/Paris")
    minute = int(dt.datetime.fromisoformat(FIRST).timestamp()) // 60
    document = {
        "period": {"from": "2026-11-01T00:00:00+01:00", "to": "2026-12-01T00:00:00+01:00"},
        "incidents": [{"start": "2026-11-17T09:58:00+01:00", "notes": []}],
        "open_incident": None,
    }
    notes = [
        Note(C, minute, "OG", T0 + 99999.0, "second"),
        Note(C, minute, "OG", T0 + 88888.0, "first"),
        Note(C, minute - 40 * 1440, "OG", T0, "another month"),
    ]
    attach_notes(document, notes, paris)
    assert document["incidents"][0]["notes"] == []
    assert [(n["incident"], n["cause"]) for n in document["notes_unmatched"]] == [
        (FIRST, "first"),
        (FIRST, "second"),
    ]


def test_invisible_characters_are_refused_in_every_field() -> None:
    hidden = "\x00\t\x7f\x85\x9b\u061c\u200b\u200e\u200f\u2028\u2029\u202e\u2066\ufeff"
    for field in ("cause", "vendor_ticket", "author"):
        for c in hidden:
            fields = {"cause": "x", field: f"a{c}b"}
            problem = note_error(fields)
            assert problem and problem.startswith(f"{field}: must not contain"), (field, c)
    assert note_error({"cause": "ligne 1\nligne 2 — « éditeur » 😀", "author": "Zoé"}) is None
    assert note_error({"cause": "x", "author": "a\nb"}).startswith("author:")


def test_a_period_starting_inside_an_incident_keeps_its_notes(tmp_path, ledger_path) -> None:  # noqa: F811
    copy = tmp_path / "ledger.db"
    shutil.copy(ledger_path, copy)
    path = config(tmp_path, copy)
    assert note(path, FIRST, "--cause", "panne du répartiteur").returncode == 0
    clipped = "2026-11-17T10:10:00+01:00"
    vsr = collector_cli(
        "report", "--config", path, "--contract", C, "--from", clipped,
        "--to", "2026-11-18T00:00:00+01:00", "--format", "json",
    )  # fmt: skip
    assert vsr.returncode == 0, vsr.stderr
    r = json.loads(vsr.stdout)
    assert r["incidents"][0]["start"] == clipped
    assert [n["cause"] for n in r["incidents"][0]["notes"]] == ["panne du répartiteur"]
    # the start the VSR prints is a minute of that incident: a note on it is its note
    later = note(path, clipped, "--cause", "vu en VSR")
    assert later.returncode == 0, later.stderr
    month = json.loads(run_report(path, "--format", "json").stdout)
    assert month["incidents"][0]["start"] == FIRST
    assert [n["cause"] for n in month["incidents"][0]["notes"]] == [
        "panne du répartiteur",
        "vu en VSR",
    ]
    assert month["notes_unmatched"] == []


def post_basic(url: str, body: dict, user: str, password: str) -> tuple[int, dict]:
    import base64
    import urllib.request

    secret = base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": f"Basic {secret}"}
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


async def test_api_notes_record_the_basic_auth_user(tmp_path, ledger_path) -> None:  # noqa: F811
    copy, cfg = api_config(tmp_path, ledger_path, "basic", "copil:m0t-de-passe")
    now = T0 + 3 * 86400
    ledger, live = SqliteLedger(copy), LiveSla(cfg, SqliteLedger(copy))
    async with http_server(cfg, State(300, 3600), ledger, live, clock=lambda: now) as port:
        url = f"http://127.0.0.1:{port}/api/v1/contracts/{C}/incidents/"
        url += urllib.parse.quote(FIRST) + "/notes"
        body = {"cause": "bascule ratée", "author": "Le DSI"}
        status, stored = await asyncio.to_thread(post_basic, url, body, "copil", "m0t-de-passe")
    live.ledger.close()
    assert status == 201, stored
    assert (stored["author"], stored["recorded_by"]) == ("Le DSI", "copil")
    assert [(n.author, n.recorded_by) for n in ledger.notes(C)] == [("Le DSI", "copil")]
    assert ledger.verify_chain() is None
    ledger.close()


async def test_api_notes_on_a_frozen_month_follow_the_frozen_report(tmp_path, ledger_path) -> None:  # noqa: F811
    copy, cfg = api_config(tmp_path, ledger_path, "token", "adm1n")
    december_12 = dt.datetime(2026, 12, 12, tzinfo=dt.UTC).timestamp()  # November is frozen
    live = LiveSla(cfg, SqliteLedger(copy))
    live.tick(now=december_12)
    assert add_late_failures(copy, now=december_12) == 6  # a new incident at 04:00, not frozen
    ledger = SqliteLedger(copy)
    async with http_server(cfg, State(300, 3600), ledger, live, clock=lambda: december_12) as port:
        base = f"http://127.0.0.1:{port}/api/v1/contracts/{C}/incidents/"
        send = lambda start: asyncio.to_thread(  # noqa: E731
            post, base + urllib.parse.quote(start) + "/notes", {"cause": "x"}, "adm1n"
        )
        status, answer = await send("2026-11-17T04:00:00+01:00")
        assert status == 404 and "holds 2026-11-17T04:00:00+01:00" in answer["error"], answer
        assert (await send(FIRST))[0] == 201
    live.ledger.close()
    ledger.close()
