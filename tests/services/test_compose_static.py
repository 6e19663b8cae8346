"""docker-compose.yaml, its image and .env, and the astro CLI's files, checked without a Docker engine."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from salestalk import REPO_ROOT
from tests.services.compose_model import (
    ASTRO_AIRFLOW_SERVICES,
    ASTRO_ROOT,
    ASTRO_SERVICES,
    ASTRO_TEMPLATE_ENV,
    COMPOSE,
    COMPOSE_DEFAULT_FILES,
    COMPOSE_ENV,
    COMPOSE_OVERRIDE_FILES,
    CONTAINER_ROOT,
    ENV_EXAMPLE,
    OVERRIDE,
    bind_mounts,
    command_text,
    compose_files_loaded,
    container_env,
    docker_module,
    dotenv,
    generate_env,
    interpolate,
    load,
    named_volumes,
    variables,
)

compose_env = docker_module("compose_env")  # the generator and airflow-init's guard
constraints_check = docker_module("constraints_check")

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
DEMO_SERVICES = ("moto-bootstrap", "fakeapi")
PINNED_TAG = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d+\.\d+[\w.-]*$")
# What every Airflow 3 component of a CeleryExecutor deployment reads (Airflow's configuration reference).
AIRFLOW_NEEDS = frozenset(
    {
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
        "PYTHONPATH",
    }
)
# Ports that are taken on a stock machine: macOS's AirPlay Receiver (5000, 7000); below 1024 needs root.
TAKEN_PORTS = {5000, 7000}
# The providers Astro Runtime 3.3 ships (Astronomer's provider reference, Runtime 3.3-x), and Airflow itself.
RUNTIME_SHIPS = {
    "apache-airflow",
    "apache-airflow-core",
    "apache-airflow-task-sdk",
    "apache-airflow-providers-celery",
    "apache-airflow-providers-common-compat",
    "apache-airflow-providers-common-io",
    "apache-airflow-providers-common-sql",
    "apache-airflow-providers-elasticsearch",
    "apache-airflow-providers-openlineage",
    "apache-airflow-providers-smtp",
    "apache-airflow-providers-standard",
    "astronomer-providers-logging",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE)


@pytest.fixture(scope="module")
def override() -> dict:
    return load(OVERRIDE)


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return dotenv(ENV_EXAMPLE.read_text())


@pytest.fixture(scope="module")
def generated_env(tmp_path_factory) -> dict[str, str]:
    return generate_env(tmp_path_factory.mktemp("compose-env") / ".env")


def used_connections() -> set[str]:
    """Every connection id the source configs and the settings refer to."""
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings

    loaded = load_sources()
    assert loaded.configs and not loaded.errors
    ids = {s.extract.connection for s in loaded.configs.values() if getattr(s.extract, "connection", None)}
    return ids | {get_settings().aws_conn_id}


def locked_versions() -> dict[str, str]:
    return constraints_check.pins((REPO_ROOT / "requirements.lock").read_text())


def requirement_names(path) -> dict[str, str]:
    """name -> pinned version ('' when unpinned) of a requirements file's own lines."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(==\s*(\S+))?", line)
            found[constraints_check.normalize(match.group(1))] = match.group(3) or ""
    return found


# ---- images ---------------------------------------------------------------------------------------------


