"""`dui-collector agents add|remove|list` as real processes: the files it writes, the
hash Mosquitto reads, concurrent runs, and one line with exit 2 for each mistake."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from collector.accounts import hash_password, read_passwords
from collector.ledger import StoredResult, open_ledger
from tests.helpers import ROOT
from tests.helpers.cli import collector_cli
from wire.schema import MAX_MESSAGE_BYTES, agent_topics

IDS = ["--org", "og-test", "--site", "site-a", "--agent", "poste-1"]


def write_config(tmp_path: Path, **broker) -> Path:
    config = {
        "mqtt": {
            "url": "mqtts://127.0.0.1:8883",
            "username": "dui-collector",
            "password_file": "collector-password",
        },
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
        "broker": {
            "password_file": "passwords",
            "acl_file": "acl",
            "public_url": "mqtts://broker.og-test.fr:8883",
        }
        | broker,
    }
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def agents(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return collector_cli("agents", *args, "--config", str(config), cwd=config.parent)


def one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_hash_is_what_mosquitto_passwd_writes(tmp_path) -> None:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto_passwd is not installed")
    passwd = tmp_path / "passwd"
    passwd.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), "u", "pässword-1"], check=True)
    written = read_passwords(passwd)["u"]
    salt = base64.b64decode(written.split("$")[3])
    assert hash_password("pässword-1", salt) == written


def test_add_writes_the_agent_files_and_the_acl(tmp_path) -> None:
    config = write_config(tmp_path, ca_file="ca.pem")
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    done = agents(config, "add", *IDS)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "agents" / "og-test-site-a-poste-1"
    secret = (out / "mqtt-password").read_text().strip()
    assert len(secret) >= 22  # ≥ 128 bits in URL-safe base64
    assert secret not in done.stdout + done.stderr
    collector_secret = (tmp_path / "collector-password").read_text().strip()
    assert collector_secret not in done.stdout + done.stderr
    for path in (out / "mqtt-password", out / "agent.yaml", out / "ca.pem", tmp_path / "passwords"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    written = yaml.safe_load((out / "agent.yaml").read_text())
    assert written["mqtt"] == {
        "url": "mqtts://broker.og-test.fr:8883",
        "username": "og-test.site-a.poste-1",
        "password_file": "mqtt-password",
        "ca_file": "ca.pem",
    }
    from agent.config import load as load_agent

    assert load_agent(out / "agent.yaml").client_id == "og-test.site-a.poste-1"
    assert set(read_passwords(tmp_path / "passwords")) == {
        "dui-collector",
        "og-test.site-a.poste-1",
    }
    acl = (tmp_path / "acl").read_text()
    topics = agent_topics("og-test", "site-a", "poste-1")
    assert f"user og-test.site-a.poste-1\ntopic write {topics['results']}\n" in acl
    assert "reload the broker now" in done.stdout


def test_mistakes_are_one_line_and_exit_2(tmp_path) -> None:
    config = write_config(tmp_path)
    assert agents(config, "add", *IDS).returncode == 0
    before = (tmp_path / "passwords").read_text()
    one_line_error(agents(config, "add", *IDS), "already has an account", "--rotate")
    other = ["--org", "og-test", "--site", "site-a", "--agent", "poste-9"]
    one_line_error(agents(config, "add", "--rotate", *other), "no account to rotate")
    one_line_error(agents(config, "remove", *other), "og-test.site-a.poste-9 has no account")
    one_line_error(agents(config, "add", "--org", "OG", "--site", "s", "--agent", "a"), "--org")
    assert (tmp_path / "passwords").read_text() == before
    bare = tmp_path / "bare.yaml"
    bare.write_text("mqtt: {url: 'mqtts://127.0.0.1:8883'}\n")
    one_line_error(agents(bare, "list"), "bare.yaml", "broker: missing")
    plain = write_config(tmp_path, public_url="mqtt://broker.og-test.fr:1883")
    one_line_error(agents(plain, "list"), "broker: public_url", "unencrypted")
    other_user = write_config(tmp_path, collector_username="collector-2")
    one_line_error(agents(other_user, "add", *other), "mqtt.username", "collector-2")
    agentlike = write_config(tmp_path, collector_username="a.b.c")
    one_line_error(agents(agentlike, "list"), "broker: collector_username")


def test_a_failed_reload_names_the_command(tmp_path) -> None:
    config = write_config(tmp_path, reload=["false"])
    done = agents(config, "add", *IDS)
    assert done.returncode == 1 and "broker.reload exited 1; run by hand: false" in done.stderr
    assert "og-test.site-a.poste-1" in read_passwords(tmp_path / "passwords")


def test_concurrent_adds_lose_nothing(tmp_path) -> None:
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "collector", "agents", "add", "--config", str(config)]
    runs = [
        subprocess.Popen(
            [*command, *IDS[:-1], f"poste-{n}"],
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in range(6)
    ]
    for run in runs:
        assert run.wait(60) == 0, run.stderr.read() if run.stderr else ""
        if run.stderr:
            run.stderr.close()
    users = set(read_passwords(tmp_path / "passwords"))
    assert users == {"dui-collector"} | {f"og-test.site-a.poste-{n}" for n in range(6)}
    acl = (tmp_path / "acl").read_text()
    assert all(f"user og-test.site-a.poste-{n}\n" in acl for n in range(6))


def test_list_shows_last_seen_version_and_unknown_agents(tmp_path) -> None:
    config = write_config(tmp_path)
    assert agents(config, "add", *IDS).returncode == 0
    assert agents(config, "add", *IDS[:-1], "poste-2").returncode == 0
    assert agents(config, "remove", *IDS[:-1], "poste-2").returncode == 0
    now = time.time()
    ledger = open_ledger(tmp_path / "ledger.db")
    with ledger.transaction() as tx:
        for agent in ("poste-1", "intruder"):
            key = ("og-test", "site-a", agent, "00000000")
            body = json.dumps({"version": f"1.2.{len(agent)}"}).encode()
            tx.add_results(
                [
                    StoredResult(
                        key, 1, now, "context", "workstation", "workstation", True, None, body
                    )
                ],
                now,
            )
            tx.set_watermark(key, 1, now)
    ledger.close()
    done = agents(config, "list", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {row["agent"]: row for row in json.loads(done.stdout)}
    assert set(rows) == {"poste-1", "intruder"}
    assert rows["poste-1"]["credentials"] and rows["poste-1"]["version"] == "1.2.7"
    assert not rows["intruder"]["credentials"] and rows["intruder"]["last_seen"]
    table = agents(config, "list").stdout
    assert re.search(r"og-test\.site-a\.intruder\s+NONE\s+\d{4}-", table), table


def test_max_packet_size_lets_the_largest_message_through() -> None:
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    size = int(re.search(r"^max_packet_size (\d+)$", conf, re.M)[1])
    longest_topic = len(agent_topics("a" * 63, "b" * 63, "c" * 63)["results"])
    assert MAX_MESSAGE_BYTES + longest_topic + 16 <= size <= 2 * MAX_MESSAGE_BYTES


def test_file_mistakes_name_the_file(tmp_path) -> None:
    config = write_config(tmp_path, ca_file="missing-ca.pem")
    one_line_error(agents(config, "add", *IDS), "broker.ca_file", "missing-ca.pem")
    config = write_config(tmp_path, reload=["no-such-reload-command"])
    done = agents(config, "add", *IDS)
    assert done.returncode == 1
    assert "'no-such-reload-command' not found; run by hand" in done.stderr
    (tmp_path / "passwords").write_text("no hash here\n")
    done = agents(config, "list")
    assert done.returncode == 1 and "passwords: line 1: not `username:hash`" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    (tmp_path / "passwords").write_text("")
    (tmp_path / "a-file").write_text("")
    done = agents(config, "add", *IDS, "--out", str(tmp_path / "a-file" / "sub"))
    assert done.returncode == 1 and "--out" in done.stderr and "Traceback" not in done.stderr
    no_collector_file = tmp_path / "other.yaml"
    no_collector_file.write_text(
        "mqtt: {url: 'mqtts://127.0.0.1:8883', username: dui-collector}\n"
        "broker: {password_file: p2, acl_file: a2, public_url: 'mqtts://b.fr:8883'}\n"
    )
    one_line_error(agents(no_collector_file, "add", *IDS), "mqtt.password_file: missing")


def test_rotate_keeps_an_edited_agent_yaml(tmp_path) -> None:
    config = write_config(tmp_path)
    out = tmp_path / "agents" / "og-test-site-a-poste-1"
    assert agents(config, "add", *IDS).returncode == 0
    first = (out / "mqtt-password").read_text()
    (out / "agent.yaml").write_text((out / "agent.yaml").read_text() + "# edited\n")
    done = agents(config, "add", "--rotate", *IDS)
    assert done.returncode == 0 and "kept as it was" in done.stdout
    assert (out / "agent.yaml").read_text().endswith("# edited\n")
    assert (out / "mqtt-password").read_text() != first


def test_broker_files_keep_their_inode_and_mode(tmp_path) -> None:
    """A file bind-mounted into the broker's container follows its inode: the files are
    rewritten in place, keeping the mode the broker's user reads them with."""
    config = write_config(tmp_path)
    for name in ("passwords", "acl"):
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o640)
    before = {name: (tmp_path / name).stat().st_ino for name in ("passwords", "acl")}
    assert agents(config, "add", *IDS).returncode == 0
    assert agents(config, "add", *IDS[:-1], "poste-2").returncode == 0
    for name, inode in before.items():
        info = (tmp_path / name).stat()
        assert (info.st_ino, stat.S_IMODE(info.st_mode)) == (inode, 0o640), name
    assert "user og-test.site-a.poste-2\n" in (tmp_path / "acl").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_new_broker_files_are_owned_like_their_folder(tmp_path) -> None:
    """Mosquitto drops root and reads its files as its own user: a root-owned 0600
    password file would lock every client out at the reload."""
    broker = tmp_path / "broker"
    broker.mkdir()
    os.chown(broker, 1883, 1883)  # the eclipse-mosquitto image's user
    config = write_config(
        tmp_path, password_file="broker/passwords", acl_file="broker/acl", reload=["true"]
    )
    done = agents(config, "add", *IDS)
    assert done.returncode == 0, done.stderr
    for name in ("passwords", "acl"):
        info = (broker / name).stat()
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (1883, 1883, 0o600)


def test_a_failed_reload_says_why(tmp_path) -> None:
    config = write_config(tmp_path, reload=["sh", "-c", "echo 'no process found' >&2; exit 3"])
    done = agents(config, "add", *IDS)
    assert done.returncode == 1 and "exited 3 (no process found)" in done.stderr, done.stderr
