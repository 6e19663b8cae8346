"""Partitioned-asset scheduling of app_insight_summaries under a real scheduler (``make airflow``'s launcher).

One LiveStack for the module, with a config folder holding only the summary's input sources (copied from
the repository's, one tenant, no extraction overlap so a day's run publishes that day only). The tests run
in order on the same stack, each triggering source runs through the REST API and letting the scheduler
create the summary runs from the asset events. The scheduler's own run creation must be on for that
(``USE_JOB_SCHEDULE=True``: with False it creates no asset-triggered run either), so the sources start
today (unpausing them schedules nothing) and each run names the day it processes in ``interval_start``:

1. one input publishes a tenant's day: no summary run (and the freshness CLI says which source is missing);
2. the other input publishes it: exactly one summary run, for that partition, and its DynamoDB item;
3. a late record for that earlier day, after the next day was summarised too: exactly one more run, for the
   earlier day only; its item is recomputed and the later day's item is left exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time

import pytest
import yaml

from salestalk.insights import INPUT_SOURCES
from tests.support.live_stack import LiveStack

pytestmark = pytest.mark.e2e

SUMMARY_DAG = "app_insight_summaries"
DAY1, DAY2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
SETTLE_SECONDS = 6  # scheduler loops after a publish in which a wrong run would have been created


def input_configs() -> dict:
    from salestalk.config.loader import load_sources

    loaded = load_sources()
    return {name: (loaded.configs[name], loaded.files[name]) for name in INPUT_SOURCES}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from salestalk.config.loader import SOURCES_DIR

    configs = input_configs()
    tenant = next(iter(configs.values()))[0].tenants[0]
    today = dt.datetime.now(dt.UTC).date()
    folder = tmp_path_factory.mktemp("asset-sources")
    shutil.copy(SOURCES_DIR / "_defaults.yaml", folder / "_defaults.yaml")
    for name, (_, path) in configs.items():
        raw = yaml.safe_load(path.read_text())
        raw |= {
            "tenants": [tenant],
            "start_date": today.isoformat(),
            "retries": 2,
            "retry_delay_seconds": 1,
            "max_retry_delay_seconds": 2,
        }
        raw["extract"] = {**raw["extract"], "overlap_minutes": 0}
        raw["alerting"] = {"routes": [{"kind": "log"}], "deadlines": []}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    home = tmp_path_factory.mktemp("asset-stack")
    began = time.monotonic()
    scheduler_on = {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True"}
    with LiveStack(home, env={"SALESTALK_SOURCES_DIR": str(folder)}, airflow_env=scheduler_on) as live:
        dag_ids = [c.dag_id for c, _ in configs.values()]
        live.airflow.wait_for_dags([*dag_ids, SUMMARY_DAG], timeout=180)
        for dag_id in [*dag_ids, SUMMARY_DAG]:
            live.airflow.unpause(dag_id)
        print(f"\nstack ready after {time.monotonic() - began:.1f}s")
        yield {
            "live": live,
            "tenant": tenant,
            "dag_ids": dict(zip(configs, dag_ids, strict=True)),
            "today": today,
            "triggered": [0],
        }
    print(f"asset-scheduling module wall time {time.monotonic() - began:.1f}s")


def publish(world, sources: list[str], day: dt.date) -> None:
    """Run ``sources``' DAGs at once for ``day`` and the one tenant (trigger params; a fresh logical date
    each time), and wait for all of them."""
    airflow = world["live"].airflow
    conf = {"tenants": [world["tenant"]], "interval_start": f"{day.isoformat()}T00:00:00Z"}
    runs = {}
    for source in sources:
        world["triggered"][0] += 1
        logical = f"{world['today'].isoformat()}T00:{world['triggered'][0]:02d}:00Z"
        dag_id = world["dag_ids"][source]
        runs[dag_id] = airflow.trigger(dag_id, logical_date=logical, conf=conf)
    for dag_id, run_id in runs.items():
        state = airflow.wait_for_run(dag_id, run_id, timeout=300)
        assert state == "success", airflow.task_instances(dag_id, run_id)


def summary_runs(world) -> list[dict]:
    answer = world["live"].airflow.request("GET", f"/api/v2/dags/{SUMMARY_DAG}/dagRuns?limit=100")
    return sorted(answer["dag_runs"], key=lambda r: r["run_after"])


def wait_for_summary_runs(world, count: int, timeout: float = 240) -> list[dict]:
    """Wait until ``count`` summary runs exist and all are finished, then a few more scheduler loops."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = summary_runs(world)
        if len(runs) >= count and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(1)
    time.sleep(SETTLE_SECONDS)
    return summary_runs(world)


