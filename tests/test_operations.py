"""Operations (docs/operations.md) with real parts: a ledger backed up while the collector
runs and restored into a new collector gives the same report; a new agent version shows
in the fleet view (/metrics and the status page); the HTTP and evidence tokens and an
agent's MQTT password rotate without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from collector.ledger import SqliteLedger
from tests.helpers.broker import Mosquitto
from tests.helpers.cli import collector_cli
from tests.helpers.poll import await_until
from tests.helpers.processes import agent_config
from tests.helpers.servers import http_server
from tests.test_delivery import http_target
from tests.test_evidence import post
from tests.test_incident_notes import FIRST, head, note
from tests.test_sla_report import config, ledger_path, run_report  # noqa: F401

pytestmark = pytest.mark.timeout(180)
C = "dui-vendor-2026"
BACKUP = {
    "contract": C,
    "id": "bk-2026-11-17",
    "status": "success",
    "started_at": "2026-11-17T01:00:00Z",
    "completed_at": "2026-11-17T01:30:00Z",
    "restore_point_at": "2026-11-17T01:00:00Z",
    "expires_at": "2026-12-17T01:00:00Z",
}


def collector_settings(tmp_path: Path, ledger: Path, broker_url: str) -> dict:
    """The report tests' contract on `ledger`, with an evidence token and the broker."""
    settings = yaml.safe_load(Path(config(tmp_path, ledger)).read_text())
    token = tmp_path / "vendor-token"
    token.write_text("v3ndor\n")
    settings["contracts"][0]["evidence_token_file"] = str(token)
    settings["mqtt"] = {"url": broker_url}
    return settings


def test_backup_while_running_restores_the_same_report(
    tmp_path,
    ledger_path,  # noqa: F811
    mosquitto,
    collector_process,
) -> None:
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(ledger_path, live / "ledger.db")
    collector = collector_process(collector_settings(live, live / "ledger.db", mosquitto.url))
    collector.start()
    status, answer = post(f"{collector.url}/api/v1/evidence/backups", BACKUP, "v3ndor")
    assert status == 201, answer
    noted = note(str(collector.config_path), FIRST, "--cause", "panne du répartiteur")
    assert noted.returncode == 0, noted.stderr

    copy = tmp_path / "backup.db"
    backup = collector_cli("backup", "--config", str(collector.config_path), "--output", str(copy))
    assert backup.returncode == 0, backup.stderr
    assert "hash chain verified" in backup.stdout
    assert copy.stat().st_mode & 0o777 == 0o600  # the whole ledger: not world-readable
    assert not copy.with_name("backup.db.partial").exists()
    assert collector.proc is not None and collector.proc.poll() is None, "still running"
    collector.stop()

    # Restored as the docs say: the file copied into a new collector's ledger path.
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(copy, restored / "ledger.db")
    new_config = restored / "collector.yaml"
    new_config.write_text(
        yaml.safe_dump(
            collector_settings(restored, restored / "ledger.db", mosquitto.url), allow_unicode=True
        )
    )
    assert head(restored / "ledger.db") == head(live / "ledger.db")

    # A closed period: a month still running is evaluated up to now, which moves.
    before = run_report(str(collector.config_path), "--format", "json")
    after = run_report(str(new_config), "--format", "json")
    assert before.returncode == 0, before.stderr
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout, "the restored ledger gives another report"
    report = json.loads(after.stdout)
    assert report["incidents"][0]["notes"][0]["cause"] == "panne du répartiteur"
    # the vendor's backup at 01:00Z: 23 h to the period's end without one
    assert report["backups"]["largest_gap_seconds"] == 82800, report["backups"]
    ledger = SqliteLedger(restored / "ledger.db")
    try:
        assert ledger.verify_chain() is None
    finally:
        ledger.close()


def fake_release(where: Path, version: str) -> Path:
    """A folder whose dist-info says `version`: on PYTHONPATH it is what the agent reads
    (runtime/version.py), as an upgraded install would be."""
    info = where / f"dui_sla-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dui-sla\nVersion: {version}\n\n")
    return where


