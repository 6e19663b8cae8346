"""The five steps of a source batch, free of Airflow: extract, load to staging, validate, quarantine, publish.

Each step takes the source config, the batch (source, tenant, interval, run id) and the I/O handles,
does its work idempotently for that batch, and returns a small dict of counts.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc, parse_utc
from salestalk.config.models import EventsExtract, RestApiExtract, S3FilesExtract
from salestalk.land import iter_raw_parts, land_records, read_manifest
from salestalk.storage.keys import interval_segments
from salestalk.storage.tenant_s3 import TenantS3
from salestalk.warehouse.sqlparts import q, table

if TYPE_CHECKING:
    import requests

    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.duckdb_backend import DuckDBWarehouse
    from salestalk.warehouse.snowflake_backend import SnowflakeWarehouse

log = logging.getLogger(__name__)

GX_FULL_SUITE_MAX_ROWS = 200_000
GX_SCHEMA_SAMPLE_ROWS = 1_000
ROW_COUNT_TYPES = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})


class PublishHeldBack(RuntimeError):
    """The batch failed its quality gate; its rows stay in staging and quarantine for redrive."""


class MissingUpstream(RuntimeError):
    """A step ran before the step it depends on produced its output for this batch."""


@dataclass
class Services:
    s3_client: Any
    bucket: str
    warehouse: DuckDBWarehouse | SnowflakeWarehouse
    http_session: requests.Session | None = None
    api_base_url: str | None = None
    guards: dict[str, TenantS3] = field(default_factory=dict)

    def tenant_s3(self, tenant: str) -> TenantS3:
        """The one S3 guard for ``tenant`` in this step, so its write counts add up."""
        if tenant not in self.guards:
            self.guards[tenant] = TenantS3(self.s3_client, self.bucket, tenant)
        return self.guards[tenant]

    def s3_write_counts(self) -> dict[str, dict[str, int]]:
        """Per tenant: attempted = written + duplicate (identical bytes already there) + blocked.

        A source step never dead-letters an S3 write: a conflict or a blocked key fails the task.
        """
        return {
            tenant: {
                "attempted": guard.stats.written + guard.stats.duplicate + guard.stats.blocked,
                "blocked": guard.stats.blocked,
                "written": guard.stats.written,
                "duplicate": guard.stats.duplicate,
                "dead_lettered": 0,
            }
            for tenant, guard in self.guards.items()
        }


def native_step(services: Services, step: str) -> Any:
    """The backend's own implementation of ``step`` (Snowflake SQL), or None to run the DuckDB SQL here."""
    return getattr(services.warehouse, f"{step}_step", None)


def read_cursor(s3: TenantS3, source: str) -> dt.datetime | None:
    """The newest entry of the append-only cursor log ``state/{source}/cursor/``."""
    keys = sorted(s3.list_keys("state", source, "cursor"))
    return parse_utc(json.loads(s3.get_bytes(keys[-1]))["cursor"]) if keys else None


def advance_cursor(s3: TenantS3, source: str, cursor: dt.datetime) -> None:
    key = s3.key("state", source, "cursor", f"{cursor.strftime('%Y%m%dT%H%M%SZ')}.json")
    s3.put_bytes(key, json.dumps({"cursor": format_utc(cursor)}).encode(), "application/json")


