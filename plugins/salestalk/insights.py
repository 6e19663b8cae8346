"""Insight summaries for the app: one tenant's deal and call metrics over one period, from the warehouse.

Airflow-free. :func:`compute_insight_summary` runs ``include/sql/insight_summary.sql`` (transpiled to
the session's dialect) on a warehouse session with bound parameters only, and returns a dict that validates against the ``insight-summary``
contract (v1); anything else raises. :func:`summaries_for_tenants` does that for several tenants over one
warehouse connection.

What a summary holds
====================

``metrics`` (numbers; names are snake_case, stage and currency values are folded into names):

- ``deals_updated``, ``deals_won``, ``deals_lost``: deals whose newest version was updated in the period
  (and of those, the ones in ``closed_won`` / ``closed_lost``); ``deals_updated_{stage}`` per stage.
- ``won_amount_{currency}``: amount of the deals won in the period, per currency (never summed across
  currencies: there is no FX rate in the warehouse).
- ``open_deals``, ``open_deals_{stage}``, ``open_pipeline_amount_{currency}`` and
  ``open_pipeline_amount_{currency}_{stage}``: the open pipeline as of the end of the period (deals not
  closed whose newest version was updated before the period ended).
- ``calls``, ``avg_call_duration_seconds``, ``avg_sentiment``: calls whose ``call_date`` is in the period.

The fixed metrics are always present (0 when there is no data, also when a curated table does not exist
yet because its source never ran); the per-stage and per-currency ones only when there is data.

``topIntents``: there is no intent data in the warehouse yet (``classification.performed`` events are not
landed), so intents are DERIVED from the stages of the deals updated in the period (:data:`STAGE_INTENTS`:
prospecting and qualified → scheduling, proposal → pricing, negotiation → objection, closed_lost →
churn_risk, anything else → other), most frequent first, zero counts left out. Replace this with real
classifications once they are in the warehouse.

Idempotency
===========

The item is written with ``put_if_newer`` on ``computedAt``: the same version with the same content is a
duplicate, a newer version overwrites, and the same version with other content is a conflict (dead-lettered,
and the task fails). So ``computedAt`` must be a function of the data, never of the wall clock:

- it is the later of ``computed_at`` (the caller passes the run's data-interval end) and the last time the
  tenant's inputs changed (the newest ``_loaded_at`` in ``curated.deals``/``curated.calls``, and the newest
  publish of either source recorded in ``audit.batch_results``), to the second;
- a rerun over unchanged curated data therefore gives a byte-identical item (a ``duplicate``), and a
  recompute after late data was published gives a newer ``computedAt`` and overwrites. With the interval
  end alone, that recompute would carry the same version with different metrics: a conflict.

``now()`` is never used: a retry would then always look newer and rewrite identical metrics, and two runs
could never be compared.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from salestalk import REPO_ROOT
from salestalk.names import AUDIT, BATCH_RESULTS, CURATED, PUBLISH
from salestalk.tenancy import validate_tenant_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from salestalk.warehouse.base import Session, Warehouse

log = logging.getLogger(__name__)

CONTRACT = "insight-summary"
SCHEMA_VERSION = 1
SQL_PATH = REPO_ROOT / "include" / "sql" / "insight_summary.sql"
INPUT_SOURCES = ("deals", "calls")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
MAX_METRIC_NAME = 64

# The columns each temp view exposes, and their types when the underlying table does not exist.
INPUT_VIEWS: dict[str, tuple[str, str, dict[str, str]]] = {
    "insight_deals": (
        CURATED,
        "deals",
        {
            "deal_id": "string",
            "stage": "string",
            "amount": "float",
            "currency": "string",
            "updated_at": "timestamp",
            "_tenant_id": "string",
            "_loaded_at": "timestamp",
        },
    ),
    "insight_calls": (
        CURATED,
        "calls",
        {
            "call_id": "string",
            "duration_seconds": "integer",
            "sentiment": "float",
            "call_date": "date",
            "_tenant_id": "string",
            "_loaded_at": "timestamp",
        },
    ),
    "insight_publishes": (
        AUDIT,
        BATCH_RESULTS,
        {"source": "string", "tenant": "string", "step": "string", "recorded_at": "timestamp"},
    ),
}
# Only the publishes of the summary's own inputs count as changes.
PUBLISH_FILTER = (PUBLISH, INPUT_SOURCES)

STAGE_INTENTS: dict[str, str] = {
    "prospecting": "scheduling",
    "qualified": "scheduling",
    "proposal": "pricing",
    "negotiation": "objection",
    "closed_lost": "churn_risk",
}
DEFAULT_INTENT = "other"

FIXED_METRICS = ("deals_updated", "deals_won", "deals_lost", "open_deals", "calls")
# SQL metric -> name prefix of the per-stage / per-currency breakdown.
BREAKDOWNS = {
    "deals_updated_by_stage": "deals_updated",
    "open_deals_by_stage": "open_deals",
    "won_amount": "won_amount",
    "open_pipeline_amount": "open_pipeline_amount",
    "open_pipeline_amount_by_stage": "open_pipeline_amount",
}
AMOUNT_METRICS = frozenset({"won_amount", "open_pipeline_amount", "open_pipeline_amount_by_stage"})

_NOT_NAME = re.compile(r"[^a-z0-9]+")


class InsightSummaryInvalid(ValueError):
    """A computed summary that breaks the ``insight-summary`` contract: a bug here, never written."""


@cache
def summary_sql(dialect: str = "duckdb") -> str:
    """The query, in ``dialect`` (written for DuckDB, transpiled with sqlglot for the others)."""
    from salestalk.warehouse.dialect import transpile

    return transpile(SQL_PATH.read_text(encoding="utf-8"), dialect)


def summary_id(period_start: dt.date, period_end: dt.date) -> str:
    """The summary's sort key, a function of its period only: ``daily:2026-11-01``.

    A longer period is ``range:2026-10-26..2026-11-01``. (``#`` would be nicer, but the contract's
    ``summaryId`` pattern allows letters, digits and ``._:-`` only.)
    """
    if period_start == period_end:
        return f"daily:{period_start.isoformat()}"
    return f"range:{period_start.isoformat()}..{period_end.isoformat()}"


def period_of_interval(start: dt.datetime, end: dt.datetime) -> tuple[dt.date, dt.date]:
    """The UTC days a data interval covers, both ends inclusive: [11-01 00:00, 11-02 00:00) -> 11-01..11-01."""
    start, end = _utc(start, "interval start"), _utc(end, "interval end")
    if end <= start:
        raise ValueError(f"empty data interval {start.isoformat()} .. {end.isoformat()}")
    return start.date(), (end - dt.timedelta(microseconds=1)).date()


def day_end(day: dt.date) -> dt.datetime:
    """The end of a UTC day: the ``computedAt`` floor of its summary (a function of the day only)."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def references(tenant: str) -> list[str]:
    """The warehouse tables a summary reads, as contract references (``warehouse://curated/deals?tenant=acme``)."""
    return [f"warehouse://curated/{source}?tenant={tenant}" for source in sorted(INPUT_SOURCES)]


