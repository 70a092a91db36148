"""`dui-collector incidents note|list`: annotate an incident (cause, vendor ticket,
disputed/accepted) and list a period's incidents with their notes (docs/sla.md)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sys
import time

import click

from collector.cli import (
    CONFIG_OPTION,
    _contract,
    _ledger,
    _load,
    period_bounds,
    period_options,
    period_report,
)
from collector.notes import incident_minute, incidents_around, no_incident_message, note_error


@click.group()
def incidents() -> None:
    """Incidents of a contract and their notes."""


def _author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment nor the passwd file
        return "unknown"


@incidents.command("note")
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@click.option(
    "--incident", required=True, metavar="START", help="Its start, as the report prints it."
)
@click.option("--cause", required=True, metavar="TEXT")
@click.option("--vendor-ticket", default=None, metavar="T")
@click.option("--status", type=click.Choice(["disputed", "accepted"]), default=None)
@click.option("--author", default=None, metavar="NAME", help="Default: your user name.")
def note(
    config_path: str,
    contract_id: str,
    incident: str,
    cause: str,
    vendor_ticket: str | None,
    status: str | None,
    author: str | None,
) -> None:
    """Chain a note on the incident of the contract that starts at START."""
    from collector.ledger import Note

    config = _load(config_path)
    contract = _contract(config, config_path, contract_id)
    fields = {"cause": cause, "vendor_ticket": vendor_ticket, "status": status}
    fields["author"] = author if author is not None else _author()
    try:
        minute = incident_minute(incident)
        problem = note_error(fields)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        click.echo(f"dui-collector: incidents note: --{problem.replace('_', '-', 1)}", err=True)
        sys.exit(2)
    now = time.time()
    with _ledger(config, config_path) as ledger:
        missing = no_incident_message(
            contract, minute, incidents_around(ledger, contract, minute, now)
        )
        if missing:
            click.echo(f"dui-collector: incidents note: --{missing}", err=True)
            sys.exit(2)
        # who ran the command, when --author names someone else
        by = _author() if author is not None else None
        entry = ledger.add_note(Note(contract.id, minute, at=now, recorded_by=by, **fields))  # type: ignore[arg-type]
    click.echo(f"note recorded at {_when(entry.received_at)} (chain hash {entry.hash})")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


@incidents.command("list")
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@period_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_incidents(
    config_path: str,
    contract_id: str,
    month: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
) -> None:
    """The period's incidents with their notes (and notes whose incident moved)."""
    config = _load(config_path)
    contract = _contract(config, config_path, contract_id)
    first, last = period_bounds(contract, month, start, end)
    with _ledger(config, config_path, read_only=True) as ledger:
        # the same document as `report`: a frozen month's incidents as signed
        document = period_report(ledger, config, contract, first, last, time.time())
    found = {"incidents": document["incidents"], "notes_unmatched": document["notes_unmatched"]}
    if fmt == "json":
        click.echo(json.dumps(found, ensure_ascii=False, indent=1))
        return
    for i in found["incidents"]:
        minutes = i["duration_seconds"] // 60
        rto = "RTO breached" if i["rto_breach"] else "within RTO"
        click.echo(f"{i['start']}  {minutes} min  {', '.join(i['sites'])}  {rto}")
        for n in i["notes"]:
            click.echo(f"    {n['at']} {n['author']}: {_note_text(n)}")
    for n in found["notes_unmatched"]:
        click.echo(f"(no incident holds {n['incident']} any more) {n['author']}: {_note_text(n)}")
    if not found["incidents"] and not found["notes_unmatched"]:
        click.echo("no incident in the period")


def _note_text(n: dict) -> str:
    extra = [x for x in (n["status"], n["vendor_ticket"] and f"ticket {n['vendor_ticket']}") if x]
    return n["cause"] + (f" ({', '.join(extra)})" if extra else "")
