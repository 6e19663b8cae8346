"""Freshness diagnosis: per source and tenant, why is the curated data (not) fresh? Airflow-free.

For each tenant of a source, read the latest ``_loaded_at`` (when we landed it), the latest business
date (the config's ``schema.business_date_column``) and the newest data interval from
``curated.<source>``, then walk this decision tree (runbook: docs/runbooks/freshness.md):

0. Nothing was ever loaded and no batch of the source was ever recorded: **never_run** (a new source, or
   a fresh stack). Not a problem, never alerted.
1. The latest load is older than ``alerting.freshness.max_load_age_minutes`` (or there is none):
   **extraction_problem**: we stopped landing data (DAG paused or failing, source API down).
2. The downstream job (``alerting.freshness.downstream_schedule``, the app's insight summaries) last ran
   after the newest interval closed but before that interval's rows landed: **timing_mismatch**: the
   data is here now, but the consumer read the table too early. When it last ran is assumed from its
   schedule unless the caller knows (``downstream_ran_at``; the CLI asks Airflow's metadata DB), and a
   downstream job that never ran cannot have read too early.
3. The newest business date is more than ``max_business_date_lag_days`` old: **source_behind**: we load
   on time, but the source system has nothing newer (its own export or sync is late).
4. Otherwise **healthy**.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salestalk.batch import as_utc
from salestalk.names import AUDIT, BATCH_RESULTS, CURATED

if TYPE_CHECKING:
    from collections.abc import Callable

    from salestalk.alerting.payload import Alert
    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Warehouse

    DownstreamRuns = Callable[[SourceConfig, dt.datetime], dt.datetime | None]

CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


class Classification(enum.StrEnum):
    HEALTHY = "healthy"
    NEVER_RUN = "never_run"
    SOURCE_BEHIND = "source_behind"
    TIMING_MISMATCH = "timing_mismatch"
    EXTRACTION_PROBLEM = "extraction_problem"

    @property
    def is_problem(self) -> bool:
        return self not in (Classification.HEALTHY, Classification.NEVER_RUN)


@dataclass(frozen=True)
class Observation:
    source: str
    tenant: str
    latest_loaded_at: dt.datetime | None
    latest_business_date: dt.date | None
    latest_interval_start: dt.datetime | None
    rows: int = 0
    source_ran: bool = True  # any batch of the source recorded, or any curated row, for any tenant
    recorded: bool = False  # a batch of this tenant is recorded (audit.batch_results)


@dataclass(frozen=True)
class Diagnosis:
    observation: Observation
    classification: Classification
    reason: str
    now: dt.datetime
    downstream_ran_at: dt.datetime | None
    load_age_minutes: float | None
    business_lag_days: int | None

    def as_row(self) -> dict[str, Any]:
        obs = self.observation
        return {
            "source": obs.source,
            "tenant": obs.tenant,
            "classification": str(self.classification),
            "latest_loaded_at": obs.latest_loaded_at.isoformat() if obs.latest_loaded_at else None,
            "latest_business_date": obs.latest_business_date.isoformat()
            if obs.latest_business_date
            else None,
            "load_age_minutes": None if self.load_age_minutes is None else round(self.load_age_minutes, 1),
            "business_lag_days": self.business_lag_days,
            "downstream_ran_at": self.downstream_ran_at.isoformat() if self.downstream_ran_at else None,
            "reason": self.reason,
        }


def _cron(schedule: str) -> str:
    return CRON_PRESETS.get(schedule, schedule)


def previous_fire(schedule: str, now: dt.datetime) -> dt.datetime:
    """The latest time at or before ``now`` when ``schedule`` fired (UTC)."""
    from croniter import croniter

    return croniter(_cron(schedule), now).get_prev(dt.datetime).astimezone(dt.UTC)


def next_fire(schedule: str, after: dt.datetime) -> dt.datetime:
    from croniter import croniter

    return croniter(_cron(schedule), after).get_next(dt.datetime).astimezone(dt.UTC)


def classify(
    obs: Observation,
    now: dt.datetime,
    *,
    source_schedule: str,
    max_load_age_minutes: float,
    max_business_date_lag_days: int,
    downstream_ran_at: dt.datetime | None,
) -> Diagnosis:
    """Walk the decision tree for one source and tenant (pure)."""
    # A load stamped after ``now`` (a diagnosis "as of" an earlier time) counts as just loaded.
    age = max(0.0, (now - obs.latest_loaded_at).total_seconds() / 60) if obs.latest_loaded_at else None
    lag = (now.date() - obs.latest_business_date).days if obs.latest_business_date else None

    def verdict(classification: Classification, reason: str) -> Diagnosis:
        return Diagnosis(obs, classification, reason, now, downstream_ran_at, age, lag)

    if obs.latest_loaded_at is None and not obs.source_ran:
        return verdict(
            Classification.NEVER_RUN,
            "no batch of this source has been recorded yet (a new source or a fresh stack)",
        )
    if obs.latest_loaded_at is None and obs.recorded:
        return verdict(
            Classification.EXTRACTION_PROBLEM,
            "batches ran but nothing was ever published for this tenant (held back or failing: see status)",
        )
    if obs.latest_loaded_at is None:
        return verdict(Classification.EXTRACTION_PROBLEM, "nothing has ever been loaded for this tenant")
    if age > max_load_age_minutes:
        return verdict(
            Classification.EXTRACTION_PROBLEM,
            f"latest load {age:.0f} min ago is older than the {max_load_age_minutes:g} min limit",
        )
    if downstream_ran_at is not None and obs.latest_interval_start is not None:
        interval_end = next_fire(source_schedule, obs.latest_interval_start)
        if interval_end <= downstream_ran_at < obs.latest_loaded_at:
            return verdict(
                Classification.TIMING_MISMATCH,
                f"the downstream job ran at {downstream_ran_at:%Y-%m-%dT%H:%M:%SZ}, before the load of the "
                f"interval ending {interval_end:%Y-%m-%dT%H:%M:%SZ} landed at "
                f"{obs.latest_loaded_at:%Y-%m-%dT%H:%M:%SZ}",
            )
    if lag is None or lag > max_business_date_lag_days:
        return verdict(
            Classification.SOURCE_BEHIND,
            f"loads are fresh but the newest business date is {obs.latest_business_date} "
            f"({lag} days old, limit {max_business_date_lag_days})",
        )
    return verdict(Classification.HEALTHY, "fresh load and current business dates")


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()
    return value


def observe(warehouse: Warehouse, source: SourceConfig) -> list[Observation]:
    """The latest ``_loaded_at``, business date and interval per tenant of ``curated.<source>``."""
    from salestalk.warehouse.tables import table_exists

    found: dict[str, tuple] = {}
    recorded: set[str] = set()
    with warehouse.connect(tag={"source": source.name, "step": "freshness"}) as s:
        i = s.dialect.ident
        if table_exists(s, AUDIT, BATCH_RESULTS):
            recorded = {
                row[0]
                for row in s.fetchall(
                    f"SELECT DISTINCT {i('tenant')} FROM {s.dialect.table(AUDIT, BATCH_RESULTS)} "
                    f"WHERE {i('source')} = ?",
                    [source.name],
                )
            }
        if table_exists(s, CURATED, source.name):
            for row in s.fetchall(
                f"SELECT {i('_tenant_id')}, MAX({i('_loaded_at')}), MAX({i(source.table_schema.business_date_column)}), "
                f"MAX({i('_interval_start')}), COUNT(*) FROM {s.dialect.table(CURATED, source.name)} "
                f"GROUP BY {i('_tenant_id')}"
            ):
                found[row[0]] = (*row[1:4], int(row[4]))
    result = []
    from salestalk.tenant_registry import source_tenants

    for tenant in source_tenants(source):  # the active ones: a paused or offboarded tenant is not late
        loaded, business_date, interval, rows = found.get(tenant, (None, None, None, 0))
        result.append(
            Observation(
                source.name,
                tenant,
                as_utc(loaded),
                _as_date(business_date),
                as_utc(interval),
                rows,
                source_ran=bool(recorded or found),
                recorded=tenant in recorded,
            )
        )
    return result


def scheduled_downstream_run(source: SourceConfig, now: dt.datetime) -> dt.datetime | None:
    """When the downstream job last ran, assumed from ``alerting.freshness.downstream_schedule``."""
    return previous_fire(source.alerting.freshness.downstream_schedule, now)


def diagnose(
    warehouse: Warehouse,
    sources: list[SourceConfig],
    now: dt.datetime | None = None,
    *,
    downstream_ran_at: DownstreamRuns | None = None,
) -> list[Diagnosis]:
    """Classify every tenant of ``sources``. ``downstream_ran_at(source, now)`` says when the downstream job
    last started before ``now`` (None: never); default :func:`scheduled_downstream_run`."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    last_run = downstream_ran_at or scheduled_downstream_run
    diagnoses = []
    for source in sources:
        policy = source.alerting.freshness
        downstream = last_run(source, now)
        for obs in observe(warehouse, source):
            diagnoses.append(
                classify(
                    obs,
                    now,
                    source_schedule=source.schedule,
                    max_load_age_minutes=policy.max_load_age_minutes,
                    max_business_date_lag_days=policy.max_business_date_lag_days,
                    downstream_ran_at=downstream,
                )
            )
    return diagnoses


