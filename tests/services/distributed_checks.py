"""Every demo source on a distributed Airflow (CeleryExecutor, Redis, Postgres, two workers), through REST API v2.

1. Unpause and trigger every demo DAG for the demo's first day (both with SALESTALK_DISTRIBUTED_DAYS=2),
   as ``make demo`` runs them (sources, then the
   insight summaries, day by day, with the fake API's clock just after the interval closes); every run
   succeeds, and the S3 objects, warehouse rows and DynamoDB items equal those of the ``make demo`` path
   (``dag.test()``, run beside the stack by tests/services/demo_reference.py).
2. Wipe one source's outputs, rerun its intervals, and SIGKILL the Celery worker running one of its
   extract tasks mid-task: the run still succeeds (the task's heartbeat times out and its retry runs on
   the other worker) and no row is lost or duplicated: the outputs equal the reference again.
"""

from __future__ import annotations

import time

import pytest

from dev.demo import EXTRACTION_DELAY
from tests.services.conftest import DAYS, RUN_TIMEOUT, interval_end, save_figures
from tests.services.outputs import source_only
from tests.support.sources import all_tenants, demo_resource, demo_sources

pytestmark = pytest.mark.services


def failed_tasks(stack, dag_id: str, run_id: str) -> list[str]:
    return [
        f"{ti['task_id']}[{ti['map_index']}]={ti['state']}"
        for ti in stack.task_instances(dag_id, run_id)
        if ti["state"] != "success"
    ]


def test_every_demo_dag_succeeds_on_celery_and_outputs_equal_the_demo_path(distributed, demo_runs) -> None:
    stack = distributed.stack
    failures = {
        key: failed_tasks(stack, key.split("/")[0], f"ci__{key.split('/')[1]}")
        for key, state in demo_runs["states"].items()
        if state != "success"
    }
    assert failures == {}, f"runs failed: {failures}; logs in {stack.log_dir}"
    assert set(demo_runs["reference"]["states"].values()) == {"success"}
    assert demo_runs["states"].keys() == demo_runs["reference"]["states"].keys()

    got, want = demo_runs["outputs"], demo_runs["reference"]["outputs"]
    assert sorted(got["s3"]) == sorted(want["s3"]), "the same S3 objects"
    for key in want["s3"]:
        assert got["s3"][key] == want["s3"][key], f"S3 object {key} differs"
    assert {t: len(r) for t, r in got["warehouse"].items()} == {
        t: len(r) for t, r in want["warehouse"].items()
    }
    for table in want["warehouse"]:
        assert got["warehouse"][table] == want["warehouse"][table], f"warehouse table {table} differs"
    assert got["dynamodb"] == want["dynamodb"], "the same insight summaries in DynamoDB"
    assert len(got["dynamodb"]) == len(all_tenants()) * len(DAYS), "one insight summary per tenant and day"

    # The tasks really ran on both Celery workers.
    hosts = set()
    for log in stack.log_dir.glob("celery-worker-*.log"):
        if "Executing workload in Celery" in log.read_text(errors="replace"):
            hosts.add(log.name)
    assert hosts == {"celery-worker-1.log", "celery-worker-2.log"}, hosts


