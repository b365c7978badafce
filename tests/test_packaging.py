"""The production layout in containers (docker-compose.yml, docker/): checked as docker compose
itself reads it, with env files docker/make_env.py wrote, where a compose client is installed
(skipped otherwise); the Dockerfiles are checked as text everywhere. Images are not built here:
the machines that run these tests cannot reach an image registry."""
from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import tomli
import yaml

from caredesk.settings import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
SECRET_NAMES = ("RASA_TOKEN", "CAREDESK_CHANNEL_SECRET", "ACTION_SERVER_TOKEN", "POSTGRES_PASSWORD",
                "DATABASE_URL", "TRACKER_STORE_URL", "TELEGRAM_TOKEN", "TELEGRAM_SECRET_TOKEN")
RESTART_POLICIES = {"unless-stopped", "on-failure", "always"}


def _compose_client() -> list[str] | None:
    """`docker compose` (v2) when the plugin is there, else `docker-compose` (v1), else None."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


COMPOSE = _compose_client()
needs_compose = pytest.mark.skipif(COMPOSE is None, reason="no docker compose client on this machine")


def _env_values(directory: Path) -> dict[str, dict[str, str]]:
    """Each env file's settings, by file name."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(directory.glob("*.env")):
        pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")
        found[path.name] = {key: value for key, value in pairs}
    return found


@pytest.fixture(scope="module")
def env_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("env")
    subprocess.run([sys.executable, str(DOCKER / "make_env.py"), "--dir", str(directory)], check=True,
                   capture_output=True)
    return directory


