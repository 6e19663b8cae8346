"""What the source operators do: turn the Airflow context into a Batch, open hooks, call one pipeline step."""

from __future__ import annotations

import logging
from typing import Any

WRITE_COUNT_FIELDS = ("attempted", "blocked", "written", "duplicate", "dead_lettered")

log = logging.getLogger(__name__)


def _source(source_name: str):
    from salestalk.config.loader import load_sources

    loaded = load_sources(only=source_name)
    if source_name not in loaded.configs:
        problems = "; ".join(str(e) for e in loaded.errors) or "no such source"
        raise RuntimeError(f"source config {source_name!r} cannot be loaded: {problems}")
    return loaded.configs[source_name]


def api_base_url(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    return f"{host}:{conn.port}" if conn.port else host


def make_services(source) -> Any:
    import requests
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from salestalk.config.models import RestApiExtract
    from salestalk.pipeline import Services
    from salestalk.settings import get_settings
    from salestalk.warehouse import open_warehouse

    settings = get_settings()
    services = Services(
        s3_client=S3Hook(aws_conn_id=settings.aws_conn_id).get_conn(),
        bucket=settings.bucket,
        warehouse=open_warehouse(settings),
    )
    if isinstance(source.extract, RestApiExtract):
        services.http_session = requests.Session()
        services.api_base_url = api_base_url(source.extract.connection)
    return services


def run_step(step: str, source_name: str, tenant: str, context: Any) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk import pipeline
    from salestalk.logs import quiet_third_party
    from salestalk.steplog import next_step, step_table

    quiet_third_party()
    source = _source(source_name)
    batch = run_batch(source, tenant, context)
    step_function = {
        "extract": pipeline.extract_and_land,
        "load_to_staging": pipeline.load_to_staging,
        "validate": pipeline.validate,
        "quarantine": pipeline.quarantine,
        "publish": pipeline.publish,
    }[step]
    services = None
    try:
        services = make_services(source)
        counts = step_function(source, batch, services)
        s3_writes = services.s3_write_counts()
        if set(s3_writes) - {tenant}:
            raise AirflowFailException(
                f"{step} for tenant {tenant} wrote under other tenants: {sorted(s3_writes)}"
            )
    except Exception as exc:
        advice = next_step(step, exc, batch)
        log.error("%s", step_table(step, batch, None, _written(services, tenant), error=exc, advice=advice))
        failure = AirflowFailException(str(exc)) if isinstance(exc, pipeline.PublishHeldBack) else exc
        for line in advice.lines():
            failure.add_note(line)
        if failure is exc:
            raise
        raise failure from exc
    counts = {**counts, "s3_writes": s3_writes.get(tenant, dict.fromkeys(WRITE_COUNT_FIELDS, 0))}
    log.info("%s", step_table(step, batch, counts, _written(services, tenant)))
    return counts


def run_batch(source, tenant: str, context: Any) -> Any:
    """``tenant``'s Batch in this run: the run's data interval, or the one its trigger params name."""
    from salestalk.batch import Batch

    interval_start, interval_end = _interval(source, context)
    return Batch(
        source=source.name,
        tenant=tenant,
        interval_start=interval_start,
        interval_end=interval_end,
        run_id=context["run_id"],
    )


def _interval(source, context: Any) -> tuple[Any, Any]:
    """The run's data interval, or the one its ``interval_start`` trigger param names."""
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk.run_params import RunParamsError, run_interval

    try:
        return run_interval(source, context)
    except RunParamsError as exc:
        raise AirflowFailException(str(exc)) from exc


def _run_tenants(source, context: Any) -> list[str]:
    """The tenants this run mapped over (its ``tenants`` task), else every tenant of the source."""
    from salestalk.names import SELECT_TASK_ID

    chosen = context["ti"].xcom_pull(task_ids=SELECT_TASK_ID) if "ti" in context else None
    if chosen:
        return list(chosen)
    from salestalk.tenant_registry import source_tenants

    return source_tenants(source)


def _written(services: Any, tenant: str) -> list[str]:
    """The S3 keys this step wrote for ``tenant`` (not those whose identical bytes were already there)."""
    guard = services.guards.get(tenant) if services is not None else None
    return list(guard.stats.keys) if guard is not None else []


def report(source_name: str, context: Any) -> dict[str, Any]:
    """Log the counts of every tenant's batch and fail unless every batch published and balanced."""
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk.accounting import batch_summaries, format_table
    from salestalk.alerting.dq import check_and_alert
    from salestalk.logs import quiet_third_party
    from salestalk.steplog import report_next_step
    from salestalk.warehouse import open_warehouse

    quiet_third_party()
    source = _source(source_name)
    warehouse = open_warehouse()
    interval_start, _ = _interval(source, context)
    tenants = _run_tenants(source, context)
    summaries = [s for s in batch_summaries(warehouse, source, interval_start) if s["tenant"] in tenants]
    log.info("batch counts for %s\n%s", source.dag_id, format_table(summaries))
    check_and_alert(source, warehouse, context, tenants)
    problems = [s["problem"] for s in summaries if s.get("problem")]
    if problems:
        advice = report_next_step(source.name, interval_start)
        log.error(
            "%d tenant batch(es) did not publish cleanly:\n%s",
            len(problems),
            "\n".join([*(f"  {p}" for p in problems), *(f"  {line}" for line in advice.lines())]),
        )
        failure = AirflowFailException(
            f"{len(problems)} tenant batch(es) did not publish cleanly: " + "; ".join(problems)
        )
        for line in advice.lines():
            failure.add_note(line)
        raise failure
    return {s["tenant"]: {k: v for k, v in s.items() if k != "tenant"} for s in summaries}
