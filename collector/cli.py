"""Command line of dui-collector (README.md): `run`, `trial`, `report`, `readiness`, `evidence`,
`maintenance`, `backup`; `incidents` lives in cli_incidents.py, `agents` in
cli_agents.py.

Exit codes: 0 ok, 2 usage or config error — one line naming the file and the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from collector.config import CollectorConfig, load
from runtime import logs
from runtime.service import config_option, load_or_exit
from runtime.version import VERSION as __version__

if TYPE_CHECKING:
    from collector.ledger import Ledger

CONFIG_OPTION = config_option("Collector")
FIRST_YEAR, LAST_YEAR = 2000, 2199  # a report period outside these is a typo
MONTH = re.compile(r"([0-9]{4})-([0-9]{2})", re.ASCII)


def _load(path: str) -> CollectorConfig:
    return load_or_exit(load, path, "dui-collector")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dui-collector")
def cli() -> None:
    """Collect the agents' results, expose them to Prometheus, hold the DUI to its contract."""


@cli.command()
@CONFIG_OPTION
def run(config_path: str) -> None:
    """Run the collector service until SIGTERM or SIGINT."""
    from collector.ledger import LedgerError
    from collector.run import run as run_collector
    from runtime.secrets import SecretError

    config = _load(config_path)
    logs.setup(config.log.level)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_collector(config))
    except (OSError, SecretError, LedgerError) as exc:  # a port in use, a token file…
        click.echo(f"dui-collector: error: {exc}", err=True)
        sys.exit(1)
    except ExceptionGroup as group:  # a task of the service died: a bug, logged in full
        for error in group.exceptions:
            logging.getLogger("dui.collector").error(
                "the collector stopped on an error", exc_info=error
            )
        sys.exit(1)


@cli.command()
@click.option(
    "--dui-url", metavar="URL", help="The DUI page to measure (default: a local stand-in page)."
)
@click.option(
    "--dir",
    "directory",
    metavar="DIR",
    help="Keep the trial's files here (default: ~/.local/state/dui-sla/trial, kept between runs).",
)
@click.option(
    "--fresh", is_flag=True, help="Start over: remove the trial's files (and only those) first."
)
@click.option(
    "--usage",
    is_flag=True,
    help="Let the trial agent send usage (workstations in use per minute, counted per site):"
    " staff activity data, off unless asked.",
)
@click.option(
    "--mqtt-port",
    default=1883,
    show_default=True,
    help="Embedded broker port (another free one if taken).",
)
@click.option(
    "--http-port", default=9108, show_default=True, help="HTTP port (another free one if taken)."
)
def trial(
    dui_url: str | None,
    directory: str | None,
    fresh: bool,
    usage: bool,
    mqtt_port: int,
    http_port: int,
) -> None:
    """Embedded broker, SQLite ledger, collector and a local agent: nothing to configure."""
    from collector.trial import main as run_trial

    if dui_url is not None and not dui_url.startswith(("http://", "https://")):
        raise click.BadParameter("write an http:// or https:// URL", param_hint="--dui-url")
    logs.setup("warning")
    with contextlib.suppress(KeyboardInterrupt):
        run_trial(dui_url, directory, mqtt_port, http_port, fresh, usage)


