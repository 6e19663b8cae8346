"""One real, distributed Airflow for the tests in this folder, started once per session.

Postgres (a fresh ``salestalk_ci_<random>`` metadata database), the CeleryExecutor with Redis as broker,
two Celery workers, the scheduler, dag-processor, triggerer and api-server, each a local process
(dev.airflow_stack); moto and the fake source API in this process (dev.embedded). Everything
started here is stopped at the end, and the database is dropped. Without Postgres or Redis the tests
skip, which under CI=true is a failure (tests/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from salestalk import REPO_ROOT
from tests.support.subprocesses import REPO_PYTHONPATH

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
ARTIFACTS = REPO_ROOT / "test-artifacts"
# The demo's intervals that the distributed test runs. One by default, to keep `make test` within budget;
# SALESTALK_DISTRIBUTED_DAYS=2 runs both, as `make demo` does.
DAYS = ("2026-11-01", "2026-11-02")[: int(os.environ.get("SALESTALK_DISTRIBUTED_DAYS", "1"))]


def postgres_connect(dbname: str = "postgres"):
    import psycopg2

    con = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=3)
    con.autocommit = True
    return con


def redis_ping() -> bool:
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=3) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")


def services_missing() -> str | None:
    try:
        postgres_connect().close()
    except Exception as error:
        return f"no PostgreSQL on {PG_HOST}:{PG_PORT} ({error.__class__.__name__}: {error})".strip()
    try:
        if not redis_ping():
            return f"no Redis answering PING on {REDIS_HOST}:{REDIS_PORT}"
    except OSError as error:
        return f"no Redis on {REDIS_HOST}:{REDIS_PORT} ({error})"
    return None


def redis_delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=5)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def fast_retry_sources(folder: Path) -> Path:
    """The repository's source configs with second-long retry delays, so a killed task is retried at once."""
    from salestalk.config.loader import SOURCES_DIR

    shutil.copytree(SOURCES_DIR, folder, dirs_exist_ok=True)
    defaults = folder / "_defaults.yaml"
    text = defaults.read_text().replace("retry_delay_seconds: 30", "retry_delay_seconds: 1")
    defaults.write_text(text.replace("max_retry_delay_seconds: 600", "max_retry_delay_seconds: 2"))
    return folder


@dataclass
class Distributed:
    stack: Any
    embedded: Any
    bucket: str
    table: str
    duckdb_path: Path
    workdir: Path
    reference_process: subprocess.Popen
    reference_file: Path
    facts: dict[str, Any] = field(default_factory=dict)

    def reference(self, timeout: float = 400) -> dict[str, Any]:
        """The ``make demo`` path's result (tests/services/demo_reference.py), run beside the stack's start."""
        import json

        if "reference" not in self.facts:
            code = self.reference_process.wait(timeout=timeout)
            log = (self.workdir / "reference.log").read_text(errors="replace")[-3000:]
            assert code == 0, f"the dag.test() reference run failed:\n{log}"
            self.facts["reference"] = json.loads(self.reference_file.read_text())
        return self.facts["reference"]

    def snapshot(self) -> dict[str, Any]:
        from tests.services.outputs import snapshot

        return snapshot(
            self.embedded.s3_client(),
            self.bucket,
            self.duckdb_path,
            self.embedded.dynamodb_client(),
            self.table,
        )


