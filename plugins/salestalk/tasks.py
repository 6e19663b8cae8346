"""What the source operators do: turn the Airflow context into a Batch, open hooks, call one pipeline step."""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Generator

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
    """The S3 client, bucket, warehouse and (for a REST source) API session of one task."""
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


def tenant_services(shared: Any, upstream: dict[str, Any] | None = None) -> Any:
    """A tenant's own Services in a shard: the shared clients, its own S3 guard and API session, and the
    counts of its previous step in this run."""
    import dataclasses

    import requests

    session = requests.Session() if shared.http_session is not None else None
    return dataclasses.replace(shared, http_session=session, guards={}, upstream=upstream)


STEP_FUNCTIONS = {
    "extract": "extract_and_land",
    "load_to_staging": "load_to_staging",
    "validate": "validate",
    "quarantine": "quarantine",
    "publish": "publish",
}


def run_tenant_step(step: str, source: Any, batch: Any, services: Any) -> dict[str, Any]:
    """One tenant's ``step``, its S3 writes checked and logged as a table; on failure the error carries the
    next step as notes."""
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk import pipeline
    from salestalk.steplog import next_step, step_table

    tenant = batch.tenant
    try:
        counts = getattr(pipeline, STEP_FUNCTIONS[step])(source, batch, services)
        s3_writes = services.s3_write_counts()
        if set(s3_writes) - {tenant}:
            raise AirflowFailException(
                f"{step} for tenant {tenant} wrote under other tenants: {sorted(s3_writes)}"
            )
    except Exception as exc:
        advice = next_step(step, exc, batch)
        log.error("%s", step_table(step, batch, None, _written(services, tenant), error=exc, advice=advice))
        for line in advice.lines():
            exc.add_note(line)
        raise
    counts = {**counts, "s3_writes": s3_writes.get(tenant, dict.fromkeys(WRITE_COUNT_FIELDS, 0))}
    log.info("%s", step_table(step, batch, counts, _written(services, tenant)))
    return counts


@contextmanager
def short_gil_turns(seconds: float = 0.001) -> Generator[None, None, None]:
    """Threads take the GIL in turns of ``seconds`` instead of CPython's 5 ms, so a tenant holding the
    warehouse lock does not wait that long between its statements while another tenant runs GX."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_step(step: str, source_name: str, tenants: list[str], context: Any) -> dict[str, dict[str, Any]]:
    """``step`` for a shard of tenants, ``concurrency.tenant_threads`` at a time: ``{tenant: counts}``.

    A tenant whose step already finished in this run is skipped (a retry or clear redoes only the failed
    ones), as is one whose previous step has not finished in this run. When tenants fail, the others still
    finish and record their step; then the task fails naming the failed tenants (the error of a lone
    failed tenant is raised as it is).
    """
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    from airflow.sdk.exceptions import AirflowFailException

    from salestalk import pipeline
    from salestalk.logs import quiet_third_party
    from salestalk.names import FAILED_TENANTS_KEY, STEPS
    from salestalk.quality.gx_runner import deferred_docs_index
    from salestalk.shards import WAITING_ON_UPSTREAM, ShardStepFailed, plan_step
    from salestalk.steplog import shard_table
    from salestalk.warehouse import tables

    quiet_third_party()
    source = _source(source_name)
    run_id = context["run_id"]
    batches = {tenant: run_batch(source, tenant, context) for tenant in tenants}
    shared = make_services(source)
    previous = STEPS[STEPS.index(step) - 1] if STEPS.index(step) else None
    interval_start = next(iter(batches.values())).interval_start
    tag = {"source": source.name, "step": f"{step}_plan"}
    with shared.warehouse.connect(tag=tag) as s:
        finished = tables.finished_steps(s, source.name, interval_start, run_id, list(tenants))
    plan = plan_step(step, tenants, finished)

    def one(tenant: str) -> dict[str, Any]:
        upstream = finished.get(tenant, {}).get(previous) if previous else None
        return run_tenant_step(step, source, batches[tenant], tenant_services(shared, upstream))

    results: dict[str, dict[str, Any]] = {}
    failed: dict[str, BaseException] = {}
    threads = min(source.concurrency.tenant_threads, len(plan.todo))
    # the Data Docs index is rebuilt once for the shard, and the tenants' results are recorded in one session
    with tables.deferred_results() as pending, deferred_docs_index():
        if threads == 1:  # one at a time: in this thread
            for tenant in plan.todo:
                try:
                    results[tenant] = one(tenant)
                except Exception as exc:
                    failed[tenant] = exc
        elif threads > 1:  # each thread in a copy of this context, so the task's context and logging follow
            with short_gil_turns(), ThreadPoolExecutor(threads, thread_name_prefix=f"{step}-tenant") as pool:
                futures = {t: pool.submit(contextvars.copy_context().run, one, t) for t in plan.todo}
            for tenant, future in futures.items():
                error = future.exception()
                if error is None:
                    results[tenant] = future.result()
                else:
                    failed[tenant] = error
    if results:  # noted before any failure is raised, so a retry or clear skips these tenants
        with shared.warehouse.connect(tag={"source": source.name, "step": f"{step}_done"}) as s:
            tables.record_results(s, [p for p in pending if p[0].tenant in results])
            tables.record_finished(s, source.name, interval_start, run_id, step, results)
    if len(tenants) > 1:  # a lone tenant's own step table says it all
        log.info("%s", shard_table(step, tenants, plan, results, failed))
    outcome = {**plan.done, **results}
    if failed or plan.blocked:
        context["ti"].xcom_push(key=FAILED_TENANTS_KEY, value=sorted([*failed, *plan.blocked]))
    if failed:
        held_back = {t for t, e in failed.items() if isinstance(e, pipeline.PublishHeldBack)}
        if len(failed) == 1 and not outcome and not plan.blocked:  # a shard of one fails as its step did
            error = next(iter(failed.values()))
            if not held_back:
                raise error
            raise _with_notes(AirflowFailException(str(error)), error) from error
        failure = ShardStepFailed(step, failed, len(outcome), alert=sorted(set(failed) - held_back))
        final = (AirflowFailException, pipeline.PublishHeldBack)  # a retry cannot help these
        if all(isinstance(e, final) for e in failed.values()):
            raise _with_notes(AirflowFailException(str(failure)), failure) from failure
        raise failure
    if plan.blocked:  # failed, so that clearing the run's failed tasks takes this one too; never paged
        raise AirflowFailException(
            f"{WAITING_ON_UPSTREAM} {previous} has not finished in this run for {', '.join(plan.blocked)} "
            f"({len(outcome)} other tenant(s) of the shard finished {step}). That task's failure was paged; "
            f"clear it with its downstream tasks after fixing the cause"
        )
    return outcome


def _with_notes(failure: Exception, cause: BaseException) -> Exception:
    for note in getattr(cause, "__notes__", ()):
        failure.add_note(note)
    return failure


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
    from salestalk.shards import run_tenants

    chosen = context["ti"].xcom_pull(task_ids=SELECT_TASK_ID) if "ti" in context else None
    if chosen:
        return run_tenants(chosen)
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