def wipe_source(distributed, source: str) -> None:
    """Delete everything one source's runs wrote: its S3 objects (raw, quarantine, cursor) and its rows."""
    import duckdb

    client = distributed.embedded.s3_client()
    keys = [
        item["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=distributed.bucket)
        for item in page.get("Contents", [])
        if item["Key"].split("/")[3] == source and item["Key"].split("/")[2] != "inbound"
    ]
    for key in keys:
        client.delete_object(Bucket=distributed.bucket, Key=key)
    con = duckdb.connect(str(distributed.duckdb_path))
    try:
        for table in (
            f"staging.{source}",
            f"quarantine.{source}",
            f"curated.{source}",
            f"audit.{source}_verdicts",
        ):
            con.execute(f"DELETE FROM {table}")
        # audit.step_runs too: clearing a run redoes only what it has not recorded as finished
        for table in ("audit.batch_results", "audit.staging_loads", "audit.step_runs"):
            con.execute(f"DELETE FROM {table} WHERE source = ?", [source])
    finally:
        con.close()


def worker_of(stack, pid: int | None) -> str | None:
    """The Celery worker whose process tree runs ``pid``."""
    name = stack.component_of(pid)
    return name if name and name.startswith("celery-worker-") else None


def test_sigkill_a_worker_mid_task_loses_and_duplicates_nothing(distributed, demo_runs) -> None:
    stack, api = distributed.stack, distributed.embedded.api_server.api
    # The demo REST source with the smallest pages: the most pages, so the longest extract to kill mid-task.
    config = min(demo_sources(kind="rest_api"), key=lambda c: (c.extract.pagination.page_size, c.name))
    source, dag_id = config.name, config.dag_id
    wipe_source(distributed, source)
    assert source_only(distributed.snapshot(), source)["warehouse"][f"curated.{source}"] == []

    day = DAYS[0]
    api.set_clock(interval_end(day) + EXTRACTION_DELAY)
    api.set_faults({"mode": "slow", "resource": demo_resource(config), "seconds": 1.0})  # a second a page
    run_id = f"ci__{day}"  # the demo run of that interval, cleared: it runs again, same interval
    assert stack.clear_run(dag_id, run_id) > 0
    began = time.monotonic()
    victim = killed_ti = None
    while victim is None and time.monotonic() - began < 120:
        for ti in stack.task_instances(dag_id, run_id):
            if ti["task_id"].endswith("extract") and ti["state"] == "running":
                victim = worker_of(stack, ti.get("pid"))
                if victim:
                    killed_ti = ti
                    break
        time.sleep(0.3)
    assert victim, "no extract task was seen running on a Celery worker"
    time.sleep(1.5)  # mid-task: some pages fetched, nothing landed yet
    stack.kill(victim)
    killed_at = time.monotonic()
    api.set_faults([])
    state = stack.wait_for_run(dag_id, run_id, timeout=RUN_TIMEOUT)
    assert state == "success", failed_tasks(stack, dag_id, run_id)
    recovered_seconds = round(time.monotonic() - killed_at, 1)
    after = {(ti["task_id"], ti["map_index"]): ti for ti in stack.task_instances(dag_id, run_id)}[
        (killed_ti["task_id"], killed_ti["map_index"])
    ]
    assert after["state"] == "success"
    assert after["try_number"] > killed_ti["try_number"], "the killed try was retried"
    assert worker_of(stack, after.get("pid")) != victim

    for later in DAYS[1:]:
        api.set_clock(interval_end(later) + EXTRACTION_DELAY)
        assert stack.clear_run(dag_id, f"ci__{later}") > 0
        assert stack.wait_for_run(dag_id, f"ci__{later}", timeout=RUN_TIMEOUT) == "success"
    got = source_only(distributed.snapshot(), source)
    want = source_only(demo_runs["reference"]["outputs"], source)
    counts = {table: len(rows) for table, rows in got["warehouse"].items()}
    distributed.facts["worker_kill"] = {
        "killed": victim,
        "task": f"{killed_ti['task_id']}[{killed_ti['map_index']}] try {killed_ti['try_number']}",
        "retried_as_try": after["try_number"],
        "kill_to_run_success_seconds": recovered_seconds,
        "counts_after_kill": counts,
        "reference_counts": {table: len(rows) for table, rows in want["warehouse"].items()},
        "s3_objects_after_kill": sum(len(v) for v in got["s3"].values()),
        "s3_objects_reference": sum(len(v) for v in want["s3"].values()),
    }
    save_figures(distributed)
    assert got["s3"] == want["s3"], "the same S3 objects for the source, nothing orphaned or missing"
    assert counts == distributed.facts["worker_kill"]["reference_counts"], "no row lost or duplicated"
    assert got["warehouse"] == want["warehouse"]
