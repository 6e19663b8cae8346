"""docker-compose.yaml, the Dockerfile, .env.example and the astro files, checked without a Docker engine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml

from salestalk import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
PINNED_TAG = re.compile(r"^[\w./-]+:(?!latest$)[\w.-]*\d+\.\d+[\w.-]*$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in (REPO_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def used_connections() -> set[str]:
    """Every connection id the source configs and the settings refer to."""
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings

    loaded = load_sources()
    assert loaded.configs and not loaded.errors
    ids = {s.extract.connection for s in loaded.configs.values() if getattr(s.extract, "connection", None)}
    return ids | {get_settings().aws_conn_id}


def test_every_service_has_a_healthcheck_and_a_pinned_image(compose) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "moto", "moto-bootstrap", "fakeapi", *AIRFLOW_SERVICES} <= set(services)
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no healthcheck"
        assert PINNED_TAG.match(service["image"]), f"{name}: image {service['image']!r} is not pinned"
    assert services["postgres"]["image"].startswith("postgres:16.")
    assert services["redis"]["image"].startswith("redis:")
    assert services["moto"]["image"].startswith("motoserver/moto:")
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert bases and all(PINNED_TAG.match(b) for b in bases), bases
    assert bases[0].startswith("apache/airflow:3.3.2")
    assert "requirements.txt" in dockerfile


def test_celery_postgres_redis_and_start_up_gated_on_health(compose) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        assert "/opt/airflow/plugins" in env["PYTHONPATH"]
        depends = services[name]["depends_on"]
        for dependency in ("postgres", "redis", "fakeapi"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)
        assert depends["moto-bootstrap"]["condition"] == "service_completed_successfully"
        if name != "airflow-init":
            assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert services["moto-bootstrap"]["depends_on"]["moto"]["condition"] == "service_healthy"
    init = " ".join(services["airflow-init"]["command"])
    assert services["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert "passwords.json" in init, "the init service creates the admin user's password"
    assert "bootstrap" in services["moto-bootstrap"]["command"]


def test_no_pip_additional_requirements_anywhere() -> None:
    for path in (COMPOSE, REPO_ROOT / "Dockerfile", REPO_ROOT / ".env.example"):
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in path.read_text(), path


def test_ports_are_bound_to_loopback(compose) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_mounts_cover_dags_plugins_include_and_great_expectations(compose) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = {v.split(":")[0]: v.split(":")[1] for v in compose["services"][name]["volumes"]}
        for folder in ("dags", "plugins", "include", "great_expectations"):
            assert mounts.get(f"./{folder}") == f"/opt/airflow/{folder}", (name, folder)
            assert (REPO_ROOT / folder).is_dir()


def test_every_connection_the_configs_use_is_defined(env_example) -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for conn_id in sorted(used_connections()):
        key = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert key in env_example, f"{conn_id} is used but {key} is not in .env.example"
        conn = json.loads(env_example[key])
        assert conn["conn_type"]
        target = conn.get("extra", {}).get("endpoint_url") or conn.get("host", "")
        host = re.match(r"https?://([^:/]+)", target).group(1)
        assert host in services, f"{conn_id} points at {host!r}, which is not a compose service"
    assert "AIRFLOW__API_AUTH__JWT_SECRET" in env_example
    assert "POSTGRES_PASSWORD" in env_example
    assert all(v.startswith("change-me") for k, v in env_example.items() if "SECRET" in k or "PASSWORD" in k)
    settings = yaml.safe_load((REPO_ROOT / "airflow_settings.yaml").read_text())
    astro_ids = {c["conn_id"] for c in settings["airflow"]["connections"]}
    assert used_connections() <= astro_ids, "astro's airflow_settings.yaml defines every connection"


def test_env_file_and_local_state_stay_out_of_git() -> None:
    ignored = (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".local/" in ignored and "test-artifacts/" in ignored
    docker_ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ".env" in docker_ignored and ".venv" in docker_ignored


def test_docker_compose_config_when_the_cli_has_compose(tmp_path) -> None:
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the docker CLI here has no compose plugin; the YAML checks above stand in for it")
    env = tmp_path / ".env"
    env.write_text((REPO_ROOT / ".env.example").read_text())
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "--env-file", str(env), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_moto_bootstrap_creates_key_bucket_table_and_inbound_files_idempotently(monkeypatch) -> None:
    """What compose's moto-bootstrap service runs, against a moto server on loopback."""
    from moto.server import ThreadedMotoServer

    from dev.airflow_stack import bootstrap
    from dev.embedded import aws_client

    monkeypatch.setenv("SALESTALK_BUCKET", "compose-bootstrap")
    monkeypatch.setenv("SALESTALK_DYNAMODB_TABLE", "compose-app")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        bootstrap(url, "alias/salestalk-data")
        bootstrap(url, "alias/salestalk-data")
        aliases = [a["AliasName"] for a in aws_client("kms", url).list_aliases()["Aliases"]]
        assert aliases.count("alias/salestalk-data") == 1
        assert "compose-app" in aws_client("dynamodb", url).list_tables()["TableNames"]
        listed = aws_client("s3", url).list_objects_v2(Bucket="compose-bootstrap")["Contents"]
        assert {o["Key"].split("/")[2] for o in listed} == {"inbound"}
        from tests.support.sources import demo_sources

        inbound_sources = [s for s in demo_sources() if s.extract.kind in {"s3_files", "events"}]
        assert len(listed) == 2 * sum(len(s.tenants) for s in inbound_sources), (
            "one file per tenant and demo day for every inbound source with demo data"
        )
    finally:
        server.stop()
