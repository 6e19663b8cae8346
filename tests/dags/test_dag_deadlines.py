"""Every source DAG has its Deadline Alerts and alert callbacks, and the deadline survives serialisation."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.dags.test_dag_integrity import expected_source_dag_ids, make_dagbag


@pytest.fixture(scope="module")
def dagbag():
    return make_dagbag()


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_source_dag_has_deadline_and_callbacks(dagbag, dag_id: str) -> None:
    from airflow.sdk import SyncCallback

    from salestalk.alerting import callbacks

    dag = dagbag.dags[dag_id]
    (alert,) = dag.deadline
    assert alert.interval == dt.timedelta(minutes=15)
    assert type(alert.reference).__name__ == "DagRunQueuedAtDeadline"
    assert isinstance(alert.callback, SyncCallback)
    assert alert.callback.path == "salestalk.alerting.callbacks.deadline_missed"
    assert alert.callback.kwargs["source"] == dag_id.removeprefix("source_")
    for task in dag.tasks:
        assert callbacks.task_failed in task.on_failure_callback, task.task_id
        assert callbacks.task_retry in task.on_retry_callback, task.task_id


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_deadline_survives_serialisation(dagbag, dag_id: str) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    text = json.dumps(DagSerialization.to_dict(dagbag.dags[dag_id]))
    stored = json.loads(text)["dag"]["deadline"]
    (alert,) = stored
    assert alert["reference"] == {"reference_type": "DagRunQueuedAtDeadline"}
    assert alert["interval"]["__data__"] == 900.0
    callback = alert["callback"]
    assert callback["__classname__"] == "airflow.sdk.definitions.callback.SyncCallback"
    assert callback["__data__"]["path"] == "salestalk.alerting.callbacks.deadline_missed"
    assert callback["__data__"]["kwargs"]["minutes"] == 15.0

    restored = DagSerialization.from_dict(json.loads(text))
    assert restored.deadline == stored  # the scheduler's copy keeps it as stored
    assert restored.has_dagrun_deadline() if hasattr(restored, "has_dagrun_deadline") else True
    # and the import path resolves to the callback a scheduler, triggerer or worker will call
    from airflow.sdk._shared.module_loading import import_string

    from salestalk.alerting.callbacks import deadline_missed

    assert import_string(callback["__data__"]["path"]) is deadline_missed


def test_deadlines_suspended_only_for_dag_test(dagbag) -> None:
    from salestalk.alerting.deadlines import deadlines_suspended

    dag = dagbag.dags["source_deals"]
    before = dag.deadline
    with deadlines_suspended(dag):
        assert dag.deadline is None
    assert dag.deadline == before and len(dag.deadline) == 1


def test_deadlines_come_from_config() -> None:
    from salestalk.alerting.deadlines import deadline_alerts
    from salestalk.config.alerting import AlertingConfig
    from salestalk.config.loader import load_sources

    deals = load_sources(only="deals").configs["deals"]
    two = deals.model_copy(
        update={
            "alerting": AlertingConfig.model_validate(
                {
                    "deadlines": [
                        {"name": "landed", "minutes": 5},
                        {"name": "day_done", "reference": "logical_date", "minutes": 120},
                    ]
                }
            )
        }
    )
    alerts = deadline_alerts(two)
    assert [a.interval for a in alerts] == [dt.timedelta(minutes=5), dt.timedelta(hours=2)]
    assert [type(a.reference).__name__ for a in alerts] == [
        "DagRunQueuedAtDeadline",
        "DagRunLogicalDateDeadline",
    ]
    none = deals.model_copy(update={"alerting": AlertingConfig.model_validate({"deadlines": []})})
    assert deadline_alerts(none) == []


@pytest.mark.parametrize("dag_id", ["app_insight_summaries", "monitor_freshness"])
def test_app_dags_alert_on_failure(dagbag, dag_id: str) -> None:
    from salestalk.alerting import callbacks

    for task in dagbag.dags[dag_id].tasks:
        assert callbacks.task_failed in task.on_failure_callback, task.task_id
        assert callbacks.task_retry in task.on_retry_callback, task.task_id