def period_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--month, or --from and --to: the period of `report` and `incidents list`."""
    for option in reversed(
        [
            click.option(
                "--month", metavar="YYYY-MM", help="A calendar month in the contract's zone."
            ),
            click.option(
                "--from", "start", metavar="DATE", help="ISO date or date-time with offset."
            ),
            click.option(
                "--to", "end", metavar="DATE", help="Exclusive end, same forms as --from."
            ),
        ]
    ):
        command = option(command)
    return command


@cli.command()
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@period_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "json", "csv"]),
    default="html",
    show_default=True,
    help="pdf needs the pdf extra and --output (or stdout redirected).",
)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="Write here instead of stdout.")
def report(
    config_path: str,
    contract_id: str,
    month: str | None,
    start: str | None,
    end: str | None,
    fmt: str,
    lang: str,
    output: str | None,
) -> None:
    """The contract report: availability, incidents vs RTO, penalties (docs/sla.md)."""
    from collector.render.html import report_html

    config = _load(config_path)
    contract = _contract(config, config_path, contract_id)
    first, last = period_bounds(contract, month, start, end)
    if fmt == "pdf" and not output and sys.stdout.isatty():
        raise click.UsageError("--format pdf is binary: give --output FILE")
    with _ledger(config, config_path, read_only=True) as ledger:
        document = period_report(ledger, config, contract, first, last, time.time())
    if fmt == "pdf":
        _write_pdf(report_html(document, lang), output)
        return
    emit_document(document, fmt, output, partial(report_html, lang=lang))


def emit_document(
    document: dict[str, Any], fmt: str, output: str | None, html: Callable[[dict[str, Any]], str]
) -> None:
    """A report document as json, csv or html (`html` renders it), to --output or stdout."""
    from collector.render.document import to_csv, to_json

    text = {"json": to_json, "csv": to_csv, "html": html}[fmt](document)
    if output:
        write_output(output, text.encode("utf-8"))
    else:
        click.echo(text, nl=False)


@cli.command()
@CONFIG_OPTION
@click.option("--site", metavar="ID", help="One site (default: every site).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "json", "csv"]),
    default="html",
    show_default=True,
)
@click.option("--lang", type=click.Choice(["fr", "en"]), default="fr", show_default=True)
@click.option("--output", "-o", metavar="FILE", help="Write here instead of stdout.")
def readiness(config_path: str, site: str | None, fmt: str, lang: str, output: str | None) -> None:
    """The go-live checklist of each site: every prerequisite with its evidence, threshold
    and verdict, and the pilot sites' weeks since go-live (docs/readiness.md)."""
    from collector.readiness.evaluate import evaluate
    from collector.readiness.pilot import with_weeks, zone_of
    from collector.render.readiness import readiness_document, readiness_html

    config = _load(config_path)
    with _ledger(config, config_path, read_only=True) as ledger:
        # One evaluation (the scans of every site cost the same with or without --site):
        # an unknown --site lists the known ones from it, not from a second evaluation.
        now = time.time()
        found = evaluate(config, ledger, now, pilot=False)
        chosen = [s for s in found.sites if site is None or s.site == site]
        if not chosen and site is not None:
            known = sorted({*config.sites, *(s.site for s in found.sites)})
            click.echo(
                f"dui-collector: error: --site {site!r}: no such site in the sites of "
                f"{config_path} nor in the ledger (known: {', '.join(known) or 'none'})",
                err=True,
            )
            sys.exit(2)
        found = dataclasses.replace(found, sites=with_weeks(chosen, config, ledger, now))
    document = readiness_document(found, zone_of(config), lang)
    emit_document(document, fmt, output, partial(readiness_html, lang=lang))


def period_report(
    ledger: Ledger,
    config: CollectorConfig,
    contract: Any,
    first: dt.datetime,
    last: dt.datetime,
    now: float,
) -> dict[str, Any]:
    """The report document of [first, last): a frozen month as it was chained (late data
    no longer changes it; the notes chained since are merged in), else evaluated now."""
    from zoneinfo import ZoneInfo

    from collector.periods import last_final, read_period, site_names
    from collector.render.document import attach_notes, period_document

    key = calendar_month(contract, first, last)
    document = ledger.frozen_month(contract.id, key) if key else None
    if document is not None:
        attach_notes(document, ledger.notes(contract.id), ZoneInfo(zone_name(contract)))
        return document
    report = read_period(
        ledger,
        contract,
        first,
        last,
        now,
        evaluated_to=last_final(now, float(config.ledger.finalize_after)),
        names=site_names(config),
    )
    document = period_document(report)
    since = _running_since(ledger, contract, first, now, report.incidents)
    if since is not None:
        attach_notes(document, report.notes, report.zone, since)
    return document


def _running_since(
    ledger: Ledger, contract: Any, first: dt.datetime, now: float, incidents: list[Any]
) -> int | None:
    """The real start of an incident the period starts inside (its notes are the clipped
    incident's), or None."""
    from collector.notes import holds, incidents_around

    start = int(first.timestamp()) // 60
    if not any(i.start == start for i in incidents):
        return None
    before = incidents_around(ledger, contract, start - 1, now)
    return next((i.start for i in before if holds(i.start, i.end, start - 1)), None)


def calendar_month(contract: Any, first: dt.datetime, last: dt.datetime) -> str | None:
    """ "YYYY-MM" when [first, last) is exactly one calendar month in the contract's zone
    (however it was written: --month or --from/--to), else None."""
    from zoneinfo import ZoneInfo

    from collector.sla.period import month_bounds

    local = first.astimezone(ZoneInfo(zone_name(contract)))
    key = f"{local.year:04d}-{local.month:02d}"
    return key if (first, last) == month_bounds(key, zone_name(contract)) else None


