"""The warehouse's tables and the statements every backend shares, spelt through a session's dialect.

Tables per source: ``staging.<source>``, ``quarantine.<source>``, ``curated.<source>`` and
``audit.<source>_verdicts`` (one row per failing row and reason); shared: ``audit.staging_loads``
(which load of a batch is current) and ``audit.batch_results`` (each step's result per batch). No
PRIMARY KEY or UNIQUE constraint is declared or relied on anywhere.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from salestalk.batch import as_utc, format_utc, parse_utc
from salestalk.land import MAX_REJECTIONS, RAW_META_COLUMNS
from salestalk.names import (
    AUDIT,
    BATCH_RESULTS,
    CURATED,
    QUARANTINE_SCHEMA,
    SCHEMAS,
    STAGING,
    STAGING_LOADS,
    STEP_RUNS,
    verdicts_table,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Session, Warehouse
    from salestalk.warehouse.dialect import Dialect

BATCH_PARAMS = "batch_params"
BATCH_ROWS = "batch_rows"
BATCH_NEWEST = "batch_newest"
# Staging's bookkeeping columns, after the source's own; their config-like types.
META_COLUMNS = {
    "_record_num": "bigint",
    "_tenant_id": "string",
    "_run_id": "string",
    "_interval_start": "timestamp",
    "_interval_end": "timestamp",
    "_loaded_at": "timestamp",
    "_extra_json": "string",
    "_cast_failures": "array",
    "_load_id": "string",
}
CURATED_META = ("_tenant_id", "_loaded_at", "_interval_start")
FINITE_NUMBER = "[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]{1,3})?"  # no NaN, no Infinity


def _type(d: Dialect, kind: str) -> str:
    return d.array_type if kind == "array" else d.column_type(kind)


def _columns(d: Dialect, columns: dict[str, str]) -> str:
    return ", ".join(f"{d.ident(name)} {_type(d, kind)}" for name, kind in columns.items())


def source_columns(source: SourceConfig) -> dict[str, str]:
    return {c.name: c.type for c in source.table_schema.columns}


def staging_columns(source: SourceConfig) -> dict[str, str]:
    return {**source_columns(source), **META_COLUMNS}


def raw_columns(d: Dialect, source: SourceConfig) -> list[str]:
    """The raw relation a backend stages landed parts into: every value as text, as landed."""
    text = [c for c in (*source.table_schema.column_names, *RAW_META_COLUMNS) if c != "_record_num"]
    return [f"{d.ident('_record_num')} {d.column_type('bigint')}"] + [f"{d.ident(c)} VARCHAR" for c in text]


def ensure_tables(s: Session, source: SourceConfig) -> None:
    """Create the source's tables and the audit tables that do not exist yet. Every session of a step calls
    it, so the usual case, nothing missing, is one catalog query instead of eleven statements."""
    d = s.dialect
    staged = staging_columns(source)
    quarantined = {**staged, "_raw_record": "string", "_reasons": "array", "_quarantined_run_id": "string"}
    curated = {**source_columns(source), **{c: META_COLUMNS[c] for c in CURATED_META}}
    curated["_published_run_id"] = "string"
    verdicts = {
        "_tenant_id": "string",
        "_interval_start": "timestamp",
        "_record_num": "bigint",
        "_reason_pos": "bigint",
        "_reason": "string",
    }
    loads = {
        "source": "string",
        "tenant": "string",
        "interval_start": "timestamp",
        "load_id": "string",
        "loaded_at": "timestamp",
    }
    results = {
        "source": "string",
        "tenant": "string",
        "interval_start": "timestamp",
        "interval_end": "timestamp",
        "run_id": "string",
        "step": "string",
        "result": "string",
        "recorded_at": "timestamp",
    }
    wanted = (
        (STAGING, source.name, staged),
        (QUARANTINE_SCHEMA, source.name, quarantined),
        (CURATED, source.name, curated),
        (AUDIT, verdicts_table(source.name), verdicts),
        (AUDIT, STAGING_LOADS, loads),
        (AUDIT, BATCH_RESULTS, results),
        (AUDIT, STEP_RUNS, STEP_RUN_COLUMNS),
    )
    names = sorted({name.upper() for _, name, _ in wanted})
    existing = set(
        s.fetchall(
            "SELECT UPPER(table_schema), UPPER(table_name) FROM information_schema.tables "
            f"WHERE {d.own_tables} AND UPPER(table_name) IN ({', '.join('?' for _ in names)})",
            names,
        )
    )
    missing = [
        (schema, name, columns)
        for schema, name, columns in wanted
        if (schema.upper(), name.upper()) not in existing
    ]
    if not missing:
        return
    for schema in SCHEMAS:
        s.execute(f"CREATE SCHEMA IF NOT EXISTS {d.ident(schema)}")
    for schema, name, columns in missing:
        s.execute(f"CREATE TABLE IF NOT EXISTS {d.table(schema, name)} ({_columns(d, columns)})")


def set_batch(
    s: Session,
    batch: Batch,
    *,
    loaded_at: str | None = None,
    load_id: str | None = None,
    admit: tuple[str, str] | None = None,
) -> None:
    """The session's one-row ``batch_params`` temp table: the batch's values, bound once, joined later.

    ``admit`` is the (since, before) range of cursor values the batch's rows may carry.
    """
    d = s.dialect
    ts = d.column_type("timestamp")
    fields = [
        ("source", "VARCHAR", batch.source),
        ("tenant", "VARCHAR", batch.tenant),
        ("interval_start", ts, format_utc(batch.interval_start)),
        ("interval_end", ts, format_utc(batch.interval_end)),
        ("run_id", "VARCHAR", batch.run_id),
        ("loaded_at", ts, loaded_at),
        ("load_id", "VARCHAR", load_id),
        ("admit_since", ts, admit[0] if admit else None),
        ("admit_before", ts, admit[1] if admit else None),
    ]
    select = ", ".join(f"CAST(? AS {kind}) AS {d.ident(name)}" for name, kind, _ in fields)
    s.execute(
        f"CREATE OR REPLACE TEMPORARY TABLE {d.ident(BATCH_PARAMS)} AS SELECT {select}",
        [value for _, _, value in fields],
    )


def batch_filter(d: Dialect, batch: Batch, alias: str = "") -> tuple[str, list[Any]]:
    """``_tenant_id = ? AND _interval_start = ?`` for ``batch``, with its values."""
    prefix = f"{alias}." if alias else ""
    ts = d.column_type("timestamp")
    return (
        f"{prefix}{d.ident('_tenant_id')} = ? AND {prefix}{d.ident('_interval_start')} = CAST(? AS {ts})",
        [batch.tenant, format_utc(batch.interval_start)],
    )


def table_exists(s: Session, schema: str, name: str) -> bool:
    """Whether ``schema.name`` exists (names compared case-insensitively: Snowflake reports them upper-case)."""
    return bool(
        s.fetchall(
            f"SELECT COUNT(*) FROM information_schema.tables WHERE {s.dialect.own_tables} "
            "AND UPPER(table_schema) = ? AND UPPER(table_name) = ?",
            [schema.upper(), name.upper()],
        )[0][0]
    )


# -- step results --------------------------------------------------------------------------------------

STEP_RUN_COLUMNS = {
    "source": "string",
    "tenant": "string",
    "interval_start": "timestamp",
    "step": "string",
    "run_id": "string",
    "result": "string",
    "recorded_at": "timestamp",
}


def finished_steps(
    s: Session, source: str, interval_start: dt.datetime, run_id: str, tenants: list[str]
) -> dict[str, dict[str, dict]]:
    """``{tenant: {step: counts}}`` of the steps ``tenants`` finished for the interval in run ``run_id``."""
    d = s.dialect
    i = d.ident
    if not tenants or not table_exists(s, AUDIT, STEP_RUNS):
        return {}
    rows = s.fetchall(
        f"SELECT {i('tenant')}, {i('step')}, {i('result')} FROM {d.table(AUDIT, STEP_RUNS)} "
        f"WHERE {i('source')} = ? AND {i('interval_start')} = CAST(? AS {d.column_type('timestamp')}) "
        f"AND {i('run_id')} = ? AND {i('tenant')} IN ({', '.join('?' for _ in tenants)})",
        [source, format_utc(interval_start), run_id, *tenants],
    )
    found: dict[str, dict[str, dict]] = {}
    for tenant, step, result in rows:
        found.setdefault(tenant, {})[step] = json.loads(result)
    return found


def record_finished(
    s: Session, source: str, interval_start: dt.datetime, run_id: str, step: str, results: dict[str, dict]
) -> None:
    """Note that each tenant of ``results`` finished ``step`` for the interval in run ``run_id`` (one row per
    tenant, interval and step: a later run's row replaces it)."""
    if not results:
        return
    d = s.dialect
    i = d.ident
    table = d.table(AUDIT, STEP_RUNS)
    ts = d.column_type("timestamp")
    s.execute(f"CREATE SCHEMA IF NOT EXISTS {i(AUDIT)}")
    s.execute(f"CREATE TABLE IF NOT EXISTS {table} ({_columns(d, STEP_RUN_COLUMNS)})")
    tenants = list(results)
    s.execute("BEGIN")
    s.execute(
        f"DELETE FROM {table} WHERE {i('source')} = ? AND {i('interval_start')} = CAST(? AS {ts}) "
        f"AND {i('step')} = ? AND {i('tenant')} IN ({', '.join('?' for _ in tenants)})",
        [source, format_utc(interval_start), step, *tenants],
    )
    for tenant, counts in results.items():
        s.execute(
            f"INSERT INTO {table} SELECT ?, ?, CAST(? AS {ts}), ?, ?, ?, CURRENT_TIMESTAMP",
            [
                source,
                tenant,
                format_utc(interval_start),
                step,
                run_id,
                json.dumps(counts, sort_keys=True, default=str),
            ],
        )
    s.execute("COMMIT")


def _result_key(d: Dialect) -> str:
    i = d.ident
    return (
        f"{i('source')} = ? AND {i('tenant')} = ? AND {i('interval_start')} = "
        f"CAST(? AS {d.column_type('timestamp')}) AND {i('step')} = ?"
    )


def record_result(s: Session, batch: Batch, step: str, result: dict) -> None:
    """Replace ``batch``'s result of ``step`` (one transaction)."""
    record_results(s, [(batch, step, result)])


def record_results(s: Session, results: list[tuple[Batch, str, dict]]) -> None:
    """Replace each batch's result of its step, all in one transaction."""
    if not results:
        return
    d = s.dialect
    table = d.table(AUDIT, BATCH_RESULTS)
    ts = d.column_type("timestamp")
    s.execute("BEGIN")
    for batch, step, result in results:
        s.execute(
            f"DELETE FROM {table} WHERE {_result_key(d)}",
            [batch.source, batch.tenant, format_utc(batch.interval_start), step],
        )
        s.execute(
            f"INSERT INTO {table} SELECT ?, ?, CAST(? AS {ts}), CAST(? AS {ts}), ?, ?, ?, CURRENT_TIMESTAMP",
            [
                batch.source,
                batch.tenant,
                format_utc(batch.interval_start),
                format_utc(batch.interval_end),
                batch.run_id,
                step,
                json.dumps(result, sort_keys=True, default=str),
            ],
        )
    s.execute("COMMIT")


_deferred: contextvars.ContextVar[list[tuple[Batch, str, dict]] | None] = contextvars.ContextVar(
    "deferred_results", default=None
)


@contextmanager
def deferred_results() -> Generator[list[tuple[Batch, str, dict]], None, None]:
    """Collect the results :func:`save_result` is given inside the block (and in threads that copy this
    context) instead of writing each in a session of its own; the caller records them with
    :func:`record_results`, e.g. in the one session that notes a shard's finished tenants."""
    pending: list[tuple[Batch, str, dict]] = []
    token = _deferred.set(pending)
    try:
        yield pending
    finally:
        _deferred.reset(token)


def save_result(
    warehouse: Warehouse, batch: Batch, step: str, result: dict, *, tag: dict[str, str] | None = None
) -> None:
    """Record ``batch``'s result of ``step`` in a session of its own (tagged ``tag``), or hand it to the
    enclosing :func:`deferred_results` block."""
    pending = _deferred.get()
    if pending is not None:
        pending.append((batch, step, result))
        return
    with warehouse.connect(tag=tag) as s:
        record_result(s, batch, step, result)


def read_result(s: Session, batch: Batch, step: str) -> dict | None:
    d = s.dialect
    rows = s.fetchall(
        f"SELECT {d.ident('result')} FROM {d.table(AUDIT, BATCH_RESULTS)} WHERE {_result_key(d)}",
        [batch.source, batch.tenant, format_utc(batch.interval_start), step],
    )
    return json.loads(rows[0][0]) if rows else None


def tenant_history(
    s: Session, source: str, tenant: str, since: dt.datetime, before: dt.datetime, steps: tuple[str, ...]
) -> dict[dt.datetime, dict[str, tuple[dict, dt.datetime]]]:
    """``{interval_start: {step: (result, recorded_at)}}`` of one tenant's batches in ``[since, before)``."""
    d = s.dialect
    i = d.ident
    ts = d.column_type("timestamp")
    marks = ", ".join("?" for _ in steps)
    rows = s.fetchall(
        f"SELECT {i('interval_start')}, {i('step')}, {i('result')}, {i('recorded_at')} "
        f"FROM {d.table(AUDIT, BATCH_RESULTS)} "
        f"WHERE {i('source')} = ? AND {i('tenant')} = ? AND {i('interval_start')} >= CAST(? AS {ts}) "
        f"AND {i('interval_start')} < CAST(? AS {ts}) AND {i('step')} IN ({marks})",
        [source, tenant, format_utc(since), format_utc(before), *steps],
    )
    history: dict[dt.datetime, dict[str, tuple[dict, dt.datetime]]] = {}
    for start, step, result, recorded in rows:
        history.setdefault(as_utc(start), {})[step] = (json.loads(result), as_utc(recorded))
    return history


def batch_results(warehouse: Warehouse, source: str, interval_start: dt.datetime | str) -> dict[str, dict]:
    """``{tenant: {step: result}}`` recorded for every batch of ``source`` starting at ``interval_start``."""
    with warehouse.connect(tag={"source": source, "step": "read_results"}) as s:
        d = s.dialect
        if not table_exists(s, AUDIT, BATCH_RESULTS):
            return {}
        rows = s.fetchall(
            f"SELECT {d.ident('tenant')}, {d.ident('step')}, {d.ident('result')} "
            f"FROM {d.table(AUDIT, BATCH_RESULTS)} WHERE {d.ident('source')} = ? "
            f"AND {d.ident('interval_start')} = CAST(? AS {d.column_type('timestamp')})",
            [source, format_utc(parse_utc(interval_start))],
        )
    results: dict[str, dict] = {}
    for tenant, step, result in rows:
        results.setdefault(tenant, {})[step] = json.loads(result)
    return results


def latest_interval(warehouse: Warehouse, source: str) -> str | None:
    """The newest interval start recorded for ``source``, or None."""
    with warehouse.connect(tag={"source": source, "step": "read_results"}) as s:
        d = s.dialect
        if not table_exists(s, AUDIT, BATCH_RESULTS):
            return None
        latest = s.fetchall(
            f"SELECT MAX({d.ident('interval_start')}) FROM {d.table(AUDIT, BATCH_RESULTS)} "
            f"WHERE {d.ident('source')} = ?",
            [source],
        )[0][0]
    return format_utc(parse_utc(latest)) if latest else None


# -- load --------------------------------------------------------------------------------------------


def cast_expression(d: Dialect, column: str, column_type: str) -> str:
    """Raw text to the schema type; NULL when it does not cast (the same verdicts on every backend)."""
    raw = f"r.{d.ident(column)}"
    if column_type == "string":
        return raw
    if column_type == "integer":
        digits = d.full_match.format(value=f"TRIM({raw})", pattern="[+-]?[0-9]{1,18}")
        return f"CASE WHEN {digits} THEN TRY_CAST(TRIM({raw}) AS {d.column_type('integer')}) END"
    if column_type == "float":
        number = d.full_match.format(value=f"TRIM({raw})", pattern=FINITE_NUMBER)
        return f"CASE WHEN {number} THEN TRY_CAST(TRIM({raw}) AS {d.column_type('float')}) END"
    if column_type == "boolean":
        return f"CASE LOWER(TRIM({raw})) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
    return f"TRY_CAST({raw} AS {d.column_type(column_type)})"


def raw_record_expression(d: Dialect, source: SourceConfig) -> str:
    """The record as landed, JSON text: the schema's fields (null when absent) and any unknown fields."""
    pairs = ", ".join(f"'{c}', r.{d.ident(c)}" for c in source.table_schema.column_names)
    known = d.json_object.format(pairs=pairs)
    extra = f"r.{d.ident('_extra_json')}"
    return (
        f"CASE WHEN {extra} IS NULL OR {extra} = '{{}}' THEN {known} "
        f"ELSE SUBSTR({known}, 1, LENGTH({known}) - 1) || ',' || SUBSTR({extra}, 2) END"
    )


def cast_failures_expression(d: Dialect, source: SourceConfig) -> str:
    """The row's cast failures, then its pre-landing rejections (split back from ``_rejections``)."""
    failures = [
        f"CASE WHEN r.{d.ident(c.name)} IS NOT NULL AND ({cast_expression(d, c.name, c.type)}) IS NULL "
        f"THEN 'cast_to_{c.type}({c.name})' END"
        for c in source.table_schema.columns
        if c.type != "string"
    ]
    rejections = [
        f"NULLIF(SPLIT_PART(r.{d.ident('_rejections')}, CHR(31), {n}), '')"
        for n in range(1, MAX_REJECTIONS + 1)
    ]
    landed = f"r.{d.ident('_rejections')}"
    only_casts = d.compact_array.format(items=", ".join(failures or ["CAST(NULL AS VARCHAR)"]))
    everything = d.compact_array.format(items=", ".join([*failures, *rejections]))
    return f"CASE WHEN {landed} IS NULL THEN {only_casts} ELSE {everything} END"


def insert_staging_sql(d: Dialect, source: SourceConfig, raw: str) -> str:
    """Cast the raw relation into ``staging.<source>`` under the batch's new load id."""
    i = d.ident
    p = "p."
    casts = [f"{cast_expression(d, c.name, c.type)} AS {i(c.name)}" for c in source.table_schema.columns]
    values = [
        *casts,
        f"r.{i('_record_num')}",
        p + i("tenant"),
        p + i("run_id"),
        p + i("interval_start"),
        p + i("interval_end"),
        p + i("loaded_at"),
        f"r.{i('_extra_json')}",
        cast_failures_expression(d, source),
        p + i("load_id"),
    ]
    target = ", ".join(i(c) for c in staging_columns(source))
    return (
        f"INSERT INTO {d.table(STAGING, source.name)} ({target}) SELECT {', '.join(values)} "
        f"FROM {raw} r CROSS JOIN {i(BATCH_PARAMS)} p"
    )


def point_batch_at_load(s: Session, source: SourceConfig, batch: Batch) -> None:
    """Make the batch's new load current (one small transaction), then delete its older loads."""
    d = s.dialect
    i = d.ident
    loads = d.table(AUDIT, STAGING_LOADS)
    key = f"{i('source')} = ? AND {i('tenant')} = ? AND {i('interval_start')} = CAST(? AS {d.column_type('timestamp')})"
    s.execute("BEGIN")
    s.execute(
        f"DELETE FROM {loads} WHERE {key}", [source.name, batch.tenant, format_utc(batch.interval_start)]
    )
    s.execute(
        f"INSERT INTO {loads} SELECT {i('source')}, {i('tenant')}, {i('interval_start')}, {i('load_id')}, "
        f"CURRENT_TIMESTAMP FROM {i(BATCH_PARAMS)}"
    )
    s.execute("COMMIT")
    where, params = batch_filter(d, batch)
    s.execute(
        f"DELETE FROM {d.table(STAGING, source.name)} WHERE {where} AND {i('_load_id')} <> "
        f"(SELECT {i('load_id')} FROM {i(BATCH_PARAMS)})",
        params,
    )


def select_batch_rows(s: Session, source: SourceConfig) -> None:
    """``batch_rows``: a view of the batch's rows of its current staging load (needs :func:`set_batch`).
    A view, not a copy: each query reads only the columns it needs."""
    d = s.dialect
    i = d.ident
    s.execute(
        f"CREATE OR REPLACE TEMPORARY VIEW {i(BATCH_ROWS)} AS SELECT st.* "
        f"FROM {d.table(STAGING, source.name)} st JOIN {i(BATCH_PARAMS)} p "
        f"ON st.{i('_tenant_id')} = p.{i('tenant')} AND st.{i('_interval_start')} = p.{i('interval_start')} "
        f"JOIN {d.table(AUDIT, STAGING_LOADS)} l ON l.{i('source')} = p.{i('source')} "
        f"AND l.{i('tenant')} = p.{i('tenant')} AND l.{i('interval_start')} = p.{i('interval_start')} "
        f"AND st.{i('_load_id')} = l.{i('load_id')}"
    )


def row_counts(
    warehouse: Warehouse, schemas: tuple[str, ...] = (STAGING, QUARANTINE_SCHEMA, CURATED)
) -> list[tuple]:
    """``("schema.table", rows)`` for every table in ``schemas``, by table then schema name."""
    with warehouse.connect(tag={"step": "row_counts"}) as s:
        found = s.fetchall(
            "SELECT LOWER(table_schema), LOWER(table_name) FROM information_schema.tables "
            f"WHERE {s.dialect.own_tables} AND LOWER(table_schema) IN ({', '.join('?' for _ in schemas)}) AND table_type = 'BASE TABLE'",
            list(schemas),
        )
        return [
            (
                f"{schema}.{name}",
                int(s.fetchall(f"SELECT COUNT(*) FROM {s.dialect.table(schema, name)}")[0][0]),
            )
            for schema, name in sorted(found, key=lambda t: (t[1], t[0]))
        ]