def items(world) -> dict[str, dict]:
    from salestalk.storage.tenant_dynamodb import partition_key

    live = world["live"]
    client = live.dynamodb_client()
    answer = client.query(
        TableName=live.client_env.get("SALESTALK_DYNAMODB_TABLE", "salestalk-app"),
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition_key(world["tenant"], "insight_summary")}},
        ConsistentRead=True,
    )
    return {item["sk"]["S"]: item for item in answer["Items"]}


def rows_on(world, source: str, day: dt.date) -> int:
    """The tenant's curated rows of ``source`` whose partition day is ``day`` (the stack is idle here)."""
    from pathlib import Path

    from salestalk.assets import days_with_rows
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    config = input_configs()[source][0]
    column = config.table_schema.partition_column
    warehouse = DuckDBWarehouse(Path(world["live"].env["SALESTALK_DUCKDB_PATH"]))  # the launcher's default
    with warehouse.connect(tag={"source": source, "step": "test"}) as s:
        assert day in days_with_rows(s, config, world["tenant"], [day])
        i = s.dialect.ident
        (count,) = s.fetchall(
            f"SELECT COUNT(*) FROM {s.dialect.table('curated', source)} "
            f"WHERE {i('_tenant_id')} = ? AND CAST({i(column)} AS DATE) = CAST(? AS DATE)",
            [world["tenant"], day.isoformat()],
        )[0]
    return int(count)


def freshness_partitions(world) -> dict[str, dict]:
    done = world["live"].run("PYTHONPATH=plugins .venv/bin/python -m salestalk freshness --partitions --json")
    assert done.returncode in (0, 1), done.stderr
    return {row["partition_key"]: row for row in json.loads(done.stdout)}


def test_a_summary_never_runs_before_every_input_has_published(world) -> None:
    first, *others = INPUT_SOURCES
    publish(world, [first], DAY1)
    time.sleep(SETTLE_SECONDS)
    assert summary_runs(world) == [], "a summary ran with only one input published"
    key = f"{world['tenant']}|{DAY1.isoformat()}"
    row = freshness_partitions(world)[key]
    assert row["state"] == "source_not_published"
    assert row["published"][first] is not None and all(row["published"][o] is None for o in others)
    assert all(o in row["reason"] for o in others)


def test_publishing_every_input_triggers_exactly_one_run_for_that_partition(world) -> None:
    publish(world, list(INPUT_SOURCES[1:]), DAY1)
    (run,) = wait_for_summary_runs(world, 1)
    key = f"{world['tenant']}|{DAY1.isoformat()}"
    assert (run["partition_key"], run["run_type"], run["state"]) == (key, "asset_triggered", "success")
    found = items(world)
    assert set(found) == {f"daily:{DAY1.isoformat()}"}
    assert freshness_partitions(world)[key]["state"] == "summarized"


def test_a_late_record_recomputes_that_day_only(world) -> None:
    from salestalk.storage.tenant_dynamodb import from_attribute_value

    live, tenant = world["live"], world["tenant"]
    publish(world, list(INPUT_SOURCES), DAY2)
    runs = wait_for_summary_runs(world, 2)
    assert [r["partition_key"] for r in runs] == [f"{tenant}|{DAY1}", f"{tenant}|{DAY2}"]
    before = items(world)
    assert set(before) == {f"daily:{DAY1}", f"daily:{DAY2}"}

    # One record of DAY1 arrives late; that source's DAG reruns DAY1.
    late_source = INPUT_SOURCES[0]
    resource = input_configs()[late_source][0].extract.path.rstrip("/").rsplit("/", 1)[-1]
    late_before = rows_on(world, late_source, DAY1)
    live.set_faults({"mode": "late_records", "count": 1, "resource": resource, "tenant": tenant})
    try:
        publish(world, [late_source], DAY1)
    finally:
        live.fake_api("DELETE", "/_admin/faults")
    runs = wait_for_summary_runs(world, 3)
    assert [r["partition_key"] for r in runs] == [f"{tenant}|{DAY1}", f"{tenant}|{DAY2}", f"{tenant}|{DAY1}"]
    assert runs[-1]["state"] == "success"

    after = items(world)
    assert after[f"daily:{DAY2}"] == before[f"daily:{DAY2}"], "the other day's item was touched"
    old, new = (from_attribute_value(x[f"daily:{DAY1}"]["data"]) for x in (before, after))
    assert new["computedAt"] > old["computedAt"]
    assert new["metrics"] != old["metrics"], "the late record changed nothing in the summary"
    assert rows_on(world, late_source, DAY1) == late_before + 1, "the late record is that day's one new row"