def test_every_service_has_a_healthcheck_and_a_pinned_image(compose) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "moto", *DEMO_SERVICES, *AIRFLOW_SERVICES} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert PINNED_TAG.match(service["image"]), f"{name}: image {service['image']!r} is not pinned"
        if "build" in service:
            assert service["build"] == {"context": ".", "dockerfile": "docker/airflow.Dockerfile"}, name
    dockerfile = (REPO_ROOT / "docker" / "airflow.Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases == [f"apache/airflow:{locked_versions()['apache-airflow']}-python3.11"], bases
    assert "requirements-airflow.txt" in dockerfile and "-c /tmp/requirements.lock" in dockerfile


def test_astro_dockerfile_is_runtime_3_3_on_python_3_11() -> None:
    """astro-cli names Airflow 3 Runtime images astrocrpublic.azurecr.io/runtime:<X.Y>-<build>[-python-<P>]
    (upgradeDockerfile, FullRuntimeTagRe ^\\d+\\.\\d+-\\d+, RuntimePythonRe -python-(\\d+\\.\\d+)(-base)?$);
    without the suffix the Runtime's default Python (3.12) is used."""
    airflow = locked_versions()["apache-airflow"]
    minor = ".".join(airflow.split(".")[:2])
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = re.search(r">=\s*(\d+\.\d+)", requires).group(1)
    bases = re.findall(r"^FROM\s+(\S+)", (REPO_ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert len(bases) == 1, bases
    image, _, tag = bases[0].partition(":")
    assert image == "astrocrpublic.azurecr.io/runtime"
    match = re.fullmatch(r"(\d+\.\d+)-(\d+)-python-(\d+\.\d+)", tag)
    assert match, f"{tag!r} is not a pinned Runtime tag with a -python-X.Y suffix"
    assert (match.group(1), match.group(3)) == (minor, python), (tag, airflow, python)


def test_astro_requirements_reinstall_nothing_the_runtime_ships() -> None:
    astro = requirement_names(REPO_ROOT / "requirements.txt")
    assert astro, "requirements.txt lists what the pipelines need"
    assert not astro.keys() & RUNTIME_SHIPS, sorted(astro.keys() & RUNTIME_SHIPS)
    locked = locked_versions()
    for name, version in astro.items():
        assert name in locked, f"{name} is not in requirements.lock"
        assert not version or version == locked[name], (name, version, locked[name])
    compose_reqs = (REPO_ROOT / "docker" / "requirements-airflow.txt").read_text()
    assert "-r ../requirements.txt" in compose_reqs.splitlines()
    assert (
        requirement_names(REPO_ROOT / "docker" / "requirements-airflow.txt")["apache-airflow"]
        == locked["apache-airflow"]
    )
    dev = (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()
    assert "-r docker/requirements-airflow.txt" in dev, "the dev venv has what the compose image has"


def test_no_pip_additional_requirements_anywhere() -> None:
    for path in (
        COMPOSE,
        OVERRIDE,
        REPO_ROOT / "Dockerfile",
        REPO_ROOT / "docker" / "airflow.Dockerfile",
        ENV_EXAMPLE,
    ):
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in path.read_text(), path


# ---- compose: start-up, health, ports, mounts ------------------------------------------------------------


def test_celery_postgres_redis_and_start_up_gated_on_health(compose) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert "STANDALONE_DAG_PROCESSOR" not in json.dumps(env), f"{name}: a removed Airflow option"
        depends = services[name]["depends_on"]
        for dependency in ("postgres", "redis", "fakeapi"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)
        assert depends["moto-bootstrap"]["condition"] == "service_completed_successfully"
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["moto-bootstrap"]["depends_on"]["moto"]["condition"] == "service_healthy"
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert "passwords.json" in command_text(services["airflow-init"]), "init writes the admin's password"
    assert "bootstrap" in services["moto-bootstrap"]["command"]


def test_compose_and_both_images_use_the_launchers_aws_session_factory(compose) -> None:
    """The factory is named in five places; the compose services and both images must name the class the
    launcher and the tests use (a wrong name fails every AWS hook at import)."""
    from salestalk.names import AWS_SESSION_FACTORY

    for name in AIRFLOW_SERVICES:
        assert (
            compose["services"][name]["environment"]["AIRFLOW__AWS__SESSION_FACTORY"] == AWS_SESSION_FACTORY
        )
    for path in (REPO_ROOT / "Dockerfile", REPO_ROOT / "docker" / "airflow.Dockerfile"):
        assert f"AIRFLOW__AWS__SESSION_FACTORY={AWS_SESSION_FACTORY}" in path.read_text(), path


def test_health_checks_follow_the_official_airflow_3_file(compose) -> None:
    services = compose["services"]
    api = services["airflow-apiserver"]["healthcheck"]["test"]
    assert api == ["CMD", "curl", "--fail", "http://localhost:8080/api/v2/monitor/health"]
    assert services["airflow-scheduler"]["healthcheck"]["test"][-1] == "http://localhost:8974/health"
    assert services["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    for name, job in (("airflow-dag-processor", "DagProcessorJob"), ("airflow-triggerer", "TriggererJob")):
        assert f"airflow jobs check --job-type {job}" in services[name]["healthcheck"]["test"][1]
    assert "inspect ping" in services["airflow-worker"]["healthcheck"]["test"][1]
    assert "STANDALONE_DAG_PROCESSOR" not in COMPOSE.read_text()


@pytest.mark.parametrize("path", [COMPOSE, OVERRIDE], ids=["compose", "astro-override"])
def test_host_ports_are_loopback_configurable_and_free_by_default(path, env_example) -> None:
    published = []
    for name, service in load(path)["services"].items():
        for port in service.get("ports", []):
            match = re.fullmatch(r"127\.0\.0\.1:\$\{([A-Z_]+):-(\d+)\}:(\d+)", str(port))
            assert match, f"{name} publishes {port!r}: want 127.0.0.1:${{VAR:-default}}:<container port>"
            variable, default = match.group(1), int(match.group(2))
            assert default not in TAKEN_PORTS and default >= 1024, (
                f"{name}: host port {default} is often taken"
            )
            assert env_example.get(variable) == str(default), f"{variable} in .env.example != {default}"
            published.append(default)
    assert published and len(published) == len(set(published)), published


def test_repository_folders_are_mounted_read_only_and_writes_go_to_volumes(compose) -> None:
    """No bind mount needs the host's write permission: every path the code writes is a named volume,
    and airflow-init creates and chowns each one for AIRFLOW_UID."""
    from salestalk.settings import get_settings

    services = compose["services"]
    gx_written = (
        get_settings().data_docs_dir.relative_to(REPO_ROOT).parts[:2]
    )  # great_expectations/uncommitted
    init = command_text(services["airflow-init"])
    for name in (*AIRFLOW_SERVICES, *DEMO_SERVICES):
        for host, _target, options in bind_mounts(services[name]):
            assert "ro" in options.split(","), f"{name}: {host} is mounted writable"
            assert (REPO_ROOT / host).exists(), (name, host)
    volumes = named_volumes(services["airflow-scheduler"])
    env = services["airflow-scheduler"]["environment"]
    written = {
        f"{CONTAINER_ROOT}/{'/'.join(gx_written)}",
        env["SALESTALK_ALERT_DIR"],
        os.path.dirname(env["SALESTALK_DUCKDB_PATH"]),
        os.path.dirname(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]),
        f"{CONTAINER_ROOT}/logs",
        f"{CONTAINER_ROOT}/.local",  # LOCAL_DIR: the file tenant registry
    }
    for path in sorted(written):
        mount = next((t for t in volumes if path == t or path.startswith(t + "/")), None)
        assert mount, f"{path} is written but lies on no named volume"
        assert mount in init.split("chown", 1)[1], f"airflow-init does not chown {mount}"
    for name in AIRFLOW_SERVICES:
        assert named_volumes(services[name]) == volumes, f"{name} does not share the same volumes"
    assert set(volumes.values()) <= set(compose["volumes"])


def test_committed_gx_files_are_mounted_and_uncommitted_is_a_volume(compose) -> None:
    mounts = {target: host for host, target, _ in bind_mounts(compose["services"]["airflow-worker"])}
    for folder in ("dags", "plugins", "include"):
        assert mounts.get(f"{CONTAINER_ROOT}/{folder}") == f"./{folder}", folder
    gx = f"{CONTAINER_ROOT}/great_expectations"
    committed = {t for t in mounts if t.startswith(gx)}
    assert committed, "the suites and great_expectations.yml are mounted"
    for target in committed:
        assert (REPO_ROOT / mounts[target]).exists()
        assert "uncommitted" not in target
    assert named_volumes(compose["services"]["airflow-worker"]).get(f"{gx}/uncommitted")


# ---- compose: environments ------------------------------------------------------------------------------


def test_every_variable_compose_reads_is_in_env_example(compose, env_example) -> None:
    text = COMPOSE.read_text()
    used = variables(text)
    assert used, "compose interpolates the secrets and ports from .env"
    assert used <= env_example.keys(), sorted(used - env_example.keys())
    in_env_file = any(s.get("env_file") == [".env"] for s in compose["services"].values())
    for key in env_example:
        assert key in used or key == "COMPOSE_FILE" or in_env_file, (
            f"{key} in .env.example is read by nothing"
        )
        for name, service in compose["services"].items():
            # `environment` beats env_file: a .env line for a variable set there would be silently ignored
            value = (service.get("environment") or {}).get(key)
            assert value in (None, f"${{{key}}}"), f"{name} hard-codes {key}, which .env.example sets"


def test_every_airflow_service_has_what_its_command_needs(compose, generated_env) -> None:
    services = compose["services"]
    api_servers = [n for n in AIRFLOW_SERVICES if command_text(services[n]) == "api-server"]
    assert api_servers == ["airflow-apiserver"]
    needs = AIRFLOW_NEEDS | {f"AIRFLOW_CONN_{c.upper()}" for c in used_connections()} | {compose_env.PII_KEY}
    for name in AIRFLOW_SERVICES:
        env = container_env(services[name], generated_env)
        missing = {k for k in needs if not env.get(k)}
        assert not missing, f"{name} lacks {sorted(missing)}"
        assert "/opt/airflow/plugins" in env["PYTHONPATH"].split(":")
        execution = re.match(
            r"http://([^:/]+):(\d+)/execution/$", env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        )
        assert execution and execution.group(1) in api_servers, env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
            host = re.search(r"@([^/:]+)", env[key]).group(1)
            assert host == "postgres" and generated_env["POSTGRES_PASSWORD"] in env[key], (name, key)
        assert re.match(r"redis://[^@]*@([^:/]+)", env["AIRFLOW__CELERY__BROKER_URL"]).group(1) == "redis"
    init = container_env(services["airflow-init"], generated_env)
    script = command_text(services["airflow-init"])
    assert not {k for k in compose_env.SECRETS if not init.get(k)}, "the guard reads every secret"
    read = set(re.findall(r'os\.environ\["([A-Z_]+)"\]', script)) | variables(script.replace("$${", "${"))
    assert read - {"AIRFLOW_UID"} <= init.keys(), sorted(read - init.keys())


def test_demo_services_get_only_the_variables_they_need(compose, generated_env) -> None:
    """No env_file and no secret: moto-bootstrap gets its bucket and table (the same the pipelines use),
    fakeapi only PYTHONPATH. The process tests run both with exactly these variables."""
    services = compose["services"]
    airflow = services["airflow-worker"]["environment"]
    for name in DEMO_SERVICES:
        service = services[name]
        assert "env_file" not in service, f"{name} receives every secret in .env"
        env = container_env(service, generated_env)
        assert not env.keys() & set(compose_env.SECRETS), name
        assert not any(k.startswith(("AIRFLOW_CONN_", "AIRFLOW__")) for k in env), name
        assert CONTAINER_ROOT in env["PYTHONPATH"].split(":"), f"{name} cannot import dev"
        mounts = {target: host for host, target, _ in bind_mounts(service)}
        assert mounts.get(f"{CONTAINER_ROOT}/dev") == "./dev", name
    bootstrap = container_env(services["moto-bootstrap"], generated_env)
    assert set(bootstrap) == {
        "PYTHONPATH",
        "SALESTALK_BUCKET",
        "SALESTALK_DYNAMODB_TABLE",
        "SALESTALK_CONFIG_CACHE",
    }
    for key in ("SALESTALK_BUCKET", "SALESTALK_DYNAMODB_TABLE"):
        assert bootstrap[key] == airflow[key], f"moto-bootstrap seeds another {key} than the pipelines read"
    assert f"{CONTAINER_ROOT}/plugins" in bootstrap["PYTHONPATH"].split(":")
    command = services["moto-bootstrap"]["command"]
    assert command[command.index("--kms-alias") + 1] == airflow["SALESTALK_KMS_KEY_ID"]
    assert set(container_env(services["fakeapi"], generated_env)) == {"PYTHONPATH"}


def test_every_connection_the_configs_use_points_at_a_service(env_example, compose, override) -> None:
    astro_env = override["services"]["scheduler"]["environment"]
    for conn_id in sorted(used_connections()):
        key = f"AIRFLOW_CONN_{conn_id.upper()}"
        for where, env, services in (("compose", env_example, compose), ("astro", astro_env, override)):
            assert key in env, f"{conn_id} is used but {key} is not set for {where}"
            conn = json.loads(env[key])
            assert conn["conn_type"]
            target = conn.get("extra", {}).get("endpoint_url") or conn.get("host", "")
            host, port = re.match(r"https?://([^:/]+):(\d+)", target).groups()
            assert host in services["services"], f"{where}: {conn_id} points at {host!r}, not a service"
            exposed = [p for p in services["services"][host].get("ports", [])] + [
                str(x) for x in services["services"][host].get("command", []) if str(x).isdigit()
            ]
            assert any(str(p).endswith(f":{port}") or str(p) == port for p in exposed), (where, conn_id, port)


# ---- .env: generated, guarded ---------------------------------------------------------------------------


def test_env_example_secrets_are_placeholders_the_guard_refuses(env_example) -> None:
    assert set(compose_env.SECRETS) <= env_example.keys()
    for key in compose_env.SECRETS:
        assert compose_env.problem(key, env_example[key]), f".env.example's {key} would pass the guard"


def test_generated_env_has_real_secrets_and_keeps_everything_else(
    tmp_path, env_example, generated_env
) -> None:
    from cryptography.fernet import Fernet

    assert generated_env.keys() == env_example.keys()
    for key, value in generated_env.items():
        if key in compose_env.SECRETS:
            assert value != env_example[key] and not compose_env.problem(key, value), key
        elif key != "AIRFLOW_UID":
            assert value == env_example[key], key
    assert compose_env.check(generated_env) is None
    Fernet(generated_env[compose_env.FERNET].encode())  # raises on an invalid key
    assert len(base64.urlsafe_b64decode(generated_env[compose_env.JWT] + "==")) >= 64
    assert generated_env["AIRFLOW_UID"] == str(os.getuid() or 50000)
    again = generate_env(tmp_path / "second.env")
    assert all(again[k] != generated_env[k] for k in compose_env.SECRETS), "secrets are random per file"
    assert oct((tmp_path / "second.env").stat().st_mode & 0o777) == "0o600"
    refused = subprocess.run(
        [sys.executable, str(COMPOSE_ENV), "generate", "--output", str(tmp_path / "second.env")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 1 and dotenv((tmp_path / "second.env").read_text()) == again


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param(compose_env.FERNET, "change-me", id="fernet-placeholder"),
        pytest.param(compose_env.FERNET, "bm90LWEta2V5", id="fernet-not-32-bytes"),
        pytest.param(compose_env.FERNET, "", id="fernet-empty"),
        pytest.param(compose_env.JWT, "change-me-to-64-random-bytes", id="jwt-placeholder"),
        pytest.param(compose_env.JWT, "short", id="jwt-short"),
        pytest.param(compose_env.DB_PASSWORD, "p@ssw0rd-long-enough-1", id="db-at"),
        pytest.param(compose_env.DB_PASSWORD, "pass/word:long#enough", id="db-slash-colon-hash"),
        pytest.param(compose_env.PII_KEY, "change-me-to-a-long-random-secret", id="pii-placeholder"),
        pytest.param(compose_env.UI_PASSWORD, "changeme", id="ui-placeholder"),
    ],
)
def test_the_guard_names_the_one_bad_variable(generated_env, key, value) -> None:
    reason = compose_env.check({**generated_env, key: value})
    assert reason and reason.startswith(key) and "\n" not in reason, reason


def test_init_runs_the_guard_before_anything_else(compose) -> None:
    init = compose["services"]["airflow-init"]
    assert init["entrypoint"] == "/bin/bash" and init["command"][0] == "-c"
    lines = [line.strip() for line in init["command"][1].splitlines() if line.strip()]
    assert lines[0] == "set -euo pipefail"
    guard = next(i for i, line in enumerate(lines) if "compose_env.py check" in line)
    assert guard == 1, lines
    path = lines[guard].split()[1]
    dockerfile = (REPO_ROOT / "docker" / "airflow.Dockerfile").read_text()
    assert f"docker/compose_env.py {path}" in dockerfile, "the image carries the guard where init calls it"
    assert lines[-1].startswith("exec /entrypoint")


# ---- neither tool merges the other's files ----------------------------------------------------------------


def test_compose_does_not_merge_the_astro_override(env_example, generated_env) -> None:
    root_files = {p.name for p in REPO_ROOT.iterdir()}
    assert root_files & set(COMPOSE_OVERRIDE_FILES) == {OVERRIDE.name}, "astro reads only this name"
    assert compose_files_loaded(REPO_ROOT, {}) == [COMPOSE.name, OVERRIDE.name], "without COMPOSE_FILE"
    for env in (env_example, generated_env):
        assert compose_files_loaded(REPO_ROOT, env) == [COMPOSE.name]
    assert sorted(root_files & set(COMPOSE_DEFAULT_FILES)) == [COMPOSE.name]


def test_astro_ignores_what_a_compose_env_would_change(override, generated_env) -> None:
    """astro passes .env as env_file to its Airflow containers; everything in a compose .env that Airflow or
    the pipelines read is set under `environment` (by astro's template or our override), which wins."""
    readers = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "SALESTALK_")
    relevant = {k for k in generated_env if k.startswith(readers)}
    assert relevant, "the compose .env has Airflow settings"
    for name in ASTRO_AIRFLOW_SERVICES:
        env = override["services"][name]["environment"]
        uncovered = relevant - ASTRO_TEMPLATE_ENV - env.keys()
        assert not uncovered, f"astro's {name} would take {sorted(uncovered)} from a compose .env"
        assert not any(
            str(v).startswith(CONTAINER_ROOT) or CONTAINER_ROOT + "/" in str(v) for v in env.values()
        )
        assert f"{ASTRO_ROOT}/plugins" in env["PYTHONPATH"].split(":")
    assert not variables(OVERRIDE.read_text()) & set(generated_env) - {"MOTO_HOST_PORT", "FAKEAPI_HOST_PORT"}


def test_astro_override_adds_moto_and_the_fake_api_and_seeds_moto(override, compose) -> None:
    services = override["services"]
    assert set(services) - set(ASTRO_SERVICES) == {"moto", "fakeapi"}
    for name in ("moto", "fakeapi"):
        assert services[name]["networks"] == ["airflow"], "astro's network"
        assert PINNED_TAG.match(services[name]["image"]) and "healthcheck" in services[name]
    assert services["moto"]["image"] == compose["services"]["moto"]["image"]
    for name in ASTRO_AIRFLOW_SERVICES:
        assert set(services[name]) == ({"environment", "command"} if name == "scheduler" else {"environment"})
    script = command_text(services["scheduler"])
    seed = script.index("python -m dev.airflow_stack bootstrap --endpoint-url http://moto:5000")
    assert "set -euo pipefail" in script and seed < script.index("exec airflow scheduler")
    astro, ours = services["scheduler"]["environment"], compose["services"]["airflow-worker"]["environment"]
    for key in ("SALESTALK_BUCKET", "SALESTALK_DYNAMODB_TABLE", "SALESTALK_KMS_KEY_ID"):
        assert astro[key] == ours[key], key
    assert re.search(r"--kms-alias (\S+)", script).group(1) == astro["SALESTALK_KMS_KEY_ID"]
    assert (REPO_ROOT / ".dockerignore").read_text().splitlines().count("airflow_settings.yaml") == 1


def test_env_file_and_local_state_stay_out_of_git_and_images() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".local/" in ignored and "test-artifacts/" in ignored
    docker_ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".venv", ".local", "great_expectations/uncommitted"} <= set(docker_ignored)


def test_docker_compose_config_when_the_cli_has_compose(tmp_path) -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker CLI here has no compose plugin; the YAML checks above stand in for it")
    env = tmp_path / ".env"
    generate_env(env)
    done = subprocess.run(
        [docker, "compose", "--env-file", str(env), "config", "--services"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "COMPOSE_FILE": COMPOSE.name},
    )
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.split()) == set(load(COMPOSE)["services"])


def test_interpolation_helper_matches_compose_rules() -> None:
    """The helper the tests above rely on: defaults, plain variables and $$."""
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("${A}-${B:-2}-${EMPTY:-3}-$$HOST-$A", env) == "1-2-3-$HOST-1"
    assert variables("${A} $${B} ${C:-x} $D") == {"A", "C", "D"}
