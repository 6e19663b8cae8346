"""Every source DAG has its deadline watch, its trigger params and alert callbacks; none has an Airflow
DeadlineAlert (apache/airflow#70368 breaks clearing tasks of runs with queued-at deadlines)."""

from __future__ import annotations

import pytest

from tests.dags.test_dag_integrity import expected_source_dag_ids, make_dagbag


@pytest.fixture(scope="module")
def dagbag():
    return make_dagbag()


def _config(dag_id: str):
    from salestalk.config.loader import load_sources

    name = dag_id.removeprefix("source_")
    return load_sources(only=name).configs[name]


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_source_dag_has_deadline_watch_and_callbacks(dagbag, dag_id: str) -> None:
    from salestalk.alerting import callbacks
    from salestalk.alerting.deadlines import deadline_minutes
    from salestalk.operators.run_control import DeadlineWatchOperator

    dag, config = dagbag.dags[dag_id], _config(dag_id)
    assert not dag.deadline, "no Airflow DeadlineAlert: clearing a task would return HTTP 500 (#70368)"
    watch = dag.get_task("deadline")
    assert isinstance(watch, DeadlineWatchOperator)
    assert watch.deadlines == [
        {"name": d.name, "minutes": deadline_minutes(config, d.minutes)} for d in config.alerting.deadlines
    ]
    assert not watch.upstream_task_ids and not watch.downstream_task_ids
    for task in dag.tasks:
        assert callbacks.task_failed in task.on_failure_callback, task.task_id
        assert callbacks.task_retry in task.on_retry_callback, task.task_id


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_source_dag_takes_tenants_and_interval_params(dagbag, dag_id: str) -> None:
    dag, config = dagbag.dags[dag_id], _config(dag_id)
    params = dag.params
    assert params["tenants"] == list(config.tenants)
    assert params.get_param("tenants").schema["examples"] == list(config.tenants)  # the form's pick list
    assert "items" not in params.get_param("tenants").schema  # names are checked when the run starts
    assert params["interval_start"] is None
    assert params.get_param("interval_start").schema["format"] == "date-time"
    select = dag.get_task("tenants")
    assert "tenant.extract" in select.downstream_task_ids


def test_deadlines_come_from_config(tmp_path) -> None:
    import shutil

    import yaml

    from salestalk.config.loader import SOURCES_DIR, load_sources
    from salestalk.dagfactory import build_dag

    shutil.copy(SOURCES_DIR / "_defaults.yaml", tmp_path / "_defaults.yaml")
    shipped = load_sources()
    original = yaml.safe_load(shipped.files[sorted(shipped.configs)[0]].read_text())
    deadlines = [{"name": "landed", "minutes": 5}, {"name": "day_done", "minutes": 120}]
    two = {**original, "name": "two", "alerting": {"deadlines": deadlines}}
    none = {**original, "name": "none", "alerting": {"deadlines": []}}
    for config in (two, none):
        (tmp_path / f"{config['name']}.yaml").write_text(yaml.safe_dump(config))
    loaded = load_sources(tmp_path)
    assert not loaded.errors, loaded.errors
    watch = build_dag(loaded.configs["two"], "x").get_task("deadline")
    assert watch.deadlines == [{"name": "landed", "minutes": 5.0}, {"name": "day_done", "minutes": 120.0}]
    assert "deadline" not in build_dag(loaded.configs["none"], "x").task_dict


@pytest.mark.parametrize("reference", ["queued_at", "logical_date"])
def test_airflow_deadline_references_are_refused_with_the_reason(reference: str) -> None:
    from pydantic import ValidationError

    from salestalk.config.alerting import AlertingConfig

    with pytest.raises(ValidationError, match="run_started"):
        AlertingConfig.model_validate({"deadlines": [{"name": "x", "reference": reference}]})


@pytest.mark.parametrize("dag_id", ["app_insight_summaries", "cost_guardrails", "monitor_freshness"])
def test_app_dags_alert_on_failure(dagbag, dag_id: str) -> None:
    from salestalk.alerting import callbacks

    for task in dagbag.dags[dag_id].tasks:
        assert callbacks.task_failed in task.on_failure_callback, task.task_id
        assert callbacks.task_retry in task.on_retry_callback, task.task_id