def freshness_alert(source: SourceConfig, diagnosis: Diagnosis) -> Alert:
    """One alert per unhealthy source and tenant; the same state (classification and latest load)
    always has the same dedup key, so it is sent once however often the monitor runs."""
    from salestalk.alerting.payload import Alert

    row = diagnosis.as_row()
    return Alert(
        alert_type="freshness",
        source=source.name,
        dag_id=source.dag_id,
        run_id=None,
        tenants=(diagnosis.observation.tenant,),
        what=f"{row['classification']}: {diagnosis.reason}",
        counts={
            "load_age_minutes": row["load_age_minutes"],
            "business_lag_days": row["business_lag_days"],
            "curated_rows": diagnosis.observation.rows,
        },
        incident=f"freshness:{row['classification']}:{row['latest_loaded_at']}",
        severity="error" if diagnosis.classification == Classification.EXTRACTION_PROBLEM else "warning",
        source_runbook=source.runbook,
        details={
            k: row[k]
            for k in (
                "classification",
                "latest_loaded_at",
                "latest_business_date",
                "downstream_ran_at",
                "reason",
            )
        },
    )


def run_monitor(
    now: dt.datetime | None = None,
    *,
    send: bool = True,
    only: str | None = None,
    downstream_ran_at: DownstreamRuns | None = None,
) -> list[dict]:
    """Diagnose every valid source (or ``only``), alert each pair with a problem; return the rows."""
    from salestalk.alerting.routes import deliver
    from salestalk.config.loader import load_sources
    from salestalk.warehouse import open_warehouse

    configs = load_sources(only=only).configs
    sources = [configs[name] for name in sorted(configs) if only is None or name == only]
    warehouse = open_warehouse()
    rows = []
    for diagnosis in diagnose(warehouse, sources, now, downstream_ran_at=downstream_ran_at):
        row = diagnosis.as_row()
        if send and diagnosis.classification.is_problem:
            source = configs[diagnosis.observation.source]
            alert = freshness_alert(source, diagnosis)
            row["dedup_key"] = alert.dedup_key
            row["routes"] = deliver(alert, source.alerting.routes)
        rows.append(row)
    return rows


