"""The Airflow task callbacks, called as Airflow calls them: task failed, retry (deadline pages: test_deadline_watch)."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

import pytest

from salestalk.alerting import callbacks
from salestalk.alerting.routes import read_alert_log
from salestalk.config.loader import SOURCES_DIR_ENV
from tests.support.sources import a_source, add_source_copy, copy_sources

RUN_ID = "scheduled__2026-11-02T00:00:00+00:00"
# The callbacks look the source up by name: this test's own source, in its own config folder.
SOURCE = "alert_probe"
TENANTS = ["tenant-a", "tenant-b", "tenant-c"]
FAILED = TENANTS[1]  # the mapped task at index 1


@pytest.fixture(autouse=True)
def own_source(tmp_path, monkeypatch) -> None:
    """A copy of a source as ``alert_probe`` with three tenants and the default (log) alert route."""
    folder = copy_sources(tmp_path / "sources")

    def probe(data: dict) -> None:
        data.update(tenants=TENANTS)
        data.pop("alerting", None)

    add_source_copy(folder, a_source(folder=folder), SOURCE, changes=probe, template_folder=folder)
    monkeypatch.setenv(SOURCES_DIR_ENV, str(folder))


def task_context(task_id: str, error: Exception, tenant: str | None = FAILED, map_index: int = 1) -> dict:
    ti = SimpleNamespace(
        dag_id=f"source_{SOURCE}",
        task_id=task_id,
        map_index=map_index,
        try_number=3,
        max_tries=2,
        rendered_map_index=tenant,
    )
    task = SimpleNamespace(task_id=task_id, source_name=SOURCE, tenant=tenant)
    return {
        "ti": ti,
        "task": task,
        "run_id": RUN_ID,
        "exception": error,
        "data_interval_start": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        "data_interval_end": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
    }


def test_a_shards_failure_pages_once_for_its_failed_tenants_only(alert_dir, monkeypatch) -> None:
    from salestalk.pipeline import PublishHeldBack
    from salestalk.shards import ShardStepFailed

    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(alert_dir.parent / "empty.duckdb"))
    failed = {
        FAILED: RuntimeError("503 from the source API"),
        TENANTS[2]: PublishHeldBack("publish held back"),
    }
    error = ShardStepFailed("extract", failed, finished=1, alert=[FAILED])
    context = task_context("tenant.extract", error, map_index=0)
    context["task"].tenants = list(TENANTS)
    assert callbacks.task_failed(context) == {"log": "sent"}
    (alert,) = read_alert_log()
    assert alert["tenants"] == [FAILED], (
        "the held-back tenant pages through its DQ alert, the others finished"
    )
    assert FAILED in alert["what"] and "503" in alert["what"]

    from airflow.sdk.exceptions import AirflowFailException

    blocked = ShardStepFailed("load_to_staging", {TENANTS[0]: RuntimeError("wrote under other tenants")}, 2)
    final = AirflowFailException(str(blocked))  # how a failure no retry can help is raised
    final.__cause__ = blocked
    context = task_context("tenant.load_to_staging", final, map_index=0)
    context["task"].tenants = list(TENANTS)
    assert callbacks.task_failed(context) == {"log": "sent"}
    assert read_alert_log()[-1]["tenants"] == [TENANTS[0]], "only the failed tenant, not the whole shard"

    held_only = ShardStepFailed("publish", {TENANTS[2]: PublishHeldBack("publish held back")}, 2, alert=[])
    assert str(held_only).startswith(callbacks.HELD_BACK_MESSAGE)
    assert callbacks.task_failed(task_context("tenant.publish", held_only, map_index=0)) == {}
    assert len(read_alert_log()) == 2


def test_task_failure_sends_the_same_payload_format(alert_dir, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(alert_dir.parent / "empty.duckdb"))
    error = RuntimeError(f"checksum mismatch for tenants/{FAILED}/raw/{SOURCE}/part-0.parquet")
    assert callbacks.task_failed(task_context("tenant.load_to_staging", error)) == {"log": "sent"}
    assert callbacks.task_failed(task_context("tenant.load_to_staging", error)) == {"log": "duplicate"}
    (alert,) = read_alert_log()
    assert alert["alert_type"] == "task_failed" and alert["tenants"] == [FAILED]
    assert alert["what"].startswith(
        f"tenant.load_to_staging failed for tenant(s) {FAILED}: checksum mismatch"
    )
    assert alert["links"]["run"].endswith("/tasks/tenant.load_to_staging/mapped/1")
    assert alert["details"]["exception_type"] == "RuntimeError" and alert["counts"]["try_number"] == 3
    assert alert["interval_start"] == "2026-11-01T00:00:00+00:00"


def test_report_failure_caused_by_tenant_failures_is_not_alerted_again(alert_dir) -> None:
    error = RuntimeError(f"1 tenant batch(es) did not publish cleanly: {FAILED}: publish held back")
    assert callbacks.task_failed(task_context("report", error, tenant=None, map_index=-1)) == {}
    assert read_alert_log() == []


def test_report_failure_for_its_own_reason_is_alerted_for_every_tenant(alert_dir, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(alert_dir.parent / "empty.duckdb"))
    error = OSError("warehouse file is unreadable")
    assert callbacks.task_failed(task_context("report", error, tenant=None, map_index=-1)) == {"log": "sent"}
    (alert,) = read_alert_log()
    assert alert["tenants"] == TENANTS


def test_retries_only_log(alert_dir, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="salestalk.alerting.callbacks"):
        callbacks.task_retry(task_context("tenant.extract", TimeoutError("read timed out")))
    assert f"retrying source_{SOURCE}.tenant.extract tenant={FAILED}" in caplog.text
    assert read_alert_log() == []


def test_app_dag_failures_use_the_global_routes(alert_dir) -> None:
    ti = SimpleNamespace(
        dag_id="app_insight_summaries",
        task_id="tenant.write",
        map_index=1,
        try_number=1,
        max_tries=3,
        rendered_map_index="globex",
    )
    error = RuntimeError("tenant globex: 1 of 3 insight_summary items were not written; dead-lettered")
    context = {
        "ti": ti,
        "task": SimpleNamespace(task_id="tenant.write", tenant="globex"),
        "run_id": RUN_ID,
        "exception": error,
    }
    assert callbacks.task_failed(context) == {"log": "sent"}
    (alert,) = read_alert_log()
    assert alert["source"] == "app_insight_summaries" and alert["tenants"] == ["globex"]
    assert alert["links"]["run"].endswith(
        "/dags/app_insight_summaries/runs/scheduled__2026-11-02T00%3A00%3A00%2B00%3A00/tasks/tenant.write/mapped/1"
    )
    assert alert["links"]["source_runbook_path"] == "docs/runbooks/README.md"
