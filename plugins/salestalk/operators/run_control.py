"""Operators that steer a source run: which tenants it maps over, and the watch on its deadlines."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

DAG_TEST_USER = "dag_test"  # the triggering user dag.test() records on its runs


def _source(name: str):
    from salestalk.tasks import _source as load_source

    return load_source(name)


class SelectTenantsOperator(BaseOperator):
    """The shards of tenants this run maps over: the ``tenants`` trigger param (default: all), checked with
    the ``interval_start`` param against the source config before any tenant work starts, cut into lists of
    ``concurrency.tenants_per_task``.

    :param source_name: the source config's name.
    """

    ui_color = "#f0f0f0"

    def __init__(self, *, source_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_name = source_name

    def execute(self, context: Context) -> list[list[str]]:
        from airflow.sdk.exceptions import AirflowFailException

        from salestalk.batch import format_utc
        from salestalk.run_params import RunParamsError, run_interval, selected_tenants
        from salestalk.shards import make_shards, shard_size
        from salestalk.tenant_registry import from_registry, get_registry

        source = _source(self.source_name)
        origin = "config (pinned)"
        available = list(source.tenants or [])
        if from_registry(source):
            registry = get_registry()  # run time only: the DAG file never asks the registry
            listing = registry.listing()  # RegistryError (unreachable) fails this try; retries apply
            available = listing.active_for(source.name)
            origin = f"tenant registry ({registry!r})"
            for rejected in listing.rejected:
                log.warning("registry entry skipped, never run: %s", rejected)
            if listing.rejected:
                context["ti"].xcom_push(key="registry_rejected", value=[str(r) for r in listing.rejected])
            if not available:
                log.warning("no active tenant of %s in the %s: nothing to run", source.name, origin)
        try:
            tenants = selected_tenants(source, context["params"], available)
            start, end = run_interval(source, context)
        except RunParamsError as exc:
            raise AirflowFailException(f"{exc}. Trigger the DAG again with valid params.") from exc
        log.info(
            "run %s: %d of %d tenant(s) from the %s (%s), interval %s to %s",
            context["run_id"],
            len(tenants),
            len(available),
            origin,
            ", ".join(tenants) or "-",
            format_utc(start),
            format_utc(end),
        )
        size = shard_size(source.concurrency.tenants_per_task, len(tenants))
        shards = make_shards(tenants, size)
        if size > 1:
            log.info(
                "%d shard(s) of up to %d tenants per step task, %d at once in each",
                len(shards),
                size,
                source.concurrency.tenant_threads,
            )
        return shards


class DeadlineWatchOperator(BaseOperator):
    """Pages ``deadline_missed`` when the run is unfinished ``minutes`` after it started; ends when the
    run's other tasks have finished. Waits in the triggerer, so it holds no worker slot.

    :param source_name: the source config's name.
    :param deadlines: ``[{"name": ..., "minutes": ...}]`` from the source's ``alerting.deadlines``.
    """

    ui_color = "#fff7e0"

    def __init__(self, *, source_name: str, deadlines: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_name = source_name
        self.deadlines = deadlines

    def execute(self, context: Context) -> None:
        from salestalk.alerting.deadline_watch import RunDeadlineTrigger, due_times
        from salestalk.batch import format_utc
        from salestalk.run_params import RunParamsError, run_interval

        dag_run = context["dag_run"]
        if getattr(dag_run, "triggering_user_name", None) == DAG_TEST_USER:
            log.info("dag.test() run: deadlines are watched only under the scheduler")
            return
        started = dag_run.start_date or dt.datetime.now(dt.UTC)
        due = due_times(started, self.deadlines)
        try:
            interval = tuple(format_utc(t) for t in run_interval(_source(self.source_name), context))
        except RunParamsError:
            interval = (
                "-",
                "-",
            )  # the tenants task fails the run for bad params; the watch just ends with it
        for d in due:
            log.info(
                "deadline %s: %g min after the run started (%s), due %s",
                d["name"],
                d["minutes"],
                started,
                d["due_at"],
            )
        self.defer(
            trigger=RunDeadlineTrigger(
                dag_id=self.dag_id,
                run_id=context["run_id"],
                source=self.source_name,
                deadlines=due,
                started_at=started.isoformat(),
                interval=interval,
            ),
            method_name="finished",
        )

    def finished(self, context: Context, event: Any = None) -> None:
        """Not normally reached: the trigger ends this task itself when the run's other tasks finish."""
