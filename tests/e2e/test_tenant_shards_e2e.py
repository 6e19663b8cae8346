"""Shards of tenants through real Airflow (dag.test(), moto over HTTP, the fake API, DuckDB).

A copy of a demo REST source whose step tasks each take several tenants (``concurrency.tenants_per_task``).
Per tenant inside a shard: the accounting invariant holds, a rerun of the interval changes nothing, and a
tenant whose API fails is the only one that does not publish, named in its task's outcome.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.support.sources import add_source_copy, copy_sources, demo_sources
from tests.support.xcoms import xcom_values

pytestmark = pytest.mark.e2e

NAME = "sharded_e2e"
DAY = "2026-11-01"
COUNTS = ("extracted", "quarantined", "passed", "duplicates_dropped")


def run(dag, stack, day: str = DAY):
    """The run of ``day``'s interval (as dev.demo.run_source_day): its DagRun and task instances."""
    from dev.demo import EXTRACTION_DELAY

    end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    stack.api_server.api.set_clock(end + EXTRACTION_DELAY)
    dag_run = dag.test(logical_date=end)
    return dag_run, dag_run.get_task_instances()


def sharded(harness, tmp_path, monkeypatch, per_task: int | None):
    """(dag, tenants) of a copy of the first demo REST source with ``per_task`` tenants per step task
    (None: all of them in one shard)."""
    from salestalk.config.loader import SOURCES_DIR_ENV, load_sources
    from salestalk.dagfactory import build_dag

    folder = copy_sources(tmp_path / "sources", Path(os.environ[SOURCES_DIR_ENV]))
    template = demo_sources(kind="rest_api", folder=folder)[0]
    tenants = list(template.tenants)
    size = per_task or len(tenants)
    add_source_copy(
        folder,
        template,
        NAME,
        template_folder=folder,
        changes=lambda d: d.setdefault("concurrency", {}).update(tenants_per_task=size, tenant_threads=2),
    )
    monkeypatch.setenv(SOURCES_DIR_ENV, str(folder))
    config = load_sources(folder).configs[NAME]
    assert config.concurrency.tenants_per_task == size
    return build_dag(config, __file__), tenants


def test_per_tenant_accounting_and_rerun_inside_shards(harness, tmp_path, monkeypatch) -> None:
    from salestalk.shards import make_shards, shard_label

    dag, tenants = sharded(harness, tmp_path, monkeypatch, per_task=2)
    first, instances = run(dag, harness.stack)
    assert first.state == "success", [(ti.task_id, ti.map_index, ti.state) for ti in instances]
    shards = make_shards(tenants, 2)
    assert len(shards) < len(tenants), "the test needs a shard of several tenants"
    extract = sorted(
        (ti.map_index, ti.rendered_map_index) for ti in instances if ti.task_id == "tenant.extract"
    )
    assert extract == [(i, shard_label(s)) for i, s in enumerate(shards)]
    summaries = harness.summaries(NAME, DAY)
    curated = harness.curated(NAME)
    for tenant in tenants:
        s = summaries[tenant]
        assert "problem" not in s, s
        assert s["extracted"] > 0
        assert s["extracted"] == s["passed"] + s["quarantined"] + s["duplicates_dropped"], tenant
        assert harness.count(f"curated.{NAME}", tenant) == s["passed"]
        assert harness.count(f"quarantine.{NAME}", tenant) == s["quarantined"]

    second, _ = run(dag, harness.stack)
    assert second.state == "success" and second.run_id != first.run_id
    assert harness.curated(NAME) == curated, "a rerun of the interval must change no curated row"
    again = harness.summaries(NAME, DAY)
    for tenant in tenants:
        assert {k: again[tenant][k] for k in COUNTS} == {k: summaries[tenant][k] for k in COUNTS}, tenant
        assert harness.count(f"quarantine.{NAME}", tenant) == summaries[tenant]["quarantined"]


def test_one_tenants_failing_api_fails_only_that_tenant_of_the_shard(harness, tmp_path, monkeypatch) -> None:
    from salestalk.names import FAILED_TENANTS_KEY, STEPS

    dag, tenants = sharded(harness, tmp_path, monkeypatch, per_task=None)
    faulty, healthy = tenants[1], [t for t in tenants if t != tenants[1]]
    harness.api.set_faults({"mode": "server_error", "status": 500, "count": 1000, "tenant": faulty})
    dag_run, instances = run(dag, harness.stack)

    def step_done(tenant: str, run_id: str, step: str) -> bool:
        found = harness.sql(
            "SELECT count(*) FROM audit.step_runs WHERE source = ? AND tenant = ? AND run_id = ? AND step = ?",
            [NAME, tenant, run_id, step],
        )
        return found[0][0] == 1

    states = {ti.task_id: ti.state for ti in instances if ti.map_index == 0}
    assert dag_run.state == "failed"
    assert {states[f"tenant.{s}"] for s in STEPS} == {"failed"}, "each step names the faulty tenant"
    for step in STEPS:
        assert xcom_values(dag_run, f"tenant.{step}", FAILED_TENANTS_KEY, map_index=0) == [[faulty]], step
    assert {t: step_done(t, dag_run.run_id, "publish") for t in tenants} == {
        t: t in healthy for t in tenants
    }, "the shard's other tenants go on through publish"
    summaries = harness.summaries(NAME, DAY)
    for tenant in healthy:
        assert "problem" not in summaries[tenant], summaries[tenant]
        assert harness.count(f"curated.{NAME}", tenant) == summaries[tenant]["passed"] > 0
    assert harness.count(f"curated.{NAME}", faulty) == 0
    assert harness.objects(f"tenants/{faulty}/raw/") == {}
