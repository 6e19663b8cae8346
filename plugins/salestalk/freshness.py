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
    for tenant in source.tenants:
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
