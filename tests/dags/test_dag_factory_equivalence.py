"""The factory builds its DAGs without two of Airflow's per-DAG costs (it hands each task its own copy of the
params instead of letting Airflow deep-copy the DAG's, and builds the mapped shard group without the task
decorators): each DAG must still be exactly what Airflow's plain API builds, compared by serialized form and
callbacks, for every shipped source and a registry source (no pinned tenants)."""

from __future__ import annotations

import datetime as dt

import pytest

from dev.dag_digest import described
from tests.support.sources import configs


def plain_dag(source):
    """The source's DAG as Airflow's documented API builds it: ``DAG(params=...)`` and ``@task_group``."""
    from airflow.sdk import DAG, CronDataIntervalTimetable, Param, TriggerRule, chain, task_group

    from salestalk.alerting import callbacks as alert_callbacks
    from salestalk.alerting.deadlines import watch_deadlines
    from salestalk.dagfactory import concurrency_kwargs, doc_md, publish_kwargs, runbook_url
    from salestalk.names import EXTRACT, SELECT_TASK_ID, SHARD_GROUP_ID, WATCH_TASK_ID
    from salestalk.operators.run_control import DeadlineWatchOperator, SelectTenantsOperator
    from salestalk.operators.source_step import STEPS, SourceReportOperator, SourceStepOperator
    from salestalk.run_params import param_specs

    default_args = {
        "owner": source.owner,
        "retries": source.retries,
        "retry_delay": dt.timedelta(seconds=source.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=source.max_retry_delay_seconds),
        "execution_timeout": dt.timedelta(minutes=source.execution_timeout_minutes),
        "on_failure_callback": alert_callbacks.task_failed,
        "on_retry_callback": alert_callbacks.task_retry,
    }
    with DAG(
        dag_id=source.dag_id,
        description=source.description,
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=dt.datetime.combine(source.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=source.catchup,
        max_active_runs=source.max_active_runs,
        max_active_tasks=source.concurrency.max_active_tasks,
        default_args=default_args,
        tags=source.all_tags,
        owner_links={source.owner: source.oncall.url, "runbook": runbook_url(source)},
        doc_md=doc_md(source),
        render_template_as_native_obj=False,
        params={name: Param(spec.pop("default"), **spec) for name, spec in param_specs(source).items()},
    ) as dag:
        select = SelectTenantsOperator(task_id=SELECT_TASK_ID, source_name=source.name)

        @task_group(group_id=SHARD_GROUP_ID)
        def per_shard(tenants: list[str]) -> None:
            chain(
                *(
                    SourceStepOperator(
                        task_id=step,
                        source_name=source.name,
                        step=step,
                        tenants=tenants,
                        map_index_template="{{ task.shard_label }}",
                        trigger_rule=TriggerRule.ALL_SUCCESS if step == EXTRACT else TriggerRule.ALL_DONE,
                        **publish_kwargs(source, step),
                        **concurrency_kwargs(source, step),
                    )
                    for step in STEPS
                )
            )

        report = SourceReportOperator(
            task_id="report", source_name=source.name, trigger_rule=TriggerRule.ALL_DONE
        )
        select >> per_shard.expand(tenants=select.output) >> report
        deadlines = watch_deadlines(source)
        if deadlines:
            DeadlineWatchOperator(task_id=WATCH_TASK_ID, source_name=source.name, deadlines=deadlines)
    return dag


def sources():
    found = configs()
    any_pinned = next(s for s in found.values() if s.tenants is not None)
    registry = any_pinned.model_copy(update={"tenants": None})
    return [pytest.param(s, id=s.name) for s in found.values()] + [pytest.param(registry, id="registry")]


@pytest.mark.parametrize("source", sources())
def test_the_factory_builds_what_the_plain_api_builds(source) -> None:
    from salestalk.dagfactory import build_dag

    assert described(build_dag(source, "x")) == described(plain_dag(source))
