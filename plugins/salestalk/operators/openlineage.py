"""The Airflow side of lineage: what the operators' OpenLineage hooks need from the task's environment.

The datasets and facets themselves are built by :mod:`salestalk.lineage` (no Airflow there). This module
reads, inside ``execute`` (the task process, where connections resolve), the few facts those pure
functions take: the batch, the bucket, the source API's base URL and the warehouse's namespace. The
provider calls the hooks after ``execute`` (in a bounded thread where our stacks configure it, else in a
forked child); they only read what ``execute`` remembered.

Lineage never fails a task: every function here logs and returns None on any error, and nothing runs
when the provider is disabled (no transport configured, ``[openlineage] disabled``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Context

    from salestalk.lineage import Places

log = logging.getLogger(__name__)


def lineage_enabled() -> bool:
    """Whether the OpenLineage provider will emit events from this process (a transport is configured)."""
    try:
        from airflow.providers.openlineage import conf
    except ImportError:  # pragma: no cover - the provider is in requirements.txt
        return False
    try:
        return not conf.is_disabled()
    except Exception:  # a malformed [openlineage] transport: the provider itself will warn
        return False


def warehouse_place(settings: Any) -> Any:
    """The configured warehouse as a :class:`salestalk.lineage.Warehouse` (namespace and database).

    Snowflake's account and database come from its Airflow connection, DuckDB's from its file path.
    """
    from pathlib import Path

    from salestalk.lineage import duckdb_warehouse, snowflake_warehouse
    from salestalk.warehouse import open_warehouse
    from salestalk.warehouse.dialect import SNOWFLAKE

    warehouse = open_warehouse(settings)
    if warehouse.dialect is SNOWFLAKE:
        params = warehouse.hook()._get_conn_params()
        return snowflake_warehouse(params.get("account") or "", params.get("database") or "")
    return duckdb_warehouse(Path(warehouse.location).resolve())


def source_places(source: Any) -> Places:
    from salestalk.config.models import RestApiExtract
    from salestalk.lineage import Places
    from salestalk.settings import get_settings
    from salestalk.tasks import api_base_url

    settings = get_settings()
    api = api_base_url(source.extract.connection) if isinstance(source.extract, RestApiExtract) else None
    return Places(bucket=settings.bucket, warehouse=warehouse_place(settings), api_base_url=api)


def no_lineage_yet() -> Any:
    """An empty ``OperatorLineage`` for the START event (None would make the provider warn)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage()


def remember_source_step(source_name: str, tenants: list[str], context: Context) -> dict[str, Any] | None:
    """The source config, batches and places of a step, for its lineage hooks; None when lineage is off."""
    if not lineage_enabled():
        return None
    try:
        from salestalk.config.loader import load_sources
        from salestalk.tasks import run_batch

        source = load_sources(only=source_name).configs[source_name]
        batches = [run_batch(source, tenant, context) for tenant in tenants]
        return {"source": source, "batches": batches, "places": source_places(source)}
    except Exception as exc:
        log.warning(
            "lineage: cannot describe %s for tenant(s) %s (%s); the step runs without it",
            source_name,
            ", ".join(tenants),
            exc,
        )
        return None


def source_step_lineage(step: str, remembered: dict[str, Any] | None, results: dict[str, Any] | None) -> Any:
    """The step's ``OperatorLineage``, or None (no lineage) when nothing was remembered or building fails.
    ``results`` is the step's ``{tenant: counts}`` (None when it failed)."""
    if not remembered:
        return None
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from salestalk import lineage

        inputs, outputs, facets = lineage.shard_step_lineage(
            step, remembered["source"], remembered["batches"], remembered["places"], results
        )
        return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)
    except Exception as exc:
        log.warning("lineage: no OpenLineage datasets for step %s (%s)", step, exc)
        return None


def remember_dynamodb_write(
    tenant: str, entity: str, table: str, region: str, context: Context
) -> dict | None:
    if not lineage_enabled():
        return None
    dag_run = context.get("dag_run")
    partition_key = getattr(dag_run, "partition_key", None) or None
    return {
        "tenant": tenant,
        "entity": entity,
        "table": table,
        "region": region,
        "interval": _write_interval(context),
        "run_id": context["run_id"],
        "partition_key": partition_key,
    }


def _write_interval(context: Context) -> tuple[Any, Any] | None:
    """What the written items describe: the run's data interval, else (a partitioned run, whose data
    interval is empty) the UTC day of its partition, its ``day`` param or its logical date."""
    import datetime as dt

    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is not None and end is not None and end > start:
        return start, end
    try:
        from salestalk.assets import run_summary_day

        day = run_summary_day(context)
    except Exception as exc:
        log.warning("lineage: the run has no data interval and no partition day (%s)", exc)
        return None
    first = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return first, first + dt.timedelta(days=1)


def dynamodb_write_lineage(remembered: dict[str, Any] | None, counts: dict[str, Any] | None) -> Any:
    if not remembered:
        return None
    try:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from salestalk import lineage

        inputs, outputs, facets = lineage.dynamodb_write_lineage(**remembered, counts=counts)
        return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=facets)
    except Exception as exc:
        log.warning("lineage: no OpenLineage datasets for the DynamoDB write (%s)", exc)
        return None