# ---- Per partition: source not yet published, or downstream not yet run? (from the asset events) --------


class PartitionState(enum.StrEnum):
    """Where one tenant and day of the insight summaries stands, read from Airflow's asset events."""

    SUMMARIZED = "summarized"  # the summary ran after the inputs' last change of that partition
    SOURCE_NOT_PUBLISHED = "source_not_published"  # some input has not published this partition yet
    DOWNSTREAM_NOT_RUN = "downstream_not_run"  # every input published; the summary has not run since

    @property
    def is_problem(self) -> bool:
        return self is not PartitionState.SUMMARIZED


@dataclass(frozen=True)
class AssetEventRecord:
    """One Airflow asset event: the asset's name, its partition key and when it was recorded (UTC)."""

    asset: str
    partition_key: str
    timestamp: dt.datetime


def partition_states(
    events: list[AssetEventRecord],
    *,
    inputs: dict[str, str],
    downstream: str,
    restated: str | None = None,
) -> list[dict[str, Any]]:
    """Each ``tenant|day`` any input published, classified (pure).

    :param inputs: the input sources' asset names by source name (``{"deals": "salestalk.curated.deals"}``).
    :param downstream: the summary's asset name; its event for a key says the summary ran for it.
    :param restated: the restatement asset's name (a change of an already complete partition).
    """
    from salestalk.assets import InvalidPartitionKey, parse_partition_key

    by_asset: dict[str, dict[str, dt.datetime]] = {}
    for event in events:
        latest = by_asset.setdefault(event.asset, {})
        if event.partition_key not in latest or event.timestamp > latest[event.partition_key]:
            latest[event.partition_key] = event.timestamp
    keys = sorted({k for name in [*inputs.values(), restated] if name for k in by_asset.get(name, {})})
    rows = []
    for key in keys:
        try:
            tenant, day = parse_partition_key(key)
        except InvalidPartitionKey:
            continue
        published = {source: by_asset.get(name, {}).get(key) for source, name in sorted(inputs.items())}
        missing = [source for source, at in published.items() if at is None]
        changed = [at for at in published.values() if at is not None]
        if restated and key in by_asset.get(restated, {}):
            changed.append(by_asset[restated][key])
        last_change = max(changed)
        summarized_at = by_asset.get(downstream, {}).get(key)
        if missing:
            state = PartitionState.SOURCE_NOT_PUBLISHED
            reason = f"not yet published by {', '.join(missing)}; the summary waits for every input"
        elif summarized_at is None or summarized_at < last_change:
            state = PartitionState.DOWNSTREAM_NOT_RUN
            reason = f"every input published (last at {last_change:%Y-%m-%dT%H:%M:%SZ}) but the summary " + (
                "never ran" if summarized_at is None else f"last ran at {summarized_at:%Y-%m-%dT%H:%M:%SZ}"
            )
        else:
            state = PartitionState.SUMMARIZED
            reason = f"summarised at {summarized_at:%Y-%m-%dT%H:%M:%SZ}, after the inputs' last change"
        rows.append(
            {
                "tenant": tenant,
                "day": day.isoformat(),
                "partition_key": key,
                "state": str(state),
                "published": {s: at.isoformat() if at else None for s, at in published.items()},
                "summarized_at": summarized_at.isoformat() if summarized_at else None,
                "reason": reason,
            }
        )
    return rows