def compute_insight_summary(
    con: Session,
    tenant: str,
    period_start: dt.date,
    period_end: dt.date,
    computed_at: dt.datetime,
) -> dict[str, Any]:
    """``tenant``'s summary over ``period_start``..``period_end`` (both inclusive, UTC days).

    :param con: a warehouse session; three temp views are (re)created on it.
    :param tenant: the run's tenant; checked before any SQL runs. Only its rows are read.
    :param computed_at: the earliest ``computedAt`` (pass the data-interval end; see the module doc).
    :raises InvalidTenantId: for a tenant id that is not canonical.
    :raises InsightSummaryInvalid: if the result does not validate against the contract.
    """
    tenant = validate_tenant_id(tenant)
    if period_end < period_start:
        raise ValueError(f"period ends ({period_end}) before it starts ({period_start})")
    floor = _utc(computed_at, "computed_at")
    next_day = period_end + dt.timedelta(days=1)
    params = [
        tenant,
        f"{period_start.isoformat()}T00:00:00Z",
        f"{next_day.isoformat()}T00:00:00Z",
        period_start.isoformat(),
        period_end.isoformat(),
    ]
    create_input_views(con)
    rows = con.fetchall(summary_sql(con.dialect.sqlglot), params)
    metrics, stage_counts, changed_at = _metrics(rows)
    summary = {
        "schemaVersion": SCHEMA_VERSION,
        "tenantId": tenant,
        "summaryId": summary_id(period_start, period_end),
        "period": {"start": period_start.isoformat(), "end": period_end.isoformat()},
        "metrics": metrics,
        "topIntents": top_intents(stage_counts),
        "references": references(tenant),
        "computedAt": _as_of(floor, changed_at).strftime(TIMESTAMP_FORMAT),
    }
    return validate_summary(summary, tenant)


def summaries_for_tenants(
    warehouse: Warehouse,
    tenants: Iterable[str],
    period_start: dt.date,
    period_end: dt.date,
    computed_at: dt.datetime,
) -> dict[str, list[dict[str, Any]]]:
    """Every tenant's summaries (one per tenant today), over one short warehouse connection."""
    tenants = [validate_tenant_id(t) for t in tenants]
    # One tenant (an asset-triggered run) is attributed to it; several share the session's cost.
    tag = {"step": "insight_summary", "tenant": tenants[0] if len(tenants) == 1 else None}
    with warehouse.connect(tag=tag) as con:
        return {
            tenant: [compute_insight_summary(con, tenant, period_start, period_end, computed_at)]
            for tenant in tenants
        }


