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
    from salestalk.batch import Batch

    source = _source(source_name)
    batch = Batch(
        source=source.name,
        tenant=tenant,
        interval_start=context["data_interval_start"],
        interval_end=context["data_interval_end"],
        run_id=context["run_id"],
    )
    step_function = {
        "extract": pipeline.extract_and_land,
        "load_to_staging": pipeline.load_to_staging,
        "validate": pipeline.validate,
        "quarantine": pipeline.quarantine,
        "publish": pipeline.publish,
    }[step]
    try:
        services = make_services(source)
        counts = step_function(source, batch, services)
    except pipeline.PublishHeldBack as exc:
        raise AirflowFailException(str(exc)) from exc
    s3_writes = services.s3_write_counts()
    if set(s3_writes) - {tenant}:
        raise AirflowFailException(
            f"{step} for tenant {tenant} wrote under other tenants: {sorted(s3_writes)}"
        )
    counts = {**counts, "s3_writes": s3_writes.get(tenant, dict.fromkeys(WRITE_COUNT_FIELDS, 0))}
    log.info("%s %s counts: %s", step, batch.describe(), counts)
    return counts


def report(source_name: str, context: Any) -> dict[str, Any]:
    """Log the counts of every tenant's batch and fail unless every batch published and balanced."""
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk.accounting import batch_summaries, format_table
    from salestalk.alerting.dq import check_and_alert
    from salestalk.warehouse import open_warehouse

    source = _source(source_name)
    warehouse = open_warehouse()
    summaries = batch_summaries(warehouse, source, context["data_interval_start"])
    log.info("batch counts for %s\n%s", source.dag_id, format_table(summaries))
    check_and_alert(source, warehouse, context)
    problems = [s["problem"] for s in summaries if s.get("problem")]
    if problems:
        raise AirflowFailException(
            f"{len(problems)} tenant batch(es) did not publish cleanly: " + "; ".join(problems)
        )
    return {s["tenant"]: {k: v for k, v in s.items() if k != "tenant"} for s in summaries}