async def test_a_new_agent_version_shows_in_the_fleet_view(
    tmp_path, mosquitto, collector_process, agent_process, monkeypatch
) -> None:
    collector = collector_process({"mqtt": {"url": mosquitto.url}})
    collector.start()
    with http_server() as url:
        old = agent_process(
            agent_config(tmp_path / "old", mosquitto.url, [http_target(url, "1s")], agent="poste-1")
        )
        old.start()
        monkeypatch.setenv("PYTHONPATH", str(fake_release(tmp_path / "release", "9.8.7")))
        new = agent_process(
            agent_config(tmp_path / "new", mosquitto.url, [http_target(url, "1s")], agent="poste-2")
        )
        new.start()

        def versions() -> dict[str, str]:
            """{agent: version} from dui_agent_info (labels sorted by name)."""
            info = re.compile(r'dui_agent_info\{agent="([^"]*)",.*,version="([^"]*)"\}')
            return dict(m.groups() for s in collector.metrics() if (m := info.fullmatch(s)))

        await await_until(
            lambda: len(versions()) == 2, 60, "both agents in dui_agent_info", step=0.5
        )
        seen = versions()
        assert seen["poste-2"] == "9.8.7" and seen["poste-1"] not in ("9.8.7", "")
        status, page = await asyncio.to_thread(collector.get, "/")
        assert status == 200
        assert "9.8.7" in page and seen["poste-1"] in page
        await old.astop()
        await new.astop()


def replace_secret(path: Path, value: str) -> None:
    """As docs/operations.md says: a new file, mode 0600, renamed over the old one."""
    new = path.with_suffix(".new")
    new.touch(mode=0o600)
    new.write_text(value + "\n")
    os.replace(new, path)


def get(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_tokens_rotate_without_a_restart(
    tmp_path,
    ledger_path,  # noqa: F811
    mosquitto,
    collector_process,
) -> None:
    shutil.copy(ledger_path, tmp_path / "ledger.db")
    settings = collector_settings(tmp_path, tmp_path / "ledger.db", mosquitto.url)
    http_token = tmp_path / "http-token"
    http_token.write_text("old-http\n")
    settings["http"] = {"auth": {"type": "token", "file": str(http_token)}}
    collector = collector_process(settings)
    collector.start()
    api = f"{collector.url}/api/v1"
    assert get(f"{api}/contracts/{C}", "old-http") == 200

    replace_secret(http_token, "new-http")
    replace_secret(tmp_path / "vendor-token", "new-vendor")
    assert get(f"{api}/contracts/{C}", "old-http") == 401
    assert get(f"{api}/contracts/{C}", "new-http") == 200
    assert post(f"{api}/evidence/backups", BACKUP, "v3ndor")[0] == 401
    assert post(f"{api}/evidence/backups", BACKUP, "new-vendor")[0] == 201
    assert collector.proc is not None and collector.proc.poll() is None


async def test_agent_password_rotation_needs_no_restart(tmp_path, agent_process) -> None:
    """Rotated on the broker and reloaded: the broker drops the agent, which reads its
    password file again at each connect attempt and is back once the new file is there."""
    passwd = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", passwd, "agent", "old"], check=True)
    (tmp_path / "broker").mkdir()
    # Mosquitto keeps the last value of a repeated global option.
    broker = Mosquitto(tmp_path / "broker", f"allow_anonymous false\npassword_file {passwd}\n")
    broker.start()
    try:
        secret = tmp_path / "mqtt-password"
        replace_secret(secret, "old")
        with http_server() as url:
            agent = agent_process(
                agent_config(
                    tmp_path,
                    broker.url,
                    [http_target(url, "1s")],
                    mqtt={"username": "agent", "password_file": str(secret)},
                )
            )
            agent.start()
            await await_until(lambda: agent.log().count("mqtt connected") == 1, 30, "connected")
            subprocess.run(["mosquitto_passwd", "-b", passwd, "agent", "new"], check=True)
            assert broker.proc is not None
            broker.proc.send_signal(signal.SIGHUP)
            await await_until(lambda: "mqtt connect failed" in agent.log(), 30, "refused")
            replace_secret(secret, "new")  # the file copied to the workstation
            await await_until(lambda: agent.log().count("mqtt connected") == 2, 90, "back")
            assert agent.proc is not None and agent.proc.poll() is None, "not restarted"
            await agent.astop()
    finally:
        broker.stop()


def test_backup_refuses_what_is_not_a_new_copy(tmp_path, ledger_path) -> None:  # noqa: F811
    """A folder, a missing folder or the ledger itself as --output: one line, nothing
    left behind, the ledger untouched."""
    path = config(tmp_path, ledger_path)
    before = ledger_path.stat().st_size
    for output, says in (
        (tmp_path, "give a file in an existing folder"),
        (tmp_path / "missing" / "x.db", "give a file in an existing folder"),
        (ledger_path, "that is the ledger itself"),
        (Path(f"{ledger_path}-wal"), "that is the ledger itself"),
    ):
        proc = collector_cli("backup", "--config", path, "--output", str(output))
        assert proc.returncode == 2, (output, proc.stderr)
        assert says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert ledger_path.stat().st_size == before
    assert not list(tmp_path.glob("*.partial"))