def validate_summary(summary: dict[str, Any], tenant: str) -> dict[str, Any]:
    """``summary`` if it is a valid ``insight-summary`` of ``tenant``; InsightSummaryInvalid otherwise."""
    from salestalk.contracts import parse_tenant_event

    event = parse_tenant_event(json.dumps(summary, allow_nan=False), CONTRACT, tenant)
    if not event.accepted:
        raise InsightSummaryInvalid(
            f"insight summary {summary.get('summaryId')!r} of tenant {tenant} breaks the "
            f"{CONTRACT} contract: {event.quarantine_reason}"
        )
    return summary


def top_intents(stage_counts: dict[str, int]) -> list[dict[str, Any]]:
    """Intents derived from deal stages (see :data:`STAGE_INTENTS`), most frequent first, then by name."""
    counts: dict[str, int] = {}
    for stage, count in stage_counts.items():
        intent = STAGE_INTENTS.get(stage, DEFAULT_INTENT)
        counts[intent] = counts.get(intent, 0) + count
    ranked = sorted((item for item in counts.items() if item[1] > 0), key=lambda kv: (-kv[1], kv[0]))
    return [{"intent": intent, "count": count} for intent, count in ranked]


def create_input_views(con: Session) -> None:
    """Temp views the SQL reads: over the real tables, or empty (typed) when a table does not exist."""
    from salestalk.warehouse.tables import table_exists

    d = con.dialect
    for view, (schema, name, columns) in INPUT_VIEWS.items():
        if table_exists(con, schema, name):
            # The view's columns keep the names the SQL uses (unquoted, so any case resolves).
            selected = ", ".join(f"{d.ident(c)} AS {c}" for c in columns)
            where = ""
            if view == "insight_publishes":
                step, sources = PUBLISH_FILTER
                where = f" WHERE {d.ident('step')} = '{step}' AND {d.ident('source')} IN ({', '.join(repr(x) for x in sources)})"
            body = f"SELECT {selected} FROM {d.table(schema, name)}{where}"
        else:
            log.info("%s.%s does not exist yet: its metrics are zero", schema, name)
            typed = ", ".join(
                f"CAST(NULL AS {d.column_type(kind)}) AS {column}" for column, kind in columns.items()
            )
            body = f"SELECT {typed} WHERE FALSE"
        con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {view} AS {body}")


def metric_name(prefix: str, *parts: str) -> str:
    """``prefix_part1_part2`` in the contract's snake_case form, at most 64 characters."""
    tokens = [_NOT_NAME.sub("_", part.lower()).strip("_") or "unknown" for part in parts]
    return "_".join([prefix, *tokens])[:MAX_METRIC_NAME].rstrip("_")


def _metrics(rows: list[tuple]) -> tuple[dict[str, int | float], dict[str, int], dt.datetime | None]:
    values: dict[str, Decimal] = dict.fromkeys(FIXED_METRICS, Decimal(0))
    stage_counts: dict[str, int] = {}
    totals: dict[str, Decimal] = {}
    changed_at = None
    for metric, stage, currency, value in rows:
        if metric == "inputs_changed_at_s":
            if value is not None:
                changed_at = dt.datetime.fromtimestamp(int(value), tz=dt.UTC)
            continue
        value = Decimal(0) if value is None else Decimal(value)
        if metric in BREAKDOWNS:
            parts = [p for p in (currency if metric in AMOUNT_METRICS else None, stage) if p is not None]
            name = metric_name(BREAKDOWNS[metric], *parts)
            values[name] = values.get(name, Decimal(0)) + value  # folded names add up
            if metric == "deals_updated_by_stage":
                stage_counts[stage] = stage_counts.get(stage, 0) + int(value)
        elif metric in FIXED_METRICS:
            values[metric] = value
        else:
            totals[metric] = value
    values["avg_call_duration_seconds"] = _ratio(
        totals.get("call_duration_seconds_total"), totals.get("calls_with_duration"), "0.1"
    )
    values["avg_sentiment"] = _ratio(
        totals.get("sentiment_total"), totals.get("calls_with_sentiment"), "0.0001"
    )
    return {name: _number(values[name]) for name in sorted(values)}, stage_counts, changed_at


def _ratio(total: Decimal | None, count: Decimal | None, quantum: str) -> Decimal:
    if not count:
        return Decimal(0)
    return (total / count).quantize(Decimal(quantum), rounding=ROUND_HALF_EVEN)


def _number(value: Decimal) -> int | float:
    """A JSON number that reads back the same from DynamoDB: an int when integral, else a float."""
    return int(value) if value == value.to_integral_value() else float(value)


def _as_of(floor: dt.datetime, changed_at: dt.datetime | None) -> dt.datetime:
    latest = max(floor, changed_at) if changed_at is not None else floor
    return latest.replace(microsecond=0)


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (got {value!r})")
    return value.astimezone(dt.UTC)
