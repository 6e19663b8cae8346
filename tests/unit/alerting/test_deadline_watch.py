"""The run deadline watch: what counts as unfinished, when it is due, what the page claims, and that a
held-back publish is paged once, by the DQ alert, without claiming anything was published."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from salestalk.alerting import callbacks
from salestalk.alerting.deadline_watch import RunDeadlineTrigger, due_times, tenant_progress, unfinished_tasks
from salestalk.alerting.routes import read_alert_log
from salestalk.operators.source_step import STEPS

RUN_ID = "manual__2026-11-02T00:00:00+00:00"


@pytest.fixture
def source():
    from salestalk.config.loader import load_sources

    configs = load_sources().configs
    return configs[sorted(configs)[0]]


def test_unfinished_ignores_the_watch_itself_and_finished_states() -> None:
    states = {
        "deadline": "deferred",
        "tenants": "success",
        "tenant.extract_0": "failed",
        "tenant.load_to_staging_0": "upstream_failed",
        "tenant.extract_1": "up_for_retry",
        "tenant.validate_2": None,
        "report": "skipped",
    }
    assert unfinished_tasks(states) == ["tenant.extract_1", "tenant.validate_2"]
    assert unfinished_tasks({"deadline": "deferred", "report": "success"}) == []


def test_due_times_count_from_the_run_start_earliest_first() -> None:
    started = dt.datetime(2026, 11, 2, 6, 0, tzinfo=dt.UTC)
    due = due_times(started, [{"name": "late", "minutes": 60}, {"name": "soon", "minutes": 0.5}])
    assert [d["name"] for d in due] == ["soon", "late"]
    assert due[0]["due_at"] == "2026-11-02T06:00:30+00:00" and due[1]["due_at"] == "2026-11-02T07:00:00+00:00"


def test_tenant_progress_reads_each_tenants_mapped_tasks() -> None:
    states = {f"tenant.{step}_0": "success" for step in STEPS}
    states |= {"tenant.extract_1": "success", "tenant.load_to_staging_1": "running"}
    states |= {
        "tenant.extract_2": "success",
        "tenant.load_to_staging_2": "success",
        "tenant.validate_2": "failed",
    }
    states |= {f"tenant.{step}_2": "upstream_failed" for step in STEPS[3:]}
    progress = tenant_progress(states, [["acme"], ["globex"], ["initech"]], STEPS)
    assert progress["acme"]["status"] == "published"
    assert progress["globex"] == {"status": "running", "step": "load_to_staging", "state": "running"}
    assert progress["initech"] == {"status": "failed", "step": "validate", "state": "failed"}


def test_tenant_progress_in_a_shard_fails_only_the_tenants_its_task_names() -> None:
    states = {f"tenant.{step}_0": "success" for step in STEPS} | {"tenant.extract_0": "failed"}
    states |= {f"tenant.{step}_1": "running" if step == "extract" else None for step in STEPS}
    failed = {"tenant.extract_0": ["globex"]}
    progress = tenant_progress(states, [["acme", "globex", "hooli"], ["initech"]], STEPS, failed)
    assert (
        progress["acme"]
        == progress["hooli"]
        == {"status": "published", "step": "publish", "state": "success"}
    )
    assert progress["globex"] == {"status": "failed", "step": "extract", "state": "failed"}
    assert progress["initech"] == {"status": "running", "step": "extract", "state": "running"}


class _ScriptedTrigger(RunDeadlineTrigger):
    """The trigger with the API server behind the triggerer replaced by a script of task states."""

    def __init__(self, script: list, deadlines: list, tenants: list[list[str]]) -> None:
        super().__init__(
            dag_id="d",
            run_id=RUN_ID,
            source="s",
            deadlines=deadlines,
            started_at="2026-11-02T00:00:00+00:00",
            interval=("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            poll=0.01,
        )
        self.script, self.tenants, self.paged = script, tenants, []

    async def _states(self) -> dict:
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return step

    async def _shards(self) -> list[list[str]]:
        return self.tenants

    async def _page(self, deadline, states) -> None:
        self.paged.append((deadline["name"], tenant_progress(states, self.tenants, STEPS)))


def _events(trigger: RunDeadlineTrigger) -> list:
    async def collect():
        return [event async for event in trigger.run()]

    return asyncio.run(asyncio.wait_for(collect(), timeout=10))


def _at(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def test_the_watch_ends_with_the_run_and_pages_nothing_before_the_deadline() -> None:
    from airflow.triggers.base import TaskSuccessEvent

    running = {"deadline": "deferred", "tenant.extract_0": "running"}
    done = {"deadline": "deferred", "tenant.extract_0": "failed", "report": "success"}
    trigger = _ScriptedTrigger(
        [running, OSError("api restarting"), running, done],
        [{"name": "x", "minutes": 60, "due_at": _at(3600)}],
        ["a"],
    )
    (event,) = _events(trigger)
    assert isinstance(event, TaskSuccessEvent) and trigger.paged == []


def test_each_passed_deadline_pages_once_while_the_run_is_unfinished() -> None:
    from airflow.triggers.base import TaskSuccessEvent

    late = {"deadline": "deferred", "tenant.extract_0": "success", "tenant.load_to_staging_0": "running"}
    done = {"deadline": "deferred", "report": "success"}
    deadlines = [
        {"name": "second", "minutes": 2, "due_at": _at(-1)},
        {"name": "first", "minutes": 1, "due_at": _at(-2)},
    ]
    trigger = _ScriptedTrigger([late, late, late, done], deadlines, [["a"]])
    (event,) = _events(trigger)
    assert isinstance(event, TaskSuccessEvent)
    assert [name for name, _ in trigger.paged] == ["first", "second"]
    assert trigger.paged[0][1]["a"] == {"status": "running", "step": "load_to_staging", "state": "running"}


def test_trigger_serialises_to_an_importable_path() -> None:
    from airflow.sdk._shared.module_loading import import_string

    trigger = RunDeadlineTrigger(
        dag_id="d",
        run_id=RUN_ID,
        source="s",
        deadlines=[{"name": "x", "minutes": 1, "due_at": _at(60)}],
        started_at=_at(0),
        interval=("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
    )
    path, kwargs = trigger.serialize()
    assert import_string(path) is RunDeadlineTrigger and RunDeadlineTrigger(**kwargs).serialize() == (
        path,
        kwargs,
    )


def test_the_deadline_page_claims_only_what_the_task_states_show(source, alert_dir) -> None:
    tenants = list(source.tenants)
    progress = {tenants[0]: {"status": "published", "step": "publish", "state": "success"}}
    progress |= {t: {"status": "running", "step": "extract", "state": "up_for_retry"} for t in tenants[1:]}
    kwargs = {
        "source": source.name,
        "deadline": "freshness_target",
        "minutes": 15.0,
        "run_id": RUN_ID,
        "started_at": dt.datetime(2026, 11, 2, 0, 0, 5, tzinfo=dt.UTC),
        "due_at": "2026-11-02T00:15:05+00:00",
        "interval_start": dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        "interval_end": dt.datetime(2026, 11, 2, tzinfo=dt.UTC),
        "progress": progress,
    }
    assert callbacks.deadline_missed(**kwargs) == {"log": "sent"}
    assert callbacks.deadline_missed(**kwargs) == {"log": "duplicate"}
    (alert,) = read_alert_log()
    assert alert["alert_type"] == "deadline_missed" and alert["run_id"] == RUN_ID
    assert f"published 1 of {len(tenants)} tenant(s) ({tenants[0]})" in alert["what"]
    assert "not finished 15 min after it started" in alert["what"]
    if len(tenants) > 1:
        assert f"still running: {tenants[1]} at extract" in alert["what"]
    assert alert["counts"]["tenants_published"] == 1
    assert alert["details"]["tenants_not_published"] == sorted(tenants[1:])
    assert alert["links"]["runbook_path"] == "docs/runbooks/deadline-missed.md"
    assert alert["interval_start"] == "2026-11-01T00:00:00+00:00"


def test_a_broken_deadline_page_never_raises(alert_dir, caplog) -> None:
    assert (
        callbacks.deadline_missed(
            source="no_such_source",
            deadline="x",
            minutes=1,
            run_id=RUN_ID,
            started_at=None,
            due_at="-",
            interval_start=None,
            interval_end=None,
            progress={},
        )
        == {}
    )
    assert "deadline_missed alert failed" in caplog.text


def test_a_held_back_publish_is_paged_once_by_the_dq_alert(source, alert_dir) -> None:
    from salestalk.alerting.dq import quality_alerts

    held, clean = source.tenants[0], source.tenants[-1]
    results = {
        held: {
            "load_to_staging": {"landed": 100},
            "validate": {"rows": 100, "failing": 50, "error_rate": 0.5, "reasons": {"amount_positive": 50}},
            "publish": {"published": 0, "held_back": "error rate 50.00% is above the 5.00% limit"},
        }
    }
    (alert,) = quality_alerts(source, results, run_id=RUN_ID)
    assert alert.alert_type == "dq_error_rate" and alert.tenants == (held,)
    assert f"publish held back for {held}: nothing of this interval was published" in alert.what
    assert "passing rows were published" not in alert.what
    assert alert.counts["by_tenant"][held]["published"] == 0 and alert.counts["by_tenant"][held]["held_back"]
    if clean != held:
        results[clean] = {
            "load_to_staging": {"landed": 1000},
            "validate": {"rows": 1000, "failing": 5, "error_rate": 0.005, "duplicates_dropped": 0},
            "publish": {"published": 995, "stale_skipped": 0},
        }
        (both,) = quality_alerts(source, results, run_id=RUN_ID)
        assert f"passing rows were published for {clean}" in both.what and held in both.what

    # the publish task's own failure sends nothing: the DQ alert is the one page
    from types import SimpleNamespace

    error = RuntimeError(f"publish held back for {source.name}/{held}: error rate 50.00% is above the limit")
    context = {
        "ti": SimpleNamespace(
            dag_id=source.dag_id, task_id="tenant.publish", map_index=0, try_number=1, max_tries=0
        ),
        "task": SimpleNamespace(tenant=held, source_name=source.name),
        "run_id": RUN_ID,
        "exception": error,
    }
    assert callbacks.task_failed(context) == {}
    assert read_alert_log() == []


def test_the_held_back_message_is_the_one_the_pipeline_raises() -> None:
    import inspect

    from salestalk import pipeline

    assert f'f"{callbacks.HELD_BACK_MESSAGE} for {{batch.describe()}}' in inspect.getsource(pipeline.publish)