def write_output(output: str, data: bytes) -> None:
    """Write --output, or one line naming it and exit 1 (a directory, a full disk…)."""
    try:
        with open(output, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        click.echo(
            f"dui-collector: error: cannot write --output {output}: {exc.strerror or exc}",
            err=True,
        )
        sys.exit(1)


def zone_name(contract: Any) -> str:
    return str(contract.service_hours.timezone)


def period_bounds(
    contract: Any, month: str | None, start: str | None, end: str | None
) -> tuple[dt.datetime, dt.datetime]:
    """--month, or --from and --to, as the period's bounds; UsageError otherwise."""
    from collector.sla.period import month_bounds, parse_bound

    if bool(month) == bool(start or end) or bool(start) != bool(end):
        raise click.UsageError("give --month YYYY-MM, or both --from and --to")
    zone = zone_name(contract)
    if month:
        valid = MONTH.fullmatch(month)
        if not valid or not 1 <= int(valid[2]) <= 12:
            raise click.UsageError(f"--month {month!r}: write YYYY-MM, e.g. 2026-11")
        if not FIRST_YEAR <= int(valid[1]) <= LAST_YEAR:
            raise click.UsageError(f"period: years {FIRST_YEAR} to {LAST_YEAR} only")
    try:
        if month:
            first, last = month_bounds(month, zone)
        else:
            first, last = parse_bound(start or "", zone), parse_bound(end or "", zone)
    except ValueError as exc:
        raise click.UsageError(f"period: {exc}") from None
    if last <= first:
        raise click.UsageError("--to must be after --from")
    if first.year < FIRST_YEAR or last.year > LAST_YEAR:
        raise click.UsageError(f"period: years {FIRST_YEAR} to {LAST_YEAR} only")
    return first, last


def _write_pdf(html: str, output: str | None) -> None:
    from collector.render.pdf import PdfUnavailable, report_pdf

    try:
        data = report_pdf(html)
    except PdfUnavailable as exc:
        click.echo(f"dui-collector: error: {exc}", err=True)
        sys.exit(2)
    if output:
        write_output(output, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


@contextlib.contextmanager
def _ledger(config: CollectorConfig, config_path: str, read_only: bool = False) -> Iterator[Ledger]:
    """The ledger for a command; a missing one is a config error when only read."""
    from collector.ledger import LedgerError, open_ledger

    path = config.ledger.sqlite_path
    if read_only and not path.exists():
        click.echo(
            f"dui-collector: config error: {config_path}: ledger.url: no ledger at {path}", err=True
        )
        sys.exit(2)
    try:
        ledger = open_ledger(path, read_only=read_only)
    except LedgerError as exc:
        click.echo(f"dui-collector: error: {exc}", err=True)
        sys.exit(1)
    try:
        yield ledger
    finally:
        ledger.close()


def _contract(config: CollectorConfig, config_path: str, contract_id: str) -> Any:
    contract = next((c for c in config.contracts if c.id == contract_id), None)
    if contract is None:
        known = ", ".join(c.id for c in config.contracts) or "none"
        click.echo(
            f"dui-collector: config error: {config_path}: contracts: no contract "
            f"{contract_id!r} (known: {known})",
            err=True,
        )
        sys.exit(2)
    return contract


@cli.group()
def evidence() -> None:
    """Vendor evidence of backups and restore tests."""


@evidence.command("import")
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def evidence_import(config_path: str, contract_id: str, file: str) -> None:
    """Import a vendor spreadsheet (CSV, `;` or `,`): backups, or restore tests when it
    has a performed_at column. A bad row stops the import: nothing is imported."""
    from collector import evidence as ev
    from collector.ledger import Conflict

    config = _load(config_path)
    _contract(config, config_path, contract_id)
    try:
        with open(file, encoding="utf-8-sig") as handle:
            text = handle.read()
        if "\x00" in text:
            raise ValueError("holds NUL bytes")
    except (UnicodeDecodeError, ValueError) as exc:
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        click.echo(
            f"dui-collector: {file}: not a CSV text file (not UTF-8{where}, or binary):"
            " export the sheet as CSV UTF-8; nothing imported",
            err=True,
        )
        sys.exit(1)
    kind = "restore_test" if "performed_at" in (text.splitlines() or [""])[0] else "backup"
    now = time.time()
    try:
        records = ev.read_csv(text, kind, contract_id, dt.datetime.fromtimestamp(now, dt.UTC))
    except ValueError as exc:
        click.echo(f"dui-collector: {file}: {exc}; nothing imported", err=True)
        sys.exit(1)
    try:
        with _ledger(config, config_path) as ledger:
            created = sum(new for _, new in ledger.add_evidence(kind, records, now))
    except Conflict as exc:
        click.echo(f"dui-collector: {file}: {exc}; nothing imported", err=True)
        sys.exit(1)
    label = "restore tests" if kind == "restore_test" else "backups"
    click.echo(f"{created} {label} imported, {len(records) - created} already known")


@evidence.command("void")
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@click.option("--id", "record_id", required=True, metavar="RECORD", help="The record's id.")
@click.option("--reason", required=True, metavar="TEXT", help="Why: shown in the report.")
@click.option(
    "--kind",
    type=click.Choice(["backup", "restore_test"]),
    help="Default: the backup with that id, else the restore test.",
)
def evidence_void(
    config_path: str, contract_id: str, record_id: str, reason: str, kind: str | None
) -> None:
    """Withdraw a record posted by mistake: a chained voiding entry, never an edit. The
    record no longer counts in the checks; the report lists it with the reason."""
    from collector.evidence import void_error

    config = _load(config_path)
    _contract(config, config_path, contract_id)
    problem = void_error(record_id, reason, kind or "backup")
    if problem:
        click.echo(f"dui-collector: evidence void: --{problem}", err=True)
        sys.exit(2)
    with _ledger(config, config_path) as ledger:
        for candidate in [kind] if kind else ["backup", "restore_test"]:
            try:
                entry, created = ledger.add_void(
                    candidate, contract_id, record_id, reason, time.time()
                )
                break
            except KeyError:
                continue
        else:
            what = kind.replace("_", " ") if kind else "backup or restore test"
            click.echo(
                f"dui-collector: evidence void: no {what} {record_id!r} for contract {contract_id}",
                err=True,
            )
            sys.exit(2)
    at = dt.datetime.fromtimestamp(entry.received_at, dt.UTC).isoformat()
    label = candidate.replace("_", " ")
    if created:
        click.echo(f"{label} {record_id!r} voided at {at} (chain hash {entry.hash})")
    else:
        click.echo(f"{label} {record_id!r} was already voided at {at}: nothing changed")


@cli.group()
def maintenance() -> None:
    """Maintenance windows."""


@maintenance.command("add")
@CONFIG_OPTION
@click.option("--contract", "contract_id", required=True, metavar="ID")
@click.option("--start", required=True, metavar="TIME", help="ISO date-time with offset.")
@click.option("--end", required=True, metavar="TIME", help="ISO date-time with offset.")
@click.option("--reason", default=None)
def maintenance_add(
    config_path: str, contract_id: str, start: str, end: str, reason: str | None
) -> None:
    """Record a window announced now (server time): it is excluded only if now is at least
    the contract's `maintenance.notice` before its start."""
    from collector import evidence as ev
    from collector.ledger import Conflict, MaintenanceRecord

    config = _load(config_path)
    contract = _contract(config, config_path, contract_id)
    now = time.time()
    try:
        first = dt.datetime.fromisoformat(start.replace("Z", "+00:00"))
        last = dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
        problem = ev.window_error(first, last, dt.datetime.fromtimestamp(now, dt.UTC))
    except ValueError as exc:
        problem = f"start/end: {exc}"
    if problem:
        click.echo(f"dui-collector: maintenance add: --{problem}", err=True)
        sys.exit(2)
    try:
        with _ledger(config, config_path) as ledger:
            entry, _ = ledger.add_maintenance(
                MaintenanceRecord(contract_id, first, last, now, reason)
            )
    except Conflict as exc:
        click.echo(
            f"dui-collector: maintenance add: {exc}: a recorded window cannot be changed",
            err=True,
        )
        sys.exit(2)
    notice = float(contract.maintenance.notice)
    in_time = entry.received_at <= first.timestamp() - notice
    announced = dt.datetime.fromtimestamp(entry.received_at, dt.UTC).isoformat()
    verdict = (
        "in time: it will be excluded"
        if in_time
        else "too late for the notice: it counts like any other time"
    )
    click.echo(f"window recorded, announced at {announced} ({verdict})")


@cli.command("backup")
@CONFIG_OPTION
@click.option("--output", "-o", required=True, metavar="FILE", help="Where the copy goes.")
def backup_ledger(config_path: str, output: str) -> None:
    """A consistent copy of the ledger, taken while the collector runs."""
    config = _load(config_path)
    target = Path(output)
    live = config.ledger.sqlite_path.resolve()
    if target.resolve() in {live, *(live.with_name(live.name + s) for s in ("-wal", "-shm"))}:
        raise click.UsageError(f"--output {output}: that is the ledger itself")
    if target.is_dir() or not target.parent.is_dir():
        raise click.UsageError(f"--output {output}: give a file in an existing folder")
    with _ledger(config, config_path, read_only=True) as ledger:
        try:
            ledger.backup(target)
        except (OSError, sqlite3.Error) as exc:
            click.echo(f"dui-collector: error: cannot write --output {output}: {exc}", err=True)
            sys.exit(1)
        problem = ledger.verify_chain()
    click.echo(
        f"ledger copied to {output}"
        + (f"; WARNING: {problem}" if problem else "; hash chain verified")
    )
    sys.exit(1 if problem else 0)


def main() -> None:
    from collector.cli_agents import agents
    from collector.cli_incidents import incidents

    cli.add_command(incidents)
    cli.add_command(agents)
    cli()
