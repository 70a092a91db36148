"""`dui-collector agents add|remove|list`: each agent's broker account and ACL lines, the
files to copy to its workstation, and the fleet as the ledger last saw it (docs/broker.md).

Passwords are written to 0600 files and never printed."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import click
import msgspec

from collector import accounts
from collector.config import BrokerConfig, CollectorConfig, load
from runtime.secrets import SecretError, read_secret
from runtime.service import config_option, load_or_exit
from wire.schema import ID_PATTERN

CONFIG_OPTION = config_option("Collector")
RELOAD_TIMEOUT = 30.0
CONTEXT_DAYS = 7  # the agent's version is read from its context results of the last week
AGENT_YAML = """\
# dui-agent config written by `dui-collector agents add` on {date}.
# Copy this directory to the workstation (e.g. /etc/dui-agent/ or C:\\ProgramData\\dui-sla\\),
# keep mqtt-password readable by the agent's service account only, and edit the targets.
org: {org}
site: {site}
agent: {agent}
mqtt:
  url: {url}
  username: {username}
  password_file: mqtt-password   # relative paths are relative to this file's directory
{ca_line}targets:
  - name: dui-login
    role: dui
    http: {{url: "https://dui.example.invalid/login", interval: 30s, timeout: 10s}}  # the DUI
  - name: gateway
    role: gateway
    latency: {{host: auto, interval: 30s, samples: 10}}
  - name: internet
    role: internet
    latency: {{host: 9.9.9.9, port: 443, interval: 30s, samples: 10}}
"""


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"dui-collector: {message}", err=True)
    sys.exit(code)


def _resolve(base: Path, value: str) -> Path:
    return Path(value) if os.path.isabs(value) else base / value


def _setup(config_path: str) -> tuple[CollectorConfig, BrokerConfig, Path]:
    config = load_or_exit(lambda p: load(p, files=False), config_path, "dui-collector")
    if config.broker is None:
        _fail(
            f"config error: {config_path}: broker: missing: the agents commands need "
            "broker.password_file, broker.acl_file and broker.public_url"
        )
    base = Path(config_path).parent
    ca = config.broker.ca_file
    if ca is not None and not os.access(_resolve(base, ca), os.R_OK):
        _fail(f"config error: {config_path}: broker.ca_file: file {ca!r} not found or not readable")
    return config, config.broker, base


def _id_options(command):  # type: ignore[no-untyped-def]
    for name in ("agent", "site", "org"):
        command = click.option(f"--{name}", required=True, metavar="ID")(command)
    return command


def _check_ids(**ids: str) -> None:
    for name, value in ids.items():
        if not re.fullmatch(ID_PATTERN, value):
            _fail(
                f"agents: --{name} {value!r}: 1 to 63 lower-case letters, digits or '-', "
                "starting with a letter or digit"
            )


@click.group()
def agents() -> None:
    """The agents' broker accounts: add, rotate, remove, list."""


@agents.command("add")
@CONFIG_OPTION
@_id_options
@click.option("--out", metavar="DIR", help="Where the agent's files go [./agents/ORG-SITE-AGENT].")
@click.option("--rotate", is_flag=True, help="A new password for an existing agent.")
def add(config_path: str, org: str, site: str, agent: str, out: str | None, rotate: bool) -> None:
    """Create an agent's account and ACL lines, and write its config and password file."""
    _check_ids(org=org, site=site, agent=agent)
    config, broker, base = _setup(config_path)
    password_file = _resolve(base, broker.password_file)
    user = accounts.username(org, site, agent)
    target = Path(out) if out else Path("agents") / f"{org}-{site}-{agent}"
    try:
        with accounts.locked(password_file):
            entries = accounts.read_passwords(password_file)
            if user in entries and not rotate:
                _fail(f"agents add: {user} already has an account: --rotate for a new password")
            if rotate and user not in entries:
                _fail(f"agents add --rotate: {user} has no account to rotate: add it first")
            _collector_account(config, broker, base, entries, config_path)
            password = accounts.new_password()
            kept = _write_agent_files(target, broker, base, (org, site, agent), password, rotate)
            entries[user] = accounts.hash_password(password)
            _save(broker, base, entries)
    except accounts.AccountError as exc:
        _fail(f"error: {exc}", 1)
    verb = "new password for" if rotate else "account created for"
    click.echo(f"{verb} {user}; its files (0600) are in {target}/:")
    if kept:
        click.echo("  agent.yaml     kept as it was (it names the password file, not the password)")
    else:
        click.echo("  agent.yaml     the agent's config: edit its targets")
    click.echo("  mqtt-password  its broker password: copy it with agent.yaml, never elsewhere")
    if broker.ca_file:
        click.echo("  ca.pem         the CA that signed the broker's certificate")
    click.echo("copy the directory to the workstation (docs/broker.md)")
    _reload(broker)


@agents.command("remove")
@CONFIG_OPTION
@_id_options
def remove(config_path: str, org: str, site: str, agent: str) -> None:
    """Revoke an agent's account: it can no longer connect once the broker is reloaded."""
    _check_ids(org=org, site=site, agent=agent)
    _, broker, base = _setup(config_path)
    password_file = _resolve(base, broker.password_file)
    user = accounts.username(org, site, agent)
    try:
        with accounts.locked(password_file):
            entries = accounts.read_passwords(password_file)
            if user not in entries:
                _fail(f"agents remove: {user} has no account in {password_file}")
            del entries[user]
            _save(broker, base, entries)
    except accounts.AccountError as exc:
        _fail(f"error: {exc}", 1)
    click.echo(f"account of {user} removed; the broker disconnects it when reloaded:")
    _reload(broker)