def _compose(env_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CAREDESK_ENV_DIR": str(env_dir)}
    return subprocess.run([*COMPOSE, "-f", str(COMPOSE_FILE), *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def services(env_dir: Path) -> dict[str, dict[str, Any]]:
    """The services as compose renders them: anchors merged, env files read into `environment`."""
    done = _compose(env_dir, "config")
    assert done.returncode == 0, done.stderr
    rendered: dict[str, dict[str, Any]] = yaml.safe_load(done.stdout)["services"]
    return rendered


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _is_rasa(service: dict[str, Any]) -> bool:
    return str(service.get("build", {}).get("dockerfile", "")).endswith("rasa.Dockerfile")


@needs_compose
def test_compose_accepts_the_file_offline(env_dir: Path) -> None:
    done = _compose(env_dir, "config", "-q")
    assert done.returncode == 0, done.stderr


@needs_compose
def test_a_missing_env_file_stops_compose(tmp_path: Path) -> None:
    done = _compose(tmp_path, "config", "-q")
    assert done.returncode != 0


@needs_compose
def test_every_service_restarts_by_policy(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert service.get("restart") in RESTART_POLICIES, name
    assert services["migrate"]["restart"] == "on-failure"  # a one-shot that succeeded stays down


@needs_compose
def test_only_the_proxy_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    assert all(not service.get("network_mode") for service in services.values())


@needs_compose
def test_the_production_layout_has_two_gateways_and_two_rasa_processes(services: dict[str, dict[str, Any]]) -> None:
    gateways = sorted(name for name, s in services.items() if _command(s) == ["python", "-m", "bot"])
    assert gateways == ["gateway-1", "gateway-2"]
    assert sorted(name for name, s in services.items() if _is_rasa(s)) == ["rasa-1", "rasa-2"]
    assert {"postgres", "redis", "migrate", "actions", "proxy"} <= set(services)
    urls = services["gateway-1"]["environment"]["RASA_URL"].split(",")
    assert urls == ["http://rasa-1:5005", "http://rasa-2:5005"]
    assert services["rasa-1"]["environment"]["LOCK_STORE"] == "redis"
    # One Redis for both gateways' live fan-out (docs/gateways.md), on one channel prefix.
    shared = {(services[g]["environment"].get("GATEWAY_REDIS_URL"), services[g]["environment"].get("GATEWAY_FANOUT_PREFIX"))
              for g in gateways}
    assert len(shared) == 1 and next(iter(shared))[0], shared


@needs_compose
def test_every_long_running_service_has_a_health_check(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), name


@needs_compose
def test_everything_on_the_database_waits_for_the_migration(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if "DATABASE_URL" in service.get("environment", {}) and name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


@needs_compose
def test_no_secret_is_written_in_the_compose_file(services: dict[str, dict[str, Any]], env_dir: Path) -> None:
    """Every secret a service gets comes from an env file, never from docker-compose.yml."""
    text = COMPOSE_FILE.read_text()
    raw = yaml.safe_load(text)
    for name, service in raw["services"].items():
        environment = service.get("environment") or {}
        assert not set(environment) & set(SECRET_NAMES), name
    secrets = {value for values in _env_values(env_dir).values() for key, value in values.items()
               if key in SECRET_NAMES and value}
    assert secrets and not any(secret in text for secret in secrets)
    assert not re.search(r"(?i)(token|secret|password)\s*[:=]\s*['\"]?[\w-]{8,}", text)
    rendered = {value for service in services.values() for key, value in service.get("environment", {}).items()
                if key in SECRET_NAMES}
    assert rendered <= secrets  # what compose hands over is what the env files hold


@needs_compose
def test_each_service_gets_only_the_secrets_it_needs(services: dict[str, dict[str, Any]]) -> None:
    def names(service: str) -> set[str]:
        return set(services[service].get("environment", {}))

    assert not names("actions") & {"RASA_TOKEN", "CAREDESK_CHANNEL_SECRET", "TRACKER_STORE_URL"}
    for gateway in ("gateway-1", "gateway-2"):
        assert "ACTION_SERVER_TOKEN" not in names(gateway)
        assert {"RASA_TOKEN", "CAREDESK_CHANNEL_SECRET", "DATABASE_URL"} <= names(gateway)
    for rasa in ("rasa-1", "rasa-2"):
        assert {"RASA_TOKEN", "CAREDESK_CHANNEL_SECRET", "ACTION_SERVER_TOKEN"} <= names(rasa)
        assert "DATABASE_URL" not in names(rasa)
    assert names("migrate") & set(SECRET_NAMES) == {"DATABASE_URL"}
    holders = sorted(name for name in services if "POSTGRES_PASSWORD" in names(name))
    assert holders == ["postgres"]


@needs_compose
def test_rasa_and_the_action_server_listen_on_their_private_names_only(services: dict[str, dict[str, Any]]) -> None:
    for rasa in ("rasa-1", "rasa-2"):
        command = _command(services[rasa])
        assert command[command.index("--interface") + 1] == services[rasa]["hostname"] == rasa
        assert list(services[rasa]["networks"]) == ["backend"]
    assert services["actions"]["environment"]["ACTION_SERVER_HOST"] == services["actions"]["hostname"]
    assert "0.0.0.0" not in str(services["actions"]) + str(services["rasa-1"]) + str(services["rasa-2"])


@needs_compose
def test_the_gateways_believe_exactly_the_proxy_in_front(services: dict[str, dict[str, Any]]) -> None:
    for gateway in ("gateway-1", "gateway-2"):
        assert services[gateway]["environment"]["GATEWAY_TRUSTED_PROXIES"] == "1"
        assert services[gateway]["environment"]["GATEWAY_PUBLIC_URL"]
    nginx = (DOCKER / "nginx.conf").read_text()
    assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $connection_upgrade;" in nginx
    assert "server gateway-1:8000" in nginx and "server gateway-2:8000" in nginx
    assert len(re.findall(r"^\s*proxy_pass ", nginx, re.M)) == 1  # one place, so one header set


def _stages(dockerfile: Path) -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into build stages."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


@pytest.mark.parametrize("name", ["app.Dockerfile", "rasa.Dockerfile"])
def test_the_images_run_as_a_plain_user_on_python_310_with_no_secret(name: str) -> None:
    dockerfile = DOCKER / name
    stages = _stages(dockerfile)
    names: set[str] = set()
    for stage in stages:  # each stage starts from Python 3.10 (Rasa 3.6 needs it) or an earlier stage
        parts = stage[0].split()
        assert parts[1] == "python:3.10-slim" or parts[1] in names, stage[0]
        names.update(parts[3:4] if len(parts) == 4 and parts[2].upper() == "AS" else [])
    users = [line.split()[1] for line in stages[-1] if line.upper().startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    settings = " ".join(line for stage in stages for line in stage if line.split()[0].upper() in ("ENV", "ARG"))
    assert not re.search(r"TOKEN|SECRET|PASSWORD|DATABASE_URL", settings)


@pytest.mark.parametrize("name", ["app.Dockerfile", "rasa.Dockerfile"])
def test_every_file_an_image_copies_is_in_the_repository_and_not_ignored(name: str) -> None:
    ignored = (DOCKER / f"{name}.dockerignore").read_text().split()
    assert {"**/.env", "docker/env/", ".venv/", "var/"} <= set(ignored)
    for stage in _stages(DOCKER / name):
        for line in stage:
            parts = line.split()
            if parts[0].upper() != "COPY" or any(part.startswith("--from") for part in parts):
                continue
            for source in parts[1:-1]:
                assert (PROJECT_ROOT / source).exists(), f"{name}: COPY {source}"
                assert not any(source.rstrip("/") == entry.rstrip("/") for entry in ignored), source


def test_the_app_image_installs_exactly_pyprojects_runtime_dependencies(tmp_path: Path) -> None:
    """The app Dockerfile's sed pipeline against pyproject.toml, compared with a TOML parser."""
    run = next(line for line in _stages(DOCKER / "app.Dockerfile")[0] if "runtime.txt" in line)
    pipeline = run.split(" ", 1)[1].split(" && ")[0]
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    subprocess.run(["bash", "-c", pipeline], cwd=tmp_path, check=True)
    expected = tomli.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert (tmp_path / "runtime.txt").read_text().split("\n")[:-1] == expected


def test_the_rasa_image_carries_a_model_and_the_guarded_launcher() -> None:
    stages = _stages(DOCKER / "rasa.Dockerfile")
    assert any("rasa train" in line for stage in stages for line in stage)
    final = " ".join(stages[-1])
    assert "models/caredesk.tar.gz" in final and '"engine.serve"' in final
    assert "--auth-token" not in final and "0.0.0.0" not in final


def test_make_env_fills_every_placeholder_once_and_keeps_existing_files(env_dir: Path) -> None:
    values = _env_values(env_dir)
    assert set(values) == {"postgres.env", "database.env", "tracker.env", "rasa.env", "actions.env", "gateway.env"}
    assert all(path.stat().st_mode & 0o077 == 0 for path in env_dir.glob("*.env"))
    assert "{" not in "".join(v for file in values.values() for v in file.values())
    password = values["postgres.env"]["POSTGRES_PASSWORD"]
    assert f":{password}@postgres:5432/" in values["database.env"]["DATABASE_URL"]
    assert f":{password}@postgres:5432/" in values["tracker.env"]["TRACKER_STORE_URL"]
    assert values["rasa.env"]["RASA_TOKEN"] != values["rasa.env"]["CAREDESK_CHANNEL_SECRET"]
    before = {path.name: path.read_text() for path in env_dir.glob("*.env")}
    (env_dir / "actions.env").unlink()
    subprocess.run([sys.executable, str(DOCKER / "make_env.py"), "--dir", str(env_dir)], check=True, capture_output=True)
    after = {path.name: path.read_text() for path in env_dir.glob("*.env")}
    assert {k: v for k, v in after.items() if k != "actions.env"} == {k: v for k, v in before.items() if k != "actions.env"}
    assert after["actions.env"] != before["actions.env"]  # a fresh token, the rest untouched


class _Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200 if self.path == "/health" else 500)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_the_health_check_helper_exits_0_only_on_a_200() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        codes = [subprocess.run([sys.executable, str(DOCKER / "healthcheck.py"), url], timeout=30).returncode
                 for url in (f"{base}/health", f"{base}/broken")]
    finally:
        server.shutdown()
        server.server_close()
    closed = subprocess.run([sys.executable, str(DOCKER / "healthcheck.py"), base], timeout=30).returncode
    assert codes == [0, 1] and closed == 1
