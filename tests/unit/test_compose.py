"""docker-compose.yml, Dockerfile and .env.example describe the production shape.

No container engine runs on the development or CI machines, so the file is checked
as data here; when a `docker compose` or `docker-compose` binary is on PATH it also
validates the file with `config -q` (which needs no engine).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from realtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

ONE_SHOT = {"airflow-init"}
LONG_RUNNING = {
    "mongo",
    "redis",
    "postgres",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "realtime",
}
AIRFLOW = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}
PUBLISHED = {
    "realtime": 8000,
    "airflow-apiserver": 8080,
    "postgres": 5432,
    "redis": 6379,
    "mongo": 27017,
}
SETTINGS_VARS = {f"CALLPATH_{name.upper()}" for name in Settings.model_fields}

_VAR = re.compile(r"\$\$|\$\{(\w+)(?:(:?-)([^}]*))?\}")


def interpolate(value, env: dict[str, str]):
    """Compose's `${VAR}`, `${VAR-default}`, `${VAR:-default}` and `$$`, over a parsed file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, default = m.group(1), m.group(2), m.group(3)
        current = env.get(name)
        if op == ":-" and not current:
            return default
        if op == "-" and current is None:
            return default
        return current or ""

    return _VAR.sub(sub, value)


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as compose sees it with no variables set (all defaults)."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()), env={})


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def published_ports(service: dict) -> dict[int, int]:
    """{container port: host port} from the short syntax `[IP:]HOST:CONTAINER[/proto]`."""
    ports = {}
    for spec in service.get("ports", []):
        parts = str(spec).split("/")[0].split(":")
        assert len(parts) >= 2, f"port {spec!r} is not published on the host"
        ports[int(parts[-1])] = int(parts[-2])
    return ports


def healthcheck_text(service: dict) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_the_stack_has_exactly_the_expected_services(services):
    assert set(services) == LONG_RUNNING | ONE_SHOT


def test_stores_use_the_pinned_images(services):
    assert services["mongo"]["image"] == "mongo:7"
    assert services["redis"]["image"] == "redis:7"
    assert services["postgres"]["image"] == "postgres:16"


@pytest.mark.parametrize(("name", "port"), sorted(PUBLISHED.items()))
def test_service_publishes_its_port_on_the_same_host_port(services, name, port):
    assert published_ports(services[name]) == {port: port}


def test_only_the_expected_services_publish_ports(services):
    assert {name for name, s in services.items() if s.get("ports")} == set(PUBLISHED)


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_healthcheck(services, name):
    check = services[name].get("healthcheck")
    assert check, f"{name} has no healthcheck"
    assert not check.get("disable", False)
    test = check["test"]
    assert test and (test[0] in ("CMD", "CMD-SHELL") if isinstance(test, list) else True)
    assert services[name].get("restart") == "unless-stopped"


def test_healthchecks_probe_what_the_brief_asks_for(services):
    assert "mongosh" in healthcheck_text(services["mongo"])
    assert "ping" in healthcheck_text(services["mongo"])
    assert "redis-cli ping" in healthcheck_text(services["redis"])
    assert "pg_isready" in healthcheck_text(services["postgres"])
    assert "/api/v2/monitor/health" in healthcheck_text(services["airflow-apiserver"])
    assert "localhost:8000/healthz" in healthcheck_text(services["realtime"])


def test_one_shot_init_is_not_restarted_and_migrates(services):
    init = services["airflow-init"]
    assert "healthcheck" not in init
    assert init["restart"] == "no"
    assert init["command"] == ["airflow", "db", "migrate"]


@pytest.mark.parametrize("name", sorted(s for s in LONG_RUNNING | ONE_SHOT))
def test_depends_on_waits_for_healthy_services(services, name):
    depends = services[name].get("depends_on", {})
    assert isinstance(depends, dict), f"{name}: use the long depends_on syntax with a condition"
    for dependency, rule in depends.items():
        assert dependency in services, f"{name} depends on unknown {dependency}"
        expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
        assert rule == {"condition": expected}, f"{name} -> {dependency}"
        if expected == "service_healthy":
            assert "healthcheck" in services[dependency]


def test_who_waits_for_whom(services):
    def deps(name: str) -> set[str]:
        return set(services[name].get("depends_on", {}))

    assert deps("realtime") == {"mongo", "redis"}
    assert deps("airflow-init") == {"postgres"}
    for name in AIRFLOW - ONE_SHOT:
        assert {"postgres", "airflow-init"} <= deps(name)
    # LocalExecutor runs the tasks inside the scheduler: they read the event store and
    # the pool state (pool maintenance) and talk to the api-server's execution API.
    assert {"mongo", "redis", "airflow-apiserver"} <= deps("airflow-scheduler")


def test_realtime_serves_on_all_interfaces(services):
    command = services["realtime"]["command"]
    assert command[:4] == ["callpath", "serve", "--host", "0.0.0.0"]
    env = services["realtime"]["environment"]
    assert env["CALLPATH_EVENT_STORE_URL"] == "mongodb://mongo:27017"
    assert env["CALLPATH_POOL_STORE_URL"] == "redis://redis:6379/0"
    assert env["CALLPATH_WAREHOUSE"] == "postgres"
    assert env["CALLPATH_WAREHOUSE_POSTGRES_DSN"].endswith("@postgres:5432/callpath")