def summary_partition_states(events: list[AssetEventRecord]) -> list[dict[str, Any]]:
    """:func:`partition_states` for the app's insight summaries and their input sources."""
    from salestalk.assets import RESTATED_NAME, SUMMARY_NAME, curated_asset_name
    from salestalk.insights import INPUT_SOURCES

    return partition_states(
        events,
        inputs={s: curated_asset_name(s) for s in INPUT_SOURCES},
        downstream=SUMMARY_NAME,
        restated=RESTATED_NAME,
    )


def summary_asset_names() -> list[str]:
    from salestalk.assets import RESTATED_NAME, SUMMARY_NAME, curated_asset_name
    from salestalk.insights import INPUT_SOURCES

    return [*(curated_asset_name(s) for s in INPUT_SOURCES), RESTATED_NAME, SUMMARY_NAME]


def read_asset_events(
    db_url: str, names: list[str], since: dt.datetime | None = None
) -> list[AssetEventRecord]:
    """The partitioned events of the assets ``names`` from Airflow's metadata DB (``asset_event``)."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    try:
        with engine.connect() as con:
            query = (
                "SELECT a.name, e.partition_key, e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id "
                "WHERE e.partition_key IS NOT NULL AND a.name IN :names"
            )
            params: dict[str, Any] = {"names": list(names)}
            if since is not None:
                query += " AND e.timestamp >= :since"
                params["since"] = since.astimezone(dt.UTC).replace(tzinfo=None)
            statement = sqlalchemy.text(query).bindparams(sqlalchemy.bindparam("names", expanding=True))
            rows = con.execute(statement, params).fetchall()
    finally:
        engine.dispose()
    return [AssetEventRecord(name, key, _db_time(stamp)) for name, key, stamp in rows]


def _db_time(value: Any) -> dt.datetime:
    """A metadata-DB timestamp (a datetime, or SQLite's naive UTC text) as an aware UTC datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def format_partition_states(rows: list[dict[str, Any]]) -> str:
    """An aligned table for the log and the CLI."""
    lines = [f"{'tenant':<10} {'day':<10}  {'state':<20} reason"]
    for r in rows:
        lines.append(f"{r['tenant']:<10} {r['day']:<10}  {r['state']:<20} {r['reason']}")
    return "\n".join(lines)


PARTITION_LOOKBACK = dt.timedelta(days=14)


def run_partition_monitor(inlet_events: Any, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """In the monitor task: read the summary's assets' events (its inlets, through the Task SDK) over the
    last :data:`PARTITION_LOOKBACK`, classify each partition and log the ones that are not summarised."""
    import logging

    from salestalk.assets import curated_asset, restated_asset, summary_asset
    from salestalk.insights import INPUT_SOURCES

    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    since = (now - PARTITION_LOOKBACK).isoformat()
    records = []
    for asset in [*(curated_asset(s) for s in INPUT_SOURCES), restated_asset(), summary_asset()]:
        for event in inlet_events[asset].after(since):
            if event.partition_key:
                records.append(AssetEventRecord(asset.name, event.partition_key, as_utc(event.timestamp)))
    rows = summary_partition_states(records)
    log = logging.getLogger(__name__)
    waiting = [r for r in rows if PartitionState(r["state"]).is_problem]
    log.info(
        "insight summary partitions since %s: %d summarised, %d waiting for a source, %d waiting for the summary",
        since[:10],
        sum(r["state"] == PartitionState.SUMMARIZED for r in rows),
        sum(r["state"] == PartitionState.SOURCE_NOT_PUBLISHED for r in rows),
        sum(r["state"] == PartitionState.DOWNSTREAM_NOT_RUN for r in rows),
    )
    if waiting:
        log.info(
            "partitions not summarised yet (runbook: docs/runbooks/freshness.md):\n%s",
            format_partition_states(waiting),
        )
    return rows


def partition_report(as_json: bool = False, db_url: str | None = None) -> int:
    """``python -m salestalk freshness --partitions``: each insight-summary partition's state, read from
    Airflow's asset events (the metadata DB of ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``). Exit 1 if any
    partition waits, 2 without a metadata DB."""
    import json
    import os

    url = db_url or os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if not url:
        print("freshness --partitions reads Airflow's asset events: no Airflow metadata DB is configured")
        return 2
    since = dt.datetime.now(dt.UTC) - PARTITION_LOOKBACK
    rows = summary_partition_states(read_asset_events(url, summary_asset_names(), since))
    if as_json:
        print(json.dumps(rows, indent=1))
    else:
        print(format_partition_states(rows))
        print(
            f"note: {len(rows)} partition(s) with asset events since {since:%Y-%m-%d}, from Airflow's metadata DB"
        )
    return 1 if any(PartitionState(r["state"]).is_problem for r in rows) else 0