def extract_window(
    batch: Batch, overlap: dt.timedelta, cursor: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """From the older of the interval start and the stored cursor, minus the overlap, to the interval end."""
    start = batch.interval_start if cursor is None else min(cursor, batch.interval_start)
    return start - overlap, batch.interval_end


class RejectionTally:
    """Wraps a screen and counts the rows it rejects, per reason."""

    def __init__(self, screen: Any) -> None:
        self.screen = screen
        self.reasons: dict[str, int] = {}

    def __call__(self, item: Any) -> tuple[dict[str, Any], list[str]]:
        record, reasons = self.screen(item)
        for reason in reasons:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return record, reasons

    @property
    def tenant_mismatches(self) -> int:
        return sum(n for r, n in self.reasons.items() if r.startswith("contract_tenant_mismatch("))


def _pii_screen(source: SourceConfig, tenant: str):
    from salestalk.pii import pii_screen
    from salestalk.quality.suite import load_suite, suite_path

    return pii_screen(load_suite(suite_path(source.expectation_suite)), source.table_schema.pii, tenant)


def extract_and_land(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    s3 = services.tenant_s3(batch.tenant)
    columns = source.table_schema.column_names
    extract = source.extract
    previous = read_manifest(s3, batch)
    stats: dict[str, Any] = {}
    pii = _pii_screen(source, batch.tenant)
    tally = RejectionTally(pii)
    if isinstance(extract, RestApiExtract):
        from salestalk.extract.rest import RestExtractor, RestSpec

        if previous is not None:
            window = (parse_utc(previous.window_since), parse_utc(previous.window_before))
        else:
            overlap = dt.timedelta(minutes=extract.overlap_minutes)
            window = extract_window(batch, overlap, read_cursor(s3, batch.source))
        spec = RestSpec(
            base_url=services.api_base_url or "",
            path=extract.path,
            style=extract.pagination.style,
            page_size=extract.pagination.page_size,
            rate_limit_per_second=extract.rate_limit_per_second,
            timeout_seconds=extract.timeout_seconds,
            max_attempts=extract.max_attempts,
        )
        extractor = RestExtractor(services.http_session, spec)
        pages = extractor.pages(batch.tenant, *window)
        manifest = land_records(
            pages, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally
        )
        stats = {
            "requests": extractor.stats.requests,
            "retries": extractor.stats.retries,
            "throttled": extractor.stats.throttled,
            "repeated_pages": extractor.stats.repeated_pages,
        }
    elif isinstance(extract, S3FilesExtract):
        from salestalk.extract.s3_files import file_pages

        window = (batch.interval_start, batch.interval_end)
        pages = file_pages(s3, extract.prefix_pattern, batch.ds, extract.format)
        manifest = land_records(
            pages, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally
        )
    elif isinstance(extract, EventsExtract):
        from salestalk.extract.events import EventScreen, event_lines

        window = (batch.interval_start, batch.interval_end)
        tally = RejectionTally(
            EventScreen(
                contract=extract.contract,
                version=extract.version,
                fields=extract.fields,
                tenant=batch.tenant,
                time_column=source.table_schema.cursor_column,
                not_after=batch.interval_end + dt.timedelta(minutes=extract.max_clock_skew_minutes),
                pii=pii,
            )
        )
        pages = event_lines(s3, extract.prefix_pattern, batch.ds)
        manifest = land_records(
            pages, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally
        )
    else:  # pragma: no cover - the config model admits no other kind
        raise TypeError(f"unsupported extract kind {extract!r}")
    cursor = read_cursor(s3, batch.source)
    if cursor is None or window[1] > cursor:
        advance_cursor(s3, batch.source, window[1])
    counts = {
        "extracted": manifest.rows,
        "landed": sum(p["rows"] for p in manifest.parts),
        "parts": len(manifest.parts),
        "rejected_before_landing": manifest.rejected,
        "blocked_tenant_mismatch": tally.tenant_mismatches,
        "rejection_reasons": dict(sorted(tally.reasons.items())),
        "window_since": manifest.window_since,
        "window_before": manifest.window_before,
        **stats,
    }
    log.info("extract %s: %s", batch.describe(), counts)
    return counts


def load_to_staging(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    s3 = services.tenant_s3(batch.tenant)
    manifest = read_manifest(s3, batch)
    if manifest is None:
        raise MissingUpstream(f"no landed manifest for {batch.describe()}; run extract first")
    staged = services.warehouse.replace_staging(
        source,
        batch,
        iter_raw_parts(s3, manifest),
        manifest.landed_at,
        manifest=manifest,
        raw_bytes=s3.get_bytes,
    )
    if staged != manifest.rows:
        raise RuntimeError(
            f"staged {staged} rows but the manifest lists {manifest.rows} for {batch.describe()}"
        )
    counts = {"staged": staged}
    with services.warehouse.connect() as con:
        services.warehouse.record_result(
            con,
            batch,
            "load",
            {**counts, "observed_columns": manifest.observed_columns, "landed": manifest.rows},
        )
    log.info("load_to_staging %s: %s", batch.describe(), counts)
    return counts


def _batch_view_sql(source: SourceConfig, batch: Batch) -> str:
    """The batch's rows of its current staging load. Literals are safe: the tenant id and the
    timestamp are validated and formatted by us, and the source name is a checked identifier."""
    tenant, start = batch.tenant, format_utc(batch.interval_start)
    return (
        f"SELECT * FROM {table('staging', source.name)} WHERE _tenant_id = '{tenant}' "
        f"AND _interval_start = '{start}'::TIMESTAMPTZ AND _load_id = (SELECT load_id FROM "
        f"audit.staging_loads WHERE source = '{source.name}' AND tenant = '{tenant}' "
        f"AND interval_start = '{start}'::TIMESTAMPTZ)"
    )


def validate(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    if (native := native_step(services, "validate")) is not None:
        return native(source, batch, services)
    from salestalk.pii import landed_suite
    from salestalk.quality import sql as quality_sql
    from salestalk.quality.suite import load_suite, suite_path

    schema = source.table_schema
    suite = landed_suite(load_suite(suite_path(source.expectation_suite)), schema.pii)
    pk_null = " OR ".join(f"{q(c)} IS NULL" for c in schema.primary_key)
    verdicts = table("audit", source.name + "_verdicts")
    wh = services.warehouse
    with wh.connect() as con:
        wh.ensure_tables(con, source)
        load = wh.read_result(con, batch, "load")
        if load is None:
            raise MissingUpstream(
                f"no staged rows recorded for {batch.describe()}; run load_to_staging first"
            )
        con.execute(f"CREATE OR REPLACE TEMP VIEW batch_rows AS {_batch_view_sql(source, batch)}")
        rule_sql, rule_params = quality_sql.row_failure_query(
            "batch_rows", suite, row_id_column="_record_num", columns=quality_sql.describe(con, "batch_rows")
        )
        builtin = (
            f"list_filter([CASE WHEN {pk_null} THEN 'primary_key_null' END, "
            f"CASE WHEN {q(schema.cursor_column)} IS NULL THEN 'cursor_null' END], lambda x: x IS NOT NULL)"
        )
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"DELETE FROM {verdicts} WHERE _tenant_id = ? AND _interval_start = ?::TIMESTAMPTZ",
            [batch.tenant, format_utc(batch.interval_start)],
        )
        con.execute(
            f"INSERT INTO {verdicts} SELECT _tenant_id, _interval_start, _record_num, reasons FROM ("
            f"SELECT b._tenant_id, b._interval_start, b._record_num, "
            f"list_concat({builtin}, b._cast_failures, coalesce(r.reasons, []::VARCHAR[])) AS reasons "
            f"FROM batch_rows b LEFT JOIN ({rule_sql}) r ON r._record_num = b._record_num"
            ") WHERE len(reasons) > 0",
            rule_params,
        )
        con.execute("COMMIT")
        rows, failing = con.execute(
            f"SELECT count(*), count(v._record_num) FROM batch_rows b LEFT JOIN {verdicts} v "
            "ON v._tenant_id = b._tenant_id AND v._interval_start = b._interval_start "
            "AND v._record_num = b._record_num"
        ).fetchall()[0]
        pk = ", ".join(q(c) for c in schema.primary_key)
        unique_passing = con.execute(
            f"SELECT count(*) FROM (SELECT DISTINCT {pk} FROM batch_rows b WHERE NOT EXISTS ("
            f"SELECT 1 FROM {verdicts} v WHERE v._tenant_id = b._tenant_id "
            "AND v._interval_start = b._interval_start AND v._record_num = b._record_num))"
        ).fetchall()[0][0]
        reason_counts = dict(
            con.execute(
                f"SELECT reason, count(*) FROM (SELECT unnest(reasons) AS reason FROM {verdicts} "
                "WHERE _tenant_id = ? AND _interval_start = ?::TIMESTAMPTZ) GROUP BY reason ORDER BY reason",
                [batch.tenant, format_utc(batch.interval_start)],
            ).fetchall()
        )
        observed = load["observed_columns"]
        present = [c for c in schema.column_names if observed.get(c, 0) > 0 or not rows]
        extra = sorted(c for c in observed if c not in schema.column_names and _safe_name(c))
        drift_columns = [q(c) for c in present] + [f"NULL::VARCHAR AS {q(c)}" for c in extra]
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW batch_observed AS SELECT {', '.join(drift_columns)} FROM batch_rows"
        )
        checks = quality_sql.table_checks(con, "batch_observed", suite)
        table_failures = [_describe_check(c) for c in checks if not c.success]
        gx = _run_gx(con, suite, batch, rows, schema.primary_key)
        _cross_check(gx, reason_counts, batch)
        passing = rows - failing
        result = {
            "rows": rows,
            "failing": failing,
            "passing": passing,
            "passed": unique_passing,
            "duplicates_dropped": passing - unique_passing,
            "error_rate": failing / rows if rows else 0.0,
            "reasons": reason_counts,
            "table_failures": table_failures,
            "unexpected_columns": extra,
            "missing_columns": [c for c in schema.column_names if c not in present] if rows else [],
            "gx_success": gx.success,
            "gx_scope": "full suite" if rows <= GX_FULL_SUITE_MAX_ROWS else "schema expectations on a sample",
            "data_docs": str(gx.docs_index) if gx.docs_index else None,
        }
        wh.record_result(con, batch, "validate", result)
    log.info("validate %s: %s", batch.describe(), result)
    return result


def _run_gx(con: Any, suite: Any, batch: Batch, rows: int, key_columns: list[str]) -> Any:
    """Real GX on the batch for its own results and the Data Docs; row verdicts come from the SQL.

    Up to GX_FULL_SUITE_MAX_ROWS rows GX checks the whole suite, which also cross-checks the SQL.
    Above that GX checks only the schema expectations on a small sample, so memory stays flat;
    the row verdicts and row count of a large batch come from the SQL alone.
    """
    import dataclasses

    from salestalk.quality.gx_runner import run_gx

    frame_sql = "SELECT * FROM batch_observed"
    if rows > GX_FULL_SUITE_MAX_ROWS:
        schema_only = tuple(e for _, e in suite.table_level() if e.type not in ROW_COUNT_TYPES)
        suite = dataclasses.replace(suite, expectations=schema_only)
        frame_sql += f" LIMIT {GX_SCHEMA_SAMPLE_ROWS}"
    frame = con.sql(frame_sql).df()
    return run_gx(
        frame,
        suite,
        [c for c in key_columns if c in frame.columns],
        result_format="SUMMARY",
        build_docs=True,
        run_name=f"{batch.source}-{batch.tenant}-{batch.interval_label}",
    )


def _cross_check(gx: Any, reason_counts: dict[str, int], batch: Batch) -> None:
    for outcome in gx.results:
        if outcome.unexpected_count is None or outcome.exception or outcome.column is None:
            continue
        if outcome.unexpected_count != reason_counts.get(outcome.reason, 0):
            raise RuntimeError(
                f"GX and the compiled SQL disagree on {outcome.reason} for {batch.describe()}: "
                f"GX counts {outcome.unexpected_count}, SQL {reason_counts.get(outcome.reason, 0)}"
            )


def _safe_name(column: str) -> bool:
    try:
        q(column)
    except ValueError:
        return False
    return True


def _describe_check(check: Any) -> str:
    return f"{check.type}: observed {check.observed}, expected {check.expected}"


def quarantine(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    if (native := native_step(services, "quarantine")) is not None:
        return native(source, batch, services)
    wh = services.warehouse
    quarantine_table = table("quarantine", source.name)
    verdicts = table("audit", source.name + "_verdicts")
    with wh.connect() as con:
        wh.ensure_tables(con, source)
        if wh.read_result(con, batch, "validate") is None:
            raise MissingUpstream(f"no validation result for {batch.describe()}; run validate first")
        con.execute(f"CREATE OR REPLACE TEMP VIEW batch_rows AS {_batch_view_sql(source, batch)}")
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"DELETE FROM {quarantine_table} WHERE _tenant_id = ? AND _interval_start = ?::TIMESTAMPTZ",
            [batch.tenant, format_utc(batch.interval_start)],
        )
        con.execute(
            f"INSERT INTO {quarantine_table} SELECT b.*, v.reasons, ? FROM batch_rows b JOIN {verdicts} v "
            "ON v._tenant_id = b._tenant_id AND v._interval_start = b._interval_start "
            "AND v._record_num = b._record_num",
            [batch.run_id],
        )
        con.execute("COMMIT")
        rows = con.sql(
            f"SELECT _record_num, _raw_record, _reasons FROM {quarantine_table} "
            "WHERE _tenant_id = $tenant AND _interval_start = $start::TIMESTAMPTZ ORDER BY _record_num",
            params={"tenant": batch.tenant, "start": format_utc(batch.interval_start)},
        ).to_arrow_table()
        key = _write_quarantine_object(services.tenant_s3(batch.tenant), batch, rows)
        result = {"quarantined": rows.num_rows, "quarantine_key": key}
        wh.record_result(con, batch, "quarantine", result)
    log.info("quarantine %s: %s", batch.describe(), result)
    return result


def _write_quarantine_object(s3: TenantS3, batch: Batch, rows: Any) -> str:
    import hashlib

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd")
    body = sink.getvalue()
    segments = interval_segments("quarantine", batch.source, batch.interval_label)
    key = s3.key(*segments, f"quarantined-{hashlib.sha256(body).hexdigest()[:16]}.parquet")
    s3.put_bytes(key, body, data_class="quarantine")
    s3.delete([k for k in s3.list_keys(*segments) if k != key])
    return key


def hold_back_reason(source: SourceConfig, validation: dict[str, Any]) -> str | None:
    policy = source.quarantine
    if validation["table_failures"] and policy.on_table_failure == "hold":
        return "table-level checks failed: " + "; ".join(validation["table_failures"])
    if validation["error_rate"] > policy.max_error_rate:
        return (
            f"error rate {validation['error_rate']:.2%} ({validation['failing']} of {validation['rows']} rows) "
            f"is above the {policy.max_error_rate:.2%} limit"
        )
    return None


def publish_result(
    batch: Batch, validation: dict[str, Any], inserted: int, updated: int, changed: int
) -> dict[str, Any]:
    """The publish counts, after checking that the MERGE changed exactly the rows counted before it."""
    if changed != inserted + updated:
        raise RuntimeError(
            f"publish of {batch.describe()} changed {changed} rows, expected {inserted} inserts + {updated} updates"
        )
    return {
        "published": inserted + updated,
        "inserted": inserted,
        "updated": updated,
        "stale_skipped": validation["passed"] - inserted - updated,
    }


def publish(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    """MERGE the batch's passing rows into the curated table; older versions never win."""
    if (native := native_step(services, "publish")) is not None:
        return native(source, batch, services)
    wh = services.warehouse
    schema = source.table_schema
    verdicts = table("audit", source.name + "_verdicts")
    curated = table("curated", source.name)
    with wh.connect() as con:
        wh.ensure_tables(con, source)
        validation = wh.read_result(con, batch, "validate")
        if validation is None:
            raise MissingUpstream(f"no validation result for {batch.describe()}; run validate first")
        reason = hold_back_reason(source, validation)
        if reason:
            wh.record_result(con, batch, "publish", {"published": 0, "held_back": reason})
            raise PublishHeldBack(
                f"publish held back for {batch.describe()}: {reason}. Passing rows stay in staging and "
                f"failing rows in quarantine.{source.name}; see {source.runbook}"
            )
        con.execute(f"CREATE OR REPLACE TEMP VIEW batch_rows AS {_batch_view_sql(source, batch)}")
        pk = [q(c) for c in schema.primary_key]
        cursor = q(schema.cursor_column)
        columns = [q(c) for c in schema.column_names]
        meta = ["_tenant_id", "_loaded_at", "_interval_start"]
        on = " AND ".join(f"t.{c} = s.{c}" for c in [*pk, "_tenant_id"])
        newest = (
            f"SELECT * FROM batch_rows b WHERE NOT EXISTS (SELECT 1 FROM {verdicts} v "
            "WHERE v._tenant_id = b._tenant_id AND v._interval_start = b._interval_start "
            "AND v._record_num = b._record_num) "
            f"QUALIFY row_number() OVER (PARTITION BY {', '.join(pk)} ORDER BY {cursor} DESC, _record_num DESC) = 1"
        )
        updates = ", ".join(f"{c} = s.{c}" for c in [*columns, *meta])
        inserts = ", ".join([*columns, *meta, "_published_run_id"])
        values = ", ".join([f"s.{c}" for c in [*columns, *meta]] + ["?"])
        inserted, updated = con.execute(
            f"SELECT count(*) FILTER (WHERE t._tenant_id IS NULL), "
            f"count(*) FILTER (WHERE t._tenant_id IS NOT NULL AND s.{cursor} > t.{cursor}) "
            f"FROM ({newest}) s LEFT JOIN {curated} t ON {on}"
        ).fetchall()[0]
        changed = con.execute(
            f"MERGE INTO {curated} t USING ({newest}) s ON {on} "
            f"WHEN MATCHED AND s.{cursor} > t.{cursor} THEN UPDATE SET {updates}, _published_run_id = ? "
            f"WHEN NOT MATCHED THEN INSERT ({inserts}) VALUES ({values})",
            [batch.run_id, batch.run_id],
        ).fetchall()[0][0]
        result = publish_result(batch, validation, inserted, updated, changed)
        wh.record_result(con, batch, "publish", result)
    log.info("publish %s: %s", batch.describe(), result)
    return result