def test_airflow_runs_airflow3_components_from_the_app_image(services):
    commands = {name: services[name]["command"] for name in AIRFLOW}
    assert commands["airflow-apiserver"][:2] == ["airflow", "api-server"]
    assert "8080" in commands["airflow-apiserver"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-dag-processor"] == ["airflow", "dag-processor"]
    image = services["realtime"]["image"]
    for name in AIRFLOW:
        service = services[name]
        assert service["image"] == image
        env = service["environment"]
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")
        assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/app/dags"
        assert "./dags:/app/dags:ro" in service["volumes"]
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
            "http://airflow-apiserver:8080/"
        )
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"]


def test_postgres_holds_the_airflow_and_the_warehouse_databases(services):
    pg = services["postgres"]
    assert pg["environment"]["POSTGRES_DB"] == "airflow"
    script = " ".join(pg["entrypoint"])
    assert "CREATE DATABASE callpath;" in script
    assert "/docker-entrypoint-initdb.d/" in script
    assert "exec docker-entrypoint.sh postgres" in script


@pytest.mark.parametrize("name", ["realtime", "airflow-scheduler"])
def test_compose_environment_is_valid_callpath_settings(services, name, monkeypatch):
    env = services[name]["environment"]
    callpath_vars = {k for k in env if k.startswith("CALLPATH_")}
    assert callpath_vars <= SETTINGS_VARS, callpath_vars - SETTINGS_VARS
    for key in list(os.environ):
        if key.startswith("CALLPATH_"):
            monkeypatch.delenv(key)
    for key in callpath_vars:
        monkeypatch.setenv(key, str(env[key]))
    settings = Settings(_env_file=None)  # raises if a value does not parse
    assert settings.event_store_url == "mongodb://mongo:27017"


def _env_example_names() -> tuple[set[str], set[str]]:
    """(names set in .env.example, names only shown commented out)."""
    active, commented = set(), set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        if m := re.match(r"^(\w+)=", line):
            active.add(m.group(1))
        elif m := re.match(r"^#\s*(\w+)=", line):
            commented.add(m.group(1))
    return active, commented


def test_env_example_documents_every_variable_compose_reads():
    active, commented = _env_example_names()
    used = set(re.findall(r"(?<!\$)\$\{(\w+)", COMPOSE_FILE.read_text()))
    assert used - active - commented == set()
    assert active - used == set(), "variables in .env.example that compose never reads"


def test_env_example_names_only_real_callpath_settings():
    names = set(re.findall(r"\bCALLPATH_\w+", ENV_EXAMPLE.read_text()))
    assert names <= SETTINGS_VARS, names - SETTINGS_VARS


def test_env_example_does_not_break_callpath_on_the_host(tmp_path, monkeypatch):
    """`callpath` reads `.env`: a copied .env.example must still parse and keep the
    embedded (host) defaults, since the compose hostnames exist only in containers."""
    for key in list(os.environ):
        if key.startswith("CALLPATH_"):
            monkeypatch.delenv(key)
    env_file = tmp_path / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    settings = Settings(_env_file=env_file)
    assert settings.event_store_url == Settings(_env_file=None).event_store_url


def test_dockerfile_builds_from_the_lock_without_dev_dependencies():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    assert "uv sync --frozen --no-dev" in text
    assert "COPY pyproject.toml uv.lock" in text
    for package in ("realtime", "connectors", "pipelines", "dags", "dbt"):
        assert f"COPY {package} ./{package}" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored
    assert "var" in ignored


def _compose_command() -> list[str] | None:
    """A compose CLI able to run `config`: the v2 plugin, else the v1 docker-compose."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    return None


COMPOSE_CLI = _compose_command()
needs_compose = pytest.mark.skipif(
    COMPOSE_CLI is None and not os.environ.get("CALLPATH_REQUIRE_SYSTEM_TOOLS"),
    reason="no `docker compose` plugin or `docker-compose` on PATH "
    "(Debian: apt-get install docker-compose); the YAML checks above still ran",
)


@needs_compose
@pytest.mark.parametrize("env_file", [None, ".env.example"], ids=["defaults", "env-example"])
def test_compose_cli_accepts_the_file(env_file):
    args = [*COMPOSE_CLI, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    if env_file:
        args += ["--env-file", str(ROOT / env_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CALLPATH_", "COMPOSE_"))}
    result = subprocess.run(
        [*args, "config", "-q"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr


def test_healthchecks_have_timings_that_let_slow_starters_come_up(services):
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        for key in ("interval", "timeout", "retries"):
            assert check.get(key), f"{name}: healthcheck without {key}"
    # Airflow and the databases take tens of seconds on first start (migrations, initdb).
    for name in ("postgres", "mongo", "airflow-apiserver", "airflow-scheduler", "realtime"):
        assert services[name]["healthcheck"].get("start_period"), name


def test_the_dashboard_the_build_writes_outlives_the_containers(services, compose):
    """pipelines/dashboard.py writes reports/dashboard.html under the working dir /app."""
    for name in AIRFLOW:
        assert "callpath-reports:/app/reports" in services[name]["volumes"], name
    assert "callpath-reports" in compose["volumes"]
    text = DOCKERFILE.read_text()
    assert re.search(r"mkdir -p [^\n]*/app/reports", text)
    assert re.search(r"chown -R callpath:0 [^\n]*/app/reports", text)


def test_named_volumes_are_declared_and_used(services, compose):
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == set(compose["volumes"])
