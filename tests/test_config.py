"""Config mistakes: each gives one line naming the file and the key, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config import ConfigError, load
from tests.helpers import ROOT
from tests.helpers.cli import agent_cli

BASE = {
    "org": "og-exemple",
    "site": "ehpad-tilleuls",
    "targets": [{"name": "dui-login", "role": "dui", "http": {"url": "https://dui.example/login"}}],
}


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def error_of(tmp_path: Path, data) -> str:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "agent.yaml"))
    return message


def with_target(**probe) -> dict:
    return {**BASE, "targets": [{"name": "t", "role": "dui", **probe}]}


def test_design_example_loads(tmp_path: Path) -> None:
    for name in ("mqtt-password", "ca.pem", "synthetic-password", "speedtest-token"):
        (tmp_path / name).write_text("secret\n")
    example = (ROOT / "deploy" / "agent.example.yaml").read_text()
    example = example.replace("/etc/dui-agent/", f"{tmp_path}/")
    config = load(write(tmp_path, example))
    assert config.mqtt.ack_timeout == 60
    assert config.spool.max_age == 7 * 86400
    assert [t.name for t in config.targets][:3] == ["dui-login", "dui-host", "gateway"]
    assert config.targets[-1].bandwidth.max_bytes == 20_000_000
    assert config.usage.enabled is False


def test_minimal_config_defaults(tmp_path: Path) -> None:
    config = load(write(tmp_path, BASE))
    assert config.mqtt.url == "mqtt://127.0.0.1:1883"
    assert config.targets[0].http.interval == 30 and config.targets[0].http.timeout == 10
    assert config.client_id == f"og-exemple.ehpad-tilleuls.{config.agent}"


def test_unknown_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(http={"url": "https://x/", "intervall": "30s"}))
    assert "targets[0].http: unknown key `intervall`" in message


def test_bad_duration(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(http={"url": "https://x/", "interval": "30x"}))
    assert "targets[0].http.interval: invalid duration '30x'" in message


def test_duration_without_unit(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(latency={"host": "x", "timeout": 2}))
    assert "targets[0].latency.timeout: duration 2 needs a unit" in message


def test_bad_size(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**BASE, "spool": {"max_bytes": "50 lemons"}})
    assert "spool.max_bytes: invalid size '50 lemons'" in message


def test_id_not_matching_pattern(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**BASE, "site": "EHPAD Tilleuls"})
    assert "site: must be 1 to 63 lower-case letters" in message


def test_missing_required_key(tmp_path: Path) -> None:
    data = dict(BASE)
    del data["site"]
    assert "missing required key `site`" in error_of(tmp_path, data)


def test_missing_file(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        {**BASE, "mqtt": {"url": "mqtts://broker.example:8883", "password_file": "nope.txt"}},
    )
    assert "mqtt.password_file: file 'nope.txt' not found" in message


def test_plain_mqtt_to_remote_host_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**BASE, "mqtt": {"url": "mqtt://broker.example:1883"}})
    assert "mqtt: url 'mqtt://broker.example:1883': plain mqtt://" in message
    assert "allow_insecure" in message
    ok = {**BASE, "mqtt": {"url": "mqtt://broker.example:1883", "allow_insecure": True}}
    assert load(write(tmp_path, ok)).mqtt.host == "broker.example"


def test_wrong_type(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(latency={"host": "x", "samples": "ten"}))
    assert "targets[0].latency.samples: Expected `int`, got `str`" in message


def test_bad_enum(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, {**BASE, "targets": [{"name": "t", "role": "vendor", "dns": {"host": "x"}}]}
    )
    assert "targets[0].role:" in message and "'dui'" in message


def test_target_without_probe(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**BASE, "targets": [{"name": "t", "role": "dui"}]})
    assert "targets[0]: target t has no probe" in message


def test_duplicate_target_names(tmp_path: Path) -> None:
    data = {**BASE, "targets": BASE["targets"] * 2}
    assert "target name 'dui-login' is used twice" in error_of(tmp_path, data)


def test_bad_url(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(http={"url": "dui.example/login"}))
    assert "targets[0].http: url 'dui.example/login': write an http:// or https:// URL" in message


def test_bad_regex(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(http={"url": "https://x/", "expect_regex": "(a"}))
    assert "not a valid regular expression" in message


def test_gateway_auto_only_for_gateway_role(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(latency={"host": "auto"}))
    assert "latency host `auto` is for role gateway" in message


def test_scenario_credentials_need_https_and_one_host(tmp_path: Path) -> None:
    steps = [{"name": "login", "post": "http://dui.example/login", "form": {"u": "{username}"}}]
    assert "only sent over https" in error_of(tmp_path, with_target(scenario={"steps": steps}))
    steps = [
        {"name": "a", "get": "https://dui.example/"},
        {"name": "b", "get": "https://evil.example/"},
    ]
    assert "several hosts" in error_of(tmp_path, with_target(scenario={"steps": steps}))


def test_bandwidth_window(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, with_target(bandwidth={"url": "https://c/speedtest", "window": "8pm-7am"})
    )
    assert "window '8pm-7am': write HH:MM-HH:MM" in message


def test_bad_proxy(tmp_path: Path) -> None:
    assert "proxy 'sometimes'" in error_of(tmp_path, {**BASE, "proxy": "sometimes"})


def test_not_yaml(tmp_path: Path) -> None:
    assert "line 2: not valid YAML" in error_of(tmp_path, "org: a\n  site: [b\n")


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "must hold a mapping" in error_of(tmp_path, "- just\n- a list\n")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load(tmp_path / "absent.yaml")


@pytest.mark.parametrize("command", ["run", "check"])
def test_cli_exit_2_one_line_no_traceback(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, with_target(http={"url": "https://x/", "timeout": "soon"}))
    proc = agent_cli(command, "--config", str(path))
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith(f"dui-agent: config error: {path}: targets[0].http.timeout:")


def test_unusable_spool_path_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    data = {**BASE, "spool": {"path": str(blocker / "spool.db")}}
    path = write(tmp_path, data)
    proc = agent_cli("run", "--config", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}: spool.path: cannot open spool" in proc.stderr