@pytest.fixture(scope="session")
def distributed(tmp_path_factory):
    missing = services_missing()
    if missing:
        pytest.skip(f"the distributed Airflow test needs PostgreSQL and Redis: {missing}")

    from dev.airflow_stack import AirflowStack, free_port, prepare_embedded, stack_env
    from dev.embedded import start_embedded

    workdir = tmp_path_factory.mktemp("distributed")
    tag = secrets.token_hex(4)
    reference_file = workdir / "reference.json"
    with open(workdir / "reference.log", "wb") as log:
        reference = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.services.demo_reference",
                str(reference_file),
                str(workdir / "ref"),
                *DAYS,
            ],
            cwd=str(REPO_ROOT),
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SALESTALK"))},
                "PYTHONPATH": REPO_PYTHONPATH,
                "GX_ANALYTICS_ENABLED": "false",
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    database = f"salestalk_ci_{tag}"
    admin = postgres_connect()
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    embedded = start_embedded()
    stack = None
    try:
        bucket, table = f"salestalk-ci-{tag}", f"salestalk-app-ci-{tag}"
        prepare_embedded(embedded, bucket=bucket, table=table, days=DAYS)
        settings = {
            **embedded.connection_env(),
            "SALESTALK_BUCKET": bucket,
            "SALESTALK_DYNAMODB_TABLE": table,
            "SALESTALK_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "SALESTALK_SOURCES_DIR": str(fast_retry_sources(workdir / "sources")),
            # A SIGKILLed worker's task stops heartbeating; fail it after 20 s instead of 5 min, then retry.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Only the runs the tests trigger: no scheduled run may move a source's cursor.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Two workers with one slot each: two tasks at a time on our 2-core machines.
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        }
        env = stack_env(
            workdir / "airflow",
            api_port=free_port(),
            db_url=f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
            executor="CeleryExecutor",
            broker_url=f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            queue=f"salestalk_ci_{tag}",
            extra=settings,
        )
        stack = AirflowStack(env, celery_workers=2, log_dir=ARTIFACTS / "distributed-logs")
        shutil.rmtree(stack.log_dir, ignore_errors=True)
        began = time.monotonic()
        stack.start()
        running = Distributed(
            stack=stack,
            embedded=embedded,
            bucket=bucket,
            table=table,
            duckdb_path=workdir / "warehouse.duckdb",
            workdir=workdir,
            reference_process=reference,
            reference_file=reference_file,
        )
        running.facts["start_seconds"] = round(time.monotonic() - began, 1)
        yield running
    finally:
        if stack is not None:
            stack.stop()
        embedded.stop()
        if reference.poll() is None:
            os.killpg(reference.pid, 9)
            reference.wait()
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database]
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{database}"')
        admin.close()
        redis_delete_prefix(f"salestalk_ci_{tag}")


def _source_dags() -> tuple[str, ...]:
    """The demo sources' DAGs: those whose config reads the fake API's demo data, whatever their names."""
    from tests.support.sources import demo_sources

    return tuple(sorted(c.dag_id for c in demo_sources()))


SOURCE_DAGS = _source_dags()
INSIGHTS_DAG_ID = "app_insight_summaries"
ALL_DAGS = (*SOURCE_DAGS, INSIGHTS_DAG_ID)
RUN_TIMEOUT = 900


def interval_end(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_together(distributed, dag_ids, day: str, tag: str) -> dict[str, str]:
    """Trigger ``dag_ids`` for the interval that starts on ``day`` at once; wait for all; return the states."""
    stack = distributed.stack
    end = interval_end(day)
    distributed.embedded.api_server.api.set_clock(end + dt.timedelta(minutes=5))  # as dev.demo
    runs = {d: stack.trigger(d, logical_date=iso(end), run_id=f"{tag}__{day}") for d in dag_ids}
    return {d: stack.wait_for_run(d, run_id, timeout=RUN_TIMEOUT) for d, run_id in runs.items()}


def save_figures(distributed) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    figures = {k: v for k, v in distributed.facts.items() if k != "reference"}
    (ARTIFACTS / "distributed-figures.json").write_text(json.dumps(figures, indent=1, sort_keys=True))


@pytest.fixture(scope="session")
def demo_runs(distributed):
    """Phase 1, shared with the browser test: every demo DAG for DAYS, on the distributed stack."""
    stack = distributed.stack
    stack.wait_for_dags(ALL_DAGS)
    assert stack.import_errors() == []
    for dag_id in ALL_DAGS:
        stack.unpause(dag_id)
    states, phases = {}, []
    first_trigger = time.monotonic()
    for day in DAYS:
        for group in (SOURCE_DAGS, (INSIGHTS_DAG_ID,)):
            began = time.monotonic()
            for dag_id, state in run_together(distributed, group, day, "ci").items():
                states[f"{dag_id}/{day}"] = state
            phases.append({"day": day, "dags": list(group), "seconds": round(time.monotonic() - began, 1)})
    last_success = round(time.monotonic() - first_trigger, 1)
    overlapped = distributed.reference_process.poll() is None
    reference = distributed.reference()  # the dag.test() reference ran meanwhile, from the stack's start on
    distributed.facts["demo"] = {
        "trigger_to_last_success_seconds": last_success,
        "reference_still_running_at_last_success": overlapped,
        "phases": phases,
        "states": states,
        "reference_dag_test_seconds": reference["seconds"],
    }
    save_figures(distributed)
    return {"states": states, "outputs": distributed.snapshot(), "reference": reference}