@agents.command("list")
@CONFIG_OPTION
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def list_agents(config_path: str, fmt: str) -> None:
    """Every agent with an account or seen in the ledger, with when it was last seen."""
    config, broker, base = _setup(config_path)
    try:
        ids = accounts.agent_ids(accounts.read_passwords(_resolve(base, broker.password_file)))
    except accounts.AccountError as exc:
        _fail(f"error: {exc}", 1)
    rows = {key: {"credentials": True, "last_seen": None, "version": None} for key in ids}
    for org, site, agent, seen, body in _seen(config):
        row = rows.setdefault((org, site, agent), {"credentials": False, "version": None})
        row["last_seen"] = dt.datetime.fromtimestamp(seen, dt.UTC).isoformat(timespec="seconds")
        row["version"] = _version(body)
    listed = [
        {"org": o, "site": s, "agent": a, "username": accounts.username(o, s, a), **row}
        for (o, s, a), row in sorted(rows.items())
    ]
    if fmt == "json":
        click.echo(json.dumps(listed, indent=2))
        return
    click.echo(f"{'USERNAME':<48} {'CREDENTIALS':<12} {'LAST SEEN (UTC)':<26} VERSION")
    for row in listed:
        credentials = "yes" if row["credentials"] else "NONE"
        click.echo(
            f"{row['username']:<48} {credentials:<12} {row['last_seen'] or 'never':<26} "
            f"{row['version'] or '-'}"
        )


def _seen(config: CollectorConfig) -> list[tuple[str, str, str, float, bytes | None]]:
    from collector.ledger import LedgerError, open_ledger

    path = config.ledger.sqlite_path
    if not path.exists():
        return []
    try:
        ledger = open_ledger(path, read_only=True)
    except LedgerError as exc:
        _fail(f"error: {exc}", 1)
    try:
        return ledger.agents_seen(time.time() - CONTEXT_DAYS * 86400)
    finally:
        ledger.close()


def _version(body: bytes | None) -> str | None:
    try:
        version = msgspec.json.decode(body).get("version") if body else None
    except (msgspec.DecodeError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def _collector_account(
    config: CollectorConfig,
    broker: BrokerConfig,
    base: Path,
    entries: dict[str, str],
    config_path: str,
) -> None:
    """The collector's own account, made once: from its password file if it holds one,
    else with a new password written there."""
    if config.mqtt.username != broker.collector_username:
        _fail(
            f"config error: {config_path}: mqtt.username: must be broker.collector_username "
            f"({broker.collector_username!r}) for the collector to use its account"
        )
    if broker.collector_username in entries:
        return
    if config.mqtt.password_file is None:
        _fail(
            f"config error: {config_path}: mqtt.password_file: missing: where the collector's "
            "broker password is (written by this command if the file does not exist)"
        )
    path = _resolve(base, config.mqtt.password_file)
    if path.exists():
        try:
            password = read_secret(path)
        except SecretError as exc:
            _fail(f"config error: {config_path}: mqtt.password_file: {exc}")
    else:
        password = accounts.new_password()
        accounts.write_atomic(path, password + "\n")
    entries[broker.collector_username] = accounts.hash_password(password)
    click.echo(f"account made for the collector ({broker.collector_username}), password in {path}")


def _write_agent_files(
    target: Path,
    broker: BrokerConfig,
    base: Path,
    ids: tuple[str, str, str],
    password: str,
    rotate: bool,
) -> bool:
    """Write the agent's files; True when an agent.yaml was there and, for a rotation,
    kept (its targets may have been edited)."""
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise accounts.AccountError(f"--out {target}: cannot create it: {exc.strerror}") from None
    if broker.ca_file:
        ca = _resolve(base, broker.ca_file)
        try:
            pem = ca.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise accounts.AccountError(f"broker.ca_file: cannot read {ca}") from None
        accounts.write_atomic(target / "ca.pem", pem)
    accounts.write_atomic(target / "mqtt-password", password + "\n")
    config = target / "agent.yaml"
    if rotate and config.exists():
        return True
    org, site, agent = ids
    text = AGENT_YAML.format(
        date=dt.date.today().isoformat(),
        org=org,
        site=site,
        agent=agent,
        url=broker.public_url,
        username=accounts.username(*ids),
        ca_line="  ca_file: ca.pem\n" if broker.ca_file else "",
    )
    accounts.write_atomic(config, text)
    return False


def _save(broker: BrokerConfig, base: Path, entries: dict[str, str]) -> None:
    """The password file, then the ACL made from it, rewritten in place."""
    accounts.write_in_place(
        _resolve(base, broker.password_file), accounts.render_passwords(entries)
    )
    acl = accounts.render_acl(broker.collector_username, accounts.agent_ids(entries))
    accounts.write_in_place(_resolve(base, broker.acl_file), acl)


def _reload(broker: BrokerConfig) -> None:
    if broker.reload is None:
        click.echo(
            "reload the broker now (broker.reload is not set): "
            "`docker compose kill -s HUP mosquitto`, `systemctl reload mosquitto` "
            "or `kill -HUP <mosquitto pid>`"
        )
        return
    command = shlex.join(broker.reload)
    if shutil.which(broker.reload[0]) is None:
        _fail(f"error: broker.reload: {broker.reload[0]!r} not found; run by hand: {command}", 1)
    try:
        done = subprocess.run(broker.reload, capture_output=True, timeout=RELOAD_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _fail(f"error: broker.reload failed ({type(exc).__name__}); run by hand: {command}", 1)
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = f" ({said[-1][:200]})" if said else ""  # its last line says why; no secret in it
        _fail(f"error: broker.reload exited {done.returncode}{why}; run by hand: {command}", 1)
    click.echo(f"broker reloaded ({command})")
