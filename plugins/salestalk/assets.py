"""Airflow asset events for published data: names, partition keys, and what a publish emits.

Each source's ``publish`` task has the curated table's asset as an outlet (docs/assets.md):

- ``salestalk.curated.<source>`` (URI ``x-salestalk://warehouse/curated/<source>``): one event per
  ``(tenant, day)`` whose curated rows this publish changed, with the partition key ``<tenant>|<YYYY-MM-DD>``.
  The day is the UTC day of the source's ``schema.asset_partition_column`` (default
  ``business_date_column``). A publish that changed nothing emits nothing.
- ``salestalk.insight_summary.inputs_restated``, on the publish tasks of the summary's inputs only
  (:data:`salestalk.insights.INPUT_SOURCES`): the same key, for each changed day that this source had
  already published before (a restatement: the ``pre_execute`` hook notes the tenant's days first) and on
  which every OTHER input has curated rows of that tenant. A partitioned consumer waiting for
  ``deals & calls`` collects one event of each per partition and then runs once; a late record that changes
  only deals for a day already summarised would wait forever for a calls event that never comes. This
  event says "that partition's inputs were complete and one of them changed again", so the summary DAG
  recomputes it (and only it). Two inputs publishing a new day at the same time restate nothing, so their
  events meet in one partition run.

The app's summaries (``app_insight_summaries``) are scheduled by these events and record their own, on
``salestalk.dynamodb.insight_summary``, with the same key; the freshness monitor compares the two.

The key and the day logic are Airflow-free; :func:`emit_publish_events` is the ``post_execute`` hook of the
publish task (it only touches the task and its ``outlet_events``).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.names import CURATED, PUBLISH
from salestalk.tenancy import validate_tenant_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk import Asset

    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Session, Warehouse

log = logging.getLogger(__name__)

DELIMITER = "|"
# An ``x-`` scheme is Airflow's mark of a custom URI: it is used as is, never looked up among the
# providers' URI handlers (that lookup imports every provider's asset module, boto3 included, at parse time).
SCHEME = "x-salestalk"
RESTATED_NAME = "salestalk.insight_summary.inputs_restated"
RESTATED_URI = f"{SCHEME}://insight-summary/inputs-restated"
SUMMARY_NAME = "salestalk.dynamodb.insight_summary"
SUMMARY_URI = f"{SCHEME}://dynamodb/insight_summary"


def curated_asset_name(source: str) -> str:
    return f"salestalk.{CURATED}.{source}"


def curated_asset_uri(source: str) -> str:
    return f"{SCHEME}://warehouse/{CURATED}/{source}"


def partition_key(tenant: str, day: dt.date) -> str:
    """``acme|2026-11-01``: the tenant, then the UTC business day."""
    return f"{validate_tenant_id(tenant)}{DELIMITER}{day.isoformat()}"


class InvalidPartitionKey(ValueError):
    """A partition key that is not ``<tenant>|<YYYY-MM-DD>``."""


def parse_partition_key(key: str) -> tuple[str, dt.date]:
    """``(tenant, day)`` of ``acme|2026-11-01``; InvalidPartitionKey for anything else."""
    parts = str(key).split(DELIMITER)
    if len(parts) != 2:
        raise InvalidPartitionKey(f"partition key {key!r} is not <tenant>{DELIMITER}<YYYY-MM-DD>")
    try:
        return validate_tenant_id(parts[0]), dt.date.fromisoformat(parts[1])
    except ValueError as exc:
        raise InvalidPartitionKey(f"partition key {key!r}: {exc}") from exc


@dataclass(frozen=True)
class PublishPartitions:
    """What one tenant's publish emits: the days it changed, and those that restate complete inputs."""

    source: str
    tenant: str
    changed: list[dt.date] = field(default_factory=list)
    restated: list[dt.date] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [partition_key(self.tenant, d) for d in self.changed]

    @property
    def restated_keys(self) -> list[str]:
        return [partition_key(self.tenant, d) for d in self.restated]


