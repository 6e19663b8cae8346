"""The compose services' own commands, run here as processes with exactly the environment compose gives them.

The container's project folder (/opt/airflow, or /opt/salestalk for astro's fake API) is mapped to this
checkout and the service host names to loopback; nothing else is added but PATH and HOME. A variable that a
command needs and its service lacks makes these fail.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from salestalk import REPO_ROOT
from tests.services.compose_model import (
    COMPOSE,
    COMPOSE_ENV,
    CONTAINER_ROOT,
    ENV_EXAMPLE,
    OVERRIDE,
    container_env,
    dotenv,
    generate_env,
    load,
)
from tests.support.moto import MotoServer


@pytest.fixture(scope="module")
def services() -> dict:
    return load(COMPOSE)["services"]


@pytest.fixture(scope="module")
def env_file(tmp_path_factory) -> dict[str, str]:
    return generate_env(tmp_path_factory.mktemp("compose-env") / ".env")


def as_here(value: str, hosts: dict[str, str], root: str = CONTAINER_ROOT) -> str:
    """A container value with its project folder mapped to this checkout and service hosts to loopback."""
    value = value.replace(root, str(REPO_ROOT))
    for host, here in hosts.items():
        value = re.sub(rf"//{host}:\d+", f"//{here}", value)
    return value


def process_env(env: dict[str, str], hosts: dict[str, str], root: str = CONTAINER_ROOT) -> dict[str, str]:
    base = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}
    return {**base, **{k: as_here(v, hosts, root) for k, v in env.items()}}


def command(service: dict, hosts: dict[str, str], root: str = CONTAINER_ROOT) -> list[str]:
    args = [as_here(str(part), hosts, root) for part in service["command"]]
    assert args[0] == "python"
    return [sys.executable, *args[1:]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_guard(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """airflow-init's first command (python /opt/airflow/docker/compose_env.py check), mapped here."""
    script = load(COMPOSE)["services"]["airflow-init"]["command"][1]
    line = next(line.strip() for line in script.splitlines() if "compose_env.py check" in line)
    args = line.split()
    assert args[0] == "python" and Path(as_here(args[1], {})) == COMPOSE_ENV
    return subprocess.run(
        [sys.executable, str(COMPOSE_ENV), *args[2:]],
        env=process_env(env, {}),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_init_guard_passes_a_generated_env(services, env_file) -> None:
    done = run_guard(container_env(services["airflow-init"], env_file))
    assert done.returncode == 0, done.stderr


def test_init_guard_refuses_a_copied_example_in_one_line(services) -> None:
    done = run_guard(container_env(services["airflow-init"], dotenv(ENV_EXAMPLE.read_text())))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("airflow-init: POSTGRES_PASSWORD is still a placeholder"), line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("AIRFLOW__CORE__FERNET_KEY", "change-me", id="fernet-placeholder"),
        pytest.param("AIRFLOW__CORE__FERNET_KEY", "x" * 44, id="fernet-invalid"),
        pytest.param("AIRFLOW__API_AUTH__JWT_SECRET", "change-me-to-64-random-bytes", id="jwt-placeholder"),
        pytest.param("POSTGRES_PASSWORD", "s3cret@db.example:5432/x#1", id="db-password-url-chars"),
    ],
)
def test_init_guard_names_the_variable(services, env_file, key, value) -> None:
    done = run_guard(container_env(services["airflow-init"], {**env_file, key: value}))
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"airflow-init: {key} "), line


def test_moto_bootstrap_service_seeds_moto_idempotently(services, env_file) -> None:
    """moto-bootstrap's command and environment, against a moto server: KMS alias, bucket, table, and one
    inbound file per tenant and demo day of every inbound source with demo data."""
    from tests.support.sources import demo_sources

    service = services["moto-bootstrap"]
    with MotoServer() as moto:
        hosts = {"moto": moto.endpoint_url.removeprefix("http://")}
        env = container_env(service, env_file)
        for _ in range(2):
            done = subprocess.run(
                command(service, hosts),
                env=process_env(env, hosts),
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
                cwd=REPO_ROOT,
            )
            assert done.returncode == 0, done.stderr[-3000:]
        cmd = service["command"]
        alias = cmd[cmd.index("--kms-alias") + 1]
        aliases = [a["AliasName"] for a in moto.client("kms").list_aliases()["Aliases"]]
        assert aliases.count(alias) == 1
        assert env["SALESTALK_DYNAMODB_TABLE"] in moto.client("dynamodb").list_tables()["TableNames"]
        listed = moto.client("s3").list_objects_v2(Bucket=env["SALESTALK_BUCKET"]).get("Contents", [])
        assert {o["Key"].split("/")[2] for o in listed} == {"inbound"}
        inbound = [s for s in demo_sources() if s.extract.kind in {"s3_files", "events"}]
        assert len(listed) == 2 * sum(len(s.tenants) for s in inbound)


def wait_healthy(url: str, process: subprocess.Popen, seconds: float = 30) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.mark.parametrize(
    ("path", "root", "isolated"),
    [
        pytest.param(COMPOSE, CONTAINER_ROOT, False, id="compose"),
        # astro's fakeapi runs on a plain python image: only the standard library (-S: no site-packages)
        pytest.param(OVERRIDE, "/opt/salestalk", True, id="astro"),
    ],
)
def test_fakeapi_service_answers_its_health_check_and_the_connection(env_file, path, root, isolated) -> None:
    config = load(path)
    service = config["services"]["fakeapi"]
    port = free_port()
    args = [str(part) for part in service["command"]]
    args[args.index("--port") + 1] = str(port)
    args[args.index("--host") + 1] = "127.0.0.1"
    cmd = command({**service, "command": args}, {}, root)
    if isolated:
        cmd.insert(1, "-S")
    env = process_env(container_env(service, env_file), {}, root)
    if isolated:
        mounts = [str(v).split(":") for v in service["volumes"]]
        assert [m[1] for m in mounts] == [f"{root}/dev"]
    process = subprocess.Popen(
        cmd, env=env, cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        health = " ".join(service["healthcheck"]["test"])
        url = re.search(r"http://[^'\" ]+", health).group(0)
        assert wait_healthy(re.sub(r"//[^/]+", f"//127.0.0.1:{port}", url), process) == 200
        connections = env_file if path == COMPOSE else config["services"]["scheduler"]["environment"]
        container_port = service["command"][service["command"].index("--port") + 1]
        target = json.loads(connections["AIRFLOW_CONN_SALESTALK_SOURCE_API"])["host"]
        assert target == f"http://fakeapi:{container_port}", target
    finally:
        process.terminate()
        process.wait(timeout=10)
