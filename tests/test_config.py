"""Config mistakes: each gives one line naming the file and the key, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config import ConfigError, load
from tests.helpers import ROOT
from tests.helpers.cli import agent_cli, collector_cli

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


# -- mistakes of both configs and of the collector's commands ------------------------------


def collector_error(tmp_path: Path, text: str | bytes) -> str:
    """`dui-collector run` on this config: exit 2 and the one line it printed."""
    path = tmp_path / "collector.yaml"
    if isinstance(text, str):
        text = text.encode()
    ledger = b"'sqlite:///" + str(tmp_path).encode() + b"/l.db'"
    text = text.replace(b"ledger: {", b"ledger: {url: " + ledger + b", ")
    if b"ledger:" not in text:
        text += b"\nledger: {url: " + ledger + b"}\n"
    path.write_bytes(text)
    proc = collector_cli("run", "--config", str(path), timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"dui-collector: config error: {path}: ")
    return line


@pytest.mark.parametrize("section", ["http", "mqtt"])
def test_listen_port_out_of_range(tmp_path: Path, section: str) -> None:
    line = collector_error(tmp_path, f"{section}: {{listen: '127.0.0.1:99999'}}")
    assert f"{section}: listen '127.0.0.1:99999': the port must be 0 to 65535" in line


def test_config_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    text = yaml.safe_dump(BASE).encode()
    path.write_bytes(text + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load(path)
    line = text.count(b"\n") + 1
    assert (
        str(info.value)
        == f"{path}: line {line}: the config file is not UTF-8 text; save it as UTF-8"
    )
    line = collector_error(tmp_path, b"# r\xe9seau\nhttp: {}")
    assert line.endswith("line 1: the config file is not UTF-8 text; save it as UTF-8")


def test_duration_and_size_beyond_bounds(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, with_target(http={"url": "https://x/", "interval": "99999999999y"})
    )
    assert "targets[0].http.interval: duration '99999999999y' is longer than 100y" in message
    message = error_of(tmp_path, {**BASE, "spool": {"max_bytes": "9" * 400 + "GB"}})
    assert "spool.max_bytes: size" in message and "is larger than" in message
    line = collector_error(tmp_path, "ledger: {raw_retention: 99999999999y}")
    assert "ledger.raw_retention: duration '99999999999y' is longer than 100y" in line


def test_empty_secret_file(tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("\n")
    message = error_of(
        tmp_path,
        {**BASE, "mqtt": {"url": "mqtts://broker.example:8883", "password_file": "empty"}},
    )
    assert message.endswith("mqtt.password_file: file 'empty' is empty")
    empty = tmp_path / "empty"
    for text, key in [
        (f"speedtest: {{token_file: {empty}}}", "speedtest.token_file"),
        (f"http: {{auth: {{type: token, file: {empty}}}}}", "http.auth.file"),
        (f"mqtt: {{url: 'mqtt://127.0.0.1:1', password_file: {empty}}}", "mqtt.password_file"),
        (
            "contracts: [{id: c1, targets: [t], availability: {objective: 0.99},"
            f" evidence_token_file: {empty}}}]",
            "contracts[0].evidence_token_file",
        ),
    ]:
        assert collector_error(tmp_path, text).endswith(f"{key}: file '{empty}' is empty")


CONTRACT = "contracts: [{id: c1, targets: [t], availability: {objective: 0.99}}]\n"


def test_evidence_import_of_a_binary_file(tmp_path: Path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text(CONTRACT + f"ledger: {{url: 'sqlite:///{tmp_path}/ledger.db'}}\n")
    for name, content in [
        ("sheet.xlsx", b"PK\x03\x04\x14\x00\x06\x00\xb4\xff"),
        ("nul.csv", b"id\x00\n"),
    ]:
        (tmp_path / name).write_bytes(content)
        proc = collector_cli(
            "evidence", "import", "--config", str(config), "--contract", "c1", str(tmp_path / name)
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith(f"dui-collector: {tmp_path / name}: not a CSV text file")
        assert line.endswith("nothing imported")
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize(
    "period",
    [
        ("--from", "0001-01-01", "--to", "0001-02-01"),
        ("--from", "9999-12-01", "--to", "9999-12-31"),
        ("--month", "9999-12"),
    ],
)
def test_report_of_an_implausible_period(tmp_path: Path, period: tuple[str, ...]) -> None:
    from collector.ledger import SqliteLedger

    config = tmp_path / "collector.yaml"
    config.write_text(CONTRACT + f"ledger: {{url: 'sqlite:///{tmp_path}/ledger.db'}}\n")
    SqliteLedger(tmp_path / "ledger.db").close()
    proc = collector_cli("report", "--config", str(config), "--contract", "c1", *period)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith("Error: period: ")


CREDENTIAL_URLS = [
    "https://bob:s3cr3t@dui.example/login",
    "https://bob@dui.example/login",
    "https://:s3cr3t@dui.example/login",
    "https://@dui.example/login",
    "https://bob%3As3cr3t@dui.example/login",
    "https://b%40b:s3cr3t%40@dui.example/login",
    "HTTPS://bob:s3cr3t@dui.example/login",
    "Http://bob:s3cr3t@dui.example:8080/login",
    "https://bob:s3cr3t@[::1]:8443/login",
    "https://bob\\@dui.example/",
    " https://bob:s3cr3t@dui.example/login",
    "https://bob:s3cr3t\uff20dui.example/login",  # fullwidth @, an @ once normalised
]


def _scenario(*urls: str) -> dict:
    steps = [{"name": f"s{i}", "get": url} for i, url in enumerate(urls)]
    return {"username": "u", "password_env": "PW", "steps": steps}


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
@pytest.mark.parametrize(
    ("probe", "key"),
    [
        (lambda url: {"http": {"url": url}}, "targets[0].http: url"),
        (lambda url: {"bandwidth": {"url": url}}, "targets[0].bandwidth: url"),
        (lambda url: {"scenario": _scenario("https://dui.example/", url)}, "step s1: get"),
    ],
    ids=["http", "bandwidth", "scenario"],
)
def test_credentials_in_a_probe_url_refused(tmp_path: Path, probe, key: str, url: str) -> None:
    message = error_of(tmp_path, with_target(**probe(url)))
    assert key in message and "must not carry a user or password" in message
    assert "s3cr3t" not in message and "bob" not in message and "***@" in message


@pytest.mark.parametrize("kind", ["latency", "dns"])
@pytest.mark.parametrize(
    "host",
    ["bob@dui.example", "bob:s3cr3t@dui.example", "@dui.example", "bob:s3cr3t\uff20dui.example"],
)
def test_a_user_in_a_latency_or_dns_host_refused(tmp_path: Path, kind: str, host: str) -> None:
    message = error_of(tmp_path, with_target(**{kind: {"host": host}}))
    assert f"targets[0].{kind}: host '***@dui.example'" in message
    assert "s3cr3t" not in message and "bob" not in message


def test_a_bad_port_is_refused_without_echoing_the_url(tmp_path: Path) -> None:
    message = error_of(tmp_path, with_target(http={"url": "https://bob:s3/cr3t@dui.example/"}))
    assert "write an http:// or https:// URL" in message and "cr3t" not in message


@pytest.mark.parametrize("kind", ["latency", "dns"])
@pytest.mark.parametrize("host", ["dui.example\t", "dui example", "dui.example/login"])
def test_a_latency_or_dns_host_is_a_host_alone(tmp_path: Path, kind: str, host: str) -> None:
    message = error_of(tmp_path, with_target(**{kind: {"host": host}}))
    assert "write a host name or IP address alone" in message


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("http", "https:/bob:s3cr3t@dui.example/"),  # one slash: not even a URL
        ("proxy", "http://bob:s3/cr3t@proxy.example:3128"),  # a / in the password
    ],
)
def test_a_url_that_does_not_parse_is_masked_too(tmp_path: Path, where: str, value: str) -> None:
    config = {**BASE, "proxy": value} if where == "proxy" else with_target(http={"url": value})
    message = error_of(tmp_path, config)
    assert "cr3t" not in message and "***@" in message, message


def test_the_proxy_may_carry_credentials(tmp_path: Path) -> None:
    config = load(write(tmp_path, {**BASE, "proxy": "http://bob:s3cr3t@proxy.example:3128"}))
    assert config.proxy == "http://bob:s3cr3t@proxy.example:3128"
    message = error_of(tmp_path, {**BASE, "proxy": "socks5://bob:s3cr3t@proxy.example:1080"})
    assert "proxy 'socks5://***@proxy.example:1080'" in message and "s3cr3t" not in message


def test_every_step_of_a_scenario_sending_the_account_is_https(tmp_path: Path) -> None:
    scenario = _scenario("https://dui.example/login", "http://dui.example/accueil")
    scenario["steps"][0] = {
        "name": "login",
        "post": "https://dui.example/login",
        "form": {"user": "{username}", "pass": "{password}"},
    }
    message = error_of(tmp_path, with_target(scenario=scenario))
    assert "step s1: get 'http://dui.example/accueil' is plain http" in message
    assert "every step of this scenario must use https://" in message
    scenario["steps"][1]["get"] = "https://dui.example/accueil"
    load(write(tmp_path, with_target(scenario=scenario)))


@pytest.mark.parametrize("url", ["ftp://bob:s3cr3t@broker.example", "mqtts://bob:s3cr3t@b:x"])
def test_a_bad_broker_url_with_credentials_is_not_echoed(tmp_path: Path, url: str) -> None:
    message = error_of(tmp_path, {**BASE, "mqtt": {"url": url}})
    assert "must not carry credentials" in message and "s3cr3t" not in message


def test_site_users_is_at_least_one(tmp_path: Path) -> None:
    """0 declared users made `workstations` need 0 and pass, and download per user unknown."""
    line = collector_error(tmp_path, "sites: {s1: {users: 0}}")
    assert "collector.yaml: sites[...].users: Expected `int` >= 1" in line