def _day(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _days(s: Session, source: SourceConfig, where: str, params: list[Any]) -> set[dt.date]:
    from salestalk.warehouse.tables import table_exists

    if not table_exists(s, CURATED, source.name):
        return set()
    i = s.dialect.ident
    column = source.table_schema.partition_column
    kind = {c.name: c.type for c in source.table_schema.columns}[column]
    # A date column is its own day; a timestamp's UTC day (both backends keep the session in UTC).
    value = i(column) if kind == "date" else f"CAST({i(column)} AS DATE)"
    rows = s.fetchall(
        f"SELECT DISTINCT {value} FROM {s.dialect.table(CURATED, source.name)} "
        f"WHERE {i('_tenant_id')} = ? AND {where}",
        [*params],
    )
    return {d for (value,) in rows if (d := _day(value)) is not None}


def changed_days(s: Session, source: SourceConfig, tenant: str, run_id: str) -> list[dt.date]:
    """The days of ``tenant``'s curated rows that the run ``run_id`` published (inserted or updated)."""
    tenant = validate_tenant_id(tenant)
    where = f"{s.dialect.ident('_published_run_id')} = ?"
    return sorted(_days(s, source, where, [tenant, run_id]))


def days_with_rows(
    s: Session, source: SourceConfig, tenant: str, days: Iterable[dt.date] | None = None
) -> set[dt.date]:
    """Those of ``days`` (default: all) on which ``tenant`` has curated rows of ``source``."""
    wanted = None if days is None else set(days)
    if wanted is not None and not wanted:
        return set()
    found = _days(s, source, "1 = 1", [validate_tenant_id(tenant)])
    return found if wanted is None else found & wanted


def published_days(warehouse: Warehouse, source: SourceConfig, tenant: str) -> set[dt.date]:
    """Every day on which ``tenant`` has curated rows of ``source`` (read before a publish)."""
    with warehouse.connect(tag={"source": source.name, "step": PUBLISH}) as s:
        return days_with_rows(s, source, tenant)


def publish_partitions(
    warehouse: Warehouse,
    source: SourceConfig,
    tenant: str,
    run_id: str,
    published: int,
    inputs: dict[str, SourceConfig] | None = None,
    before: set[dt.date] | None = None,
) -> PublishPartitions:
    """The partitions a publish of ``published`` rows emits (none when it changed nothing).

    :param inputs: the summary's input sources by name (``source`` among them when it is one).
    :param before: the days ``source`` had rows of ``tenant`` on before this publish (:func:`published_days`);
        a changed day among them on which every other input has rows is restated.
    """
    if not published:
        return PublishPartitions(source.name, tenant)
    inputs = inputs or {}
    with warehouse.connect(tag={"source": source.name, "step": PUBLISH}) as s:
        changed = changed_days(s, source, tenant, run_id)
        restated = []
        if source.name in inputs and changed:
            complete = set(changed) & (before or set())
            for name, other in sorted(inputs.items()):
                if name != source.name:
                    complete &= days_with_rows(s, other, tenant, changed)
            restated = sorted(complete)
    return PublishPartitions(source.name, tenant, changed, restated)


# ---- A summary run's partition ------------------------------------------------------------------------

# The run's params when it has no partition key (a manual recompute, ``make demo``): see summary_target.
PARTITION_PARAM = "partition_key"
DAY_PARAM = "day"
TENANTS_PARAM = "tenants"


class SummaryTargetError(ValueError):
    """A summary run that names no partition, or one outside the configured tenants."""


def summary_target(
    partition_key: str | None,
    params: dict[str, Any] | None,
    tenants: Iterable[str],
    logical_date: dt.datetime | None = None,
) -> tuple[list[str], dt.date]:
    """The tenants and the UTC day a summary run computes.

    An asset-triggered run has the partition key of the events that triggered it (``acme|2026-11-01``):
    that tenant and day only. Without one (a manual run), the ``partition_key`` param, else the ``day``
    param (or the day that ended at the run's logical date) for the ``tenants`` param (default: all).
    """
    known = list(tenants)
    params = params or {}
    day = summary_day(partition_key, params, logical_date)
    key = partition_key or params.get(PARTITION_PARAM)
    wanted = [parse_partition_key(key)[0]] if key else list(params.get(TENANTS_PARAM) or known)
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise SummaryTargetError(f"unknown tenant(s) {unknown}; configured: {', '.join(known)}")
    return [t for t in known if t in set(wanted)], day


def summary_day(
    partition_key: str | None, params: dict[str, Any] | None, logical_date: dt.datetime | None = None
) -> dt.date:
    """The UTC day of a summary run: its partition key's, else its ``partition_key`` or ``day`` param's,
    else the UTC day that ended at its logical date (a manual run with a logical date, as on the old
    daily schedule: logical date 2026-11-02T00:00Z computes 2026-11-01)."""
    params = params or {}
    key = partition_key or params.get(PARTITION_PARAM)
    if key:
        try:
            return parse_partition_key(key)[1]
        except InvalidPartitionKey as exc:
            raise SummaryTargetError(str(exc)) from exc
    if params.get(DAY_PARAM):
        try:
            return dt.date.fromisoformat(str(params[DAY_PARAM]))
        except ValueError as exc:
            raise SummaryTargetError(
                f"param {DAY_PARAM}={params[DAY_PARAM]!r} is not a YYYY-MM-DD day"
            ) from exc
    if logical_date is not None:
        return (logical_date.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()
    raise SummaryTargetError(
        "this run has no partition key: trigger it with the param partition_key=<tenant>|<YYYY-MM-DD>, "
        "or day=<YYYY-MM-DD> (and tenants=[...]); asset-triggered runs carry their own"
    )


def run_summary_day(context: Any) -> dt.date:
    """:func:`summary_day` of the running task's DAG run."""
    dag_run = context["dag_run"]
    return summary_day(
        getattr(dag_run, "partition_key", None), context["params"], getattr(dag_run, "logical_date", None)
    )


# ---- Airflow side: the assets, and the publish task's hook ----------------------------------------------


def curated_asset(source: str) -> Asset:
    from airflow.sdk import Asset

    return Asset(name=curated_asset_name(source), uri=curated_asset_uri(source), group="salestalk-curated")


def restated_asset() -> Asset:
    from airflow.sdk import Asset

    return Asset(name=RESTATED_NAME, uri=RESTATED_URI, group="salestalk-curated")


def summary_asset() -> Asset:
    from airflow.sdk import Asset

    return Asset(name=SUMMARY_NAME, uri=SUMMARY_URI, group="salestalk-app")


def input_source_names() -> tuple[str, ...]:
    from salestalk.insights import INPUT_SOURCES

    return INPUT_SOURCES


def publish_outlets(source: str) -> list[Asset]:
    """The outlets of ``source``'s publish task."""
    outlets = [curated_asset(source)]
    if source in input_source_names():
        outlets.append(restated_asset())
    return outlets


def _input_configs(source: SourceConfig) -> dict[str, SourceConfig]:
    """The summary inputs by name when ``source`` is one and every other input loads; else none."""
    from salestalk.config.loader import load_sources

    names = input_source_names()
    if source.name not in names:
        return {}
    configs = {source.name: source}
    for name in names:
        if name != source.name:
            loaded = load_sources(only=name).configs
            if name not in loaded:
                log.warning(
                    "no restatement event from %s: input source %r of the insight summaries has no valid "
                    "config here (see validate-config); the curated events are emitted as usual",
                    source.name,
                    name,
                )
                return {}
            configs[name] = loaded[name]
    return configs


def note_published_days(context: Any) -> None:
    """``pre_execute`` of a publish task of a summary input: each tenant's days before this publish."""
    from salestalk.config.loader import load_sources
    from salestalk.warehouse import open_warehouse

    task = context["task"]
    if task.source_name not in input_source_names():
        return
    source = load_sources(only=task.source_name).configs[task.source_name]
    warehouse = open_warehouse()
    task.days_before_publish = {tenant: published_days(warehouse, source, tenant) for tenant in task.tenants}


def emit_publish_events(context: Any, result: Any) -> None:
    """``post_execute`` of a publish task: one partitioned event per changed (tenant, day), or none.

    Runs in the task process after the step succeeded; ``result`` is its ``{tenant: counts}``. The outlets
    are dropped for this try when nothing changed, since Airflow records an unpartitioned event for every
    declared outlet that got no partition key.
    """
    from salestalk.config.loader import load_sources
    from salestalk.warehouse import open_warehouse

    task = context["task"]
    source_name = task.source_name
    source = load_sources(only=source_name).configs[source_name]
    warehouse = open_warehouse()
    inputs = _input_configs(source)
    before = getattr(task, "days_before_publish", None) or {}
    keys: list[str] = []
    restated_keys: list[str] = []
    for tenant, counts in (result or {}).items():
        partitions = publish_partitions(
            warehouse,
            source,
            tenant,
            context["run_id"],
            int((counts or {}).get("published") or 0),
            inputs,
            before=before.get(tenant),
        )
        keys += partitions.keys
        restated_keys += partitions.restated_keys
    events = context["outlet_events"]
    if keys:
        events[curated_asset(source_name)].add_partitions(keys)
    if restated_keys:
        events[restated_asset()].add_partitions(restated_keys)
    emitted = {a.name for a in task.outlets} if keys else set()
    if keys and not restated_keys:
        emitted.discard(RESTATED_NAME)
    task.outlets = [a for a in task.outlets if a.name in emitted]
    log.info(
        "asset events for %s: %s%s",
        curated_asset_name(source_name),
        ", ".join(keys) or "none (this publish changed no curated rows)",
        f"; {RESTATED_NAME}: {', '.join(restated_keys)}" if restated_keys else "",
    )


def emit_summary_event(context: Any, result: Any) -> None:
    """``post_execute`` of the summary's write task: its event carries ``tenant|day`` also in a manual run."""
    task = context["task"]
    key = partition_key(task.tenant, run_summary_day(context))
    context["outlet_events"][summary_asset()].add_partitions(key)
    log.info("asset event for %s: %s (write counts %s)", SUMMARY_NAME, key, result)
