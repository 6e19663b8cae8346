"""The Snowflake warehouse: the same tables and steps as :mod:`salestalk.warehouse.duckdb_backend`.

Selected with ``SALESTALK_WAREHOUSE=snowflake``; account, role, warehouse and database come from the
Airflow connection (``SALESTALK_SNOWFLAKE_CONN_ID``, default ``snowflake_default``), the stage from the
source config's ``snowflake`` block. A source config runs unchanged on either backend.

- **load**: the manifest's Parquet parts are copied with ``COPY INTO`` from the stage into a per-load
  transient table (an external stage over the bucket's root, by key; or, ``stage_kind: internal``, after
  a ``PUT`` to a per-load prefix), then cast into ``STAGING.<SOURCE>`` under a fresh load id, and the
  batch is pointed at it. ``_LOADED_AT`` (when we extracted) stays apart from the business date.
- **validate / quarantine**: the suite's row rules compiled to Snowflake SQL
  (:mod:`salestalk.warehouse.snowflake_quality`), checked against GX on the same rows, exactly as on DuckDB.
- **publish**: ``MERGE`` of the newest passing version per key (``QUALIFY ROW_NUMBER()``), updating only
  with a strictly newer cursor value. No PRIMARY KEY or UNIQUE constraint is declared or relied on.

Every session carries a ``QUERY_TAG`` naming the source, tenant, run id and step, for cost attribution.
SQL templates: ``include/sql/snowflake/``. Identifiers are checked and quoted; values are bound.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import uuid
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salestalk import REPO_ROOT
from salestalk.batch import format_utc
from salestalk.land import MAX_REJECTIONS
from salestalk.warehouse.snowflake_quality import compile_rules, ident, qualified

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig
    from salestalk.pipeline import Services

log = logging.getLogger(__name__)

SQL_DIR = REPO_ROOT / "include" / "sql" / "snowflake"
SCHEMAS = ("STAGING", "AUDIT", "QUARANTINE", "CURATED")
SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "NUMBER(38, 0)",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP_TZ",
}
META_COLUMNS = {
    "_record_num": "NUMBER(38, 0)",
    "_tenant_id": "VARCHAR",
    "_run_id": "VARCHAR",
    "_interval_start": "TIMESTAMP_TZ",
    "_interval_end": "TIMESTAMP_TZ",
    "_loaded_at": "TIMESTAMP_TZ",
    "_raw_record": "VARCHAR",
    "_extra_json": "VARCHAR",
    "_cast_failures": "ARRAY",
    "_load_id": "VARCHAR",
}
# S3 keys and stage paths put in COPY/PUT text (they cannot be bound): built by salestalk.storage.keys
# and checked again here.
STAGE_PATH = re.compile(r"[A-Za-z0-9_=./-]{1,1024}")
APP = "salestalk"


@cache
def template(name: str) -> str:
    """A template's SQL without its ``--`` comment lines (they document the placeholders)."""
    lines = (SQL_DIR / name).read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--")).strip() + "\n"


def render(name: str, **fragments: str) -> str:
    """A template with its ``{placeholders}`` filled with checked, quoted identifiers or fragments of them."""
    return template(name).format(**fragments)


def stage_path(value: str, *, absolute: bool = False) -> str:
    """``value`` if it is a plain relative path (an absolute one for our own temp files), else ValueError."""
    if not STAGE_PATH.fullmatch(value) or ".." in value or value.startswith("/") != absolute:
        raise ValueError(f"unsafe stage path {value!r}")
    return value


def query_tag(**fields: str) -> str:
    return json.dumps({"app": APP, **fields}, sort_keys=True)


class SnowflakeSession:
    """One Snowflake connection with a DuckDB-like ``execute(sql, params)`` that returns the cursor."""

    dialect = "snowflake"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, list(params) if params else None)
        return cursor

    def fetchall(self, sql: str, params: list[Any] | tuple[Any, ...] | None = None) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    def set_batch(self, batch: Batch, *, loaded_at: str | None = None, load_id: str | None = None) -> None:
        """The session's one-row ``SALESTALK_BATCH`` temp table: the batch's values, bound once."""
        self.execute(
            'CREATE OR REPLACE TEMPORARY TABLE "SALESTALK_BATCH" AS SELECT CAST(? AS VARCHAR) AS "SOURCE", '
            'CAST(? AS VARCHAR) AS "TENANT", CAST(? AS TIMESTAMP_TZ) AS "INTERVAL_START", '
            'CAST(? AS TIMESTAMP_TZ) AS "INTERVAL_END", CAST(? AS VARCHAR) AS "RUN_ID", '
            'CAST(? AS TIMESTAMP_TZ) AS "LOADED_AT", CAST(? AS VARCHAR) AS "LOAD_ID"',
            [
                batch.source,
                batch.tenant,
                format_utc(batch.interval_start),
                format_utc(batch.interval_end),
                batch.run_id,
                loaded_at,
                load_id,
            ],
        )


def _columns(source: SourceConfig) -> list[str]:
    return [ident(c) for c in source.table_schema.column_names]


def _meta(names: Iterable[str]) -> list[str]:
    return [ident(n) for n in names]


class SnowflakeWarehouse:
    """Staging, verdicts, quarantine and curated tables in Snowflake, through ``SalesTalkSnowflakeHook``."""

    dialect = "snowflake"

    def __init__(self, conn_id: str = "snowflake_default") -> None:
        self.conn_id = conn_id
        self.tag: dict[str, str] = {}

    def tag_batch(self, batch: Batch, step: str) -> None:
        self.tag = {
            "source": batch.source,
            "tenant": batch.tenant,
            "run_id": batch.run_id,
            "step": step,
            "interval": batch.interval_label,
        }

    def hook(self):
        from salestalk.warehouse.snowflake_hook import SalesTalkSnowflakeHook

        return SalesTalkSnowflakeHook(
            snowflake_conn_id=self.conn_id, session_parameters={"QUERY_TAG": query_tag(**self.tag)}
        )

    @contextmanager
    def connect(self) -> Generator[SnowflakeSession, None, None]:
        conn = self.hook().get_conn()
        try:
            yield SnowflakeSession(conn)
        finally:
            conn.close()

    # -- tables ---------------------------------------------------------------------------------------

    def ensure_tables(self, con: SnowflakeSession, source: SourceConfig) -> None:
        for schema in SCHEMAS:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        name = source.name
        typed = [f"{ident(c.name)} {SQL_TYPES[c.type]}" for c in source.table_schema.columns]
        meta = [f"{ident(n)} {t}" for n, t in META_COLUMNS.items()]
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(name, 'staging')} ({', '.join(typed + meta)})")
        quarantined = [*typed, *meta, '"_REASONS" ARRAY', '"_QUARANTINED_RUN_ID" VARCHAR']
        con.execute(f"CREATE TABLE IF NOT EXISTS {qualified(name, 'quarantine')} ({', '.join(quarantined)})")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {qualified(name, 'curated')} ({', '.join(typed)}, "
            '"_TENANT_ID" VARCHAR, "_LOADED_AT" TIMESTAMP_TZ, "_INTERVAL_START" TIMESTAMP_TZ, '
            '"_PUBLISHED_RUN_ID" VARCHAR)'
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {qualified(name + '_verdicts', 'audit')} "
            '("_TENANT_ID" VARCHAR, "_INTERVAL_START" TIMESTAMP_TZ, "_RECORD_NUM" NUMBER(38, 0), '
            '"_REASON_POS" NUMBER(38, 0), "_REASON" VARCHAR)'
        )
        con.execute(
            'CREATE TABLE IF NOT EXISTS "AUDIT"."STAGING_LOADS" ("SOURCE" VARCHAR, "TENANT" VARCHAR, '
            '"INTERVAL_START" TIMESTAMP_TZ, "LOAD_ID" VARCHAR, "LOADED_AT" TIMESTAMP_TZ)'
        )
        con.execute(
            'CREATE TABLE IF NOT EXISTS "AUDIT"."BATCH_RESULTS" ("SOURCE" VARCHAR, "TENANT" VARCHAR, '
            '"INTERVAL_START" TIMESTAMP_TZ, "INTERVAL_END" TIMESTAMP_TZ, "RUN_ID" VARCHAR, "STEP" VARCHAR, '
            '"RESULT" VARCHAR, "RECORDED_AT" TIMESTAMP_TZ)'
        )

    # -- audit results --------------------------------------------------------------------------------

    def record_result(self, con: SnowflakeSession, batch: Batch, step: str, result: dict) -> None:
        where = '"SOURCE" = ? AND "TENANT" = ? AND "INTERVAL_START" = CAST(? AS TIMESTAMP_TZ) AND "STEP" = ?'
        key = [batch.source, batch.tenant, format_utc(batch.interval_start), step]
        con.execute("BEGIN")
        con.execute(f'DELETE FROM "AUDIT"."BATCH_RESULTS" WHERE {where}', key)
        con.execute(
            'INSERT INTO "AUDIT"."BATCH_RESULTS" SELECT ?, ?, CAST(? AS TIMESTAMP_TZ), '
            "CAST(? AS TIMESTAMP_TZ), ?, ?, ?, CURRENT_TIMESTAMP()",
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
        con.execute("COMMIT")

    def read_result(self, con: SnowflakeSession, batch: Batch, step: str) -> dict | None:
        rows = con.fetchall(
            'SELECT "RESULT" FROM "AUDIT"."BATCH_RESULTS" WHERE "SOURCE" = ? AND "TENANT" = ? '
            'AND "INTERVAL_START" = CAST(? AS TIMESTAMP_TZ) AND "STEP" = ?',
            [batch.source, batch.tenant, format_utc(batch.interval_start), step],
        )
        return json.loads(rows[0][0]) if rows else None

    def batch_result_rows(self, source_name: str, interval_start: str) -> list[tuple[str, str, str]]:
        """(tenant, step, result JSON) of every batch of ``source_name`` that starts at ``interval_start``."""
        with self.connect() as con:
            exists = con.fetchall(
                "SELECT COUNT(*) FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA = 'AUDIT' "
                "AND TABLE_NAME = 'BATCH_RESULTS'"
            )[0][0]
            if not exists:
                return []
            return con.fetchall(
                'SELECT "TENANT", "STEP", "RESULT" FROM "AUDIT"."BATCH_RESULTS" WHERE "SOURCE" = ? '
                'AND "INTERVAL_START" = CAST(? AS TIMESTAMP_TZ)',
                [source_name, interval_start],
            )

    # -- load -----------------------------------------------------------------------------------------

    def replace_staging(
        self,
        source: SourceConfig,
        batch: Batch,
        parts: Iterable[Any],
        loaded_at: str,
        *,
        manifest: Any = None,
        raw_bytes: Any = None,
    ) -> int:
        """Replace the batch's staging rows with the landed parts, through the stage and ``COPY INTO``.

        ``manifest`` lists the parts' S3 keys (for an external stage, COPY by key); ``raw_bytes(key)``
        returns a part's checked bytes (for an internal stage, PUT first). ``parts`` (pyarrow tables)
        is only used to count rows when neither is given.
        """
        self.tag_batch(batch, "load_to_staging")
        options = source.snowflake
        stage = qualified(options.stage, "staging")
        load_id = uuid.uuid4().hex
        raw_table = qualified(f"{source.name}__load_{load_id}", "staging")
        columns = source.table_schema.columns
        raw_columns = ['"_RECORD_NUM" NUMBER(38, 0)'] + [f"{ident(c.name)} VARCHAR" for c in columns]
        raw_columns += ['"_EXTRA_JSON" VARCHAR', '"_ABSENT" VARCHAR', '"_REJECTIONS" VARCHAR']
        keys = [stage_path(p["key"]) for p in manifest.parts] if manifest is not None else []
        checksums = {p["key"]: p["sha256"] for p in manifest.parts} if manifest is not None else {}
        with self.connect() as con:
            self.ensure_tables(con, source)
            con.set_batch(batch, loaded_at=loaded_at, load_id=load_id)
            con.execute(f"CREATE TRANSIENT TABLE {raw_table} ({', '.join(raw_columns)})")
            try:
                if keys:
                    self._copy_parts(
                        con,
                        options.stage_kind,
                        stage,
                        raw_table,
                        load_id,
                        keys,
                        _checked(raw_bytes, checksums),
                    )
                con.execute(
                    render(
                        "insert_staging.sql",
                        staging=qualified(source.name, "staging"),
                        columns=", ".join(_columns(source)),
                        casts=", ".join(
                            f"{cast_expression(c.name, c.type)} AS {ident(c.name)}" for c in columns
                        ),
                        raw_record=raw_record_expression(source),
                        cast_failures=cast_failures_expression(source),
                        raw_table=raw_table,
                    )
                )
            finally:
                con.execute(f"DROP TABLE IF EXISTS {raw_table}")
            staged = con.fetchall(
                f'SELECT COUNT(*) FROM {qualified(source.name, "staging")} WHERE "_LOAD_ID" = ?', [load_id]
            )[0][0]
            con.execute("BEGIN")
            con.execute(
                'DELETE FROM "AUDIT"."STAGING_LOADS" WHERE "SOURCE" = ? AND "TENANT" = ? '
                'AND "INTERVAL_START" = CAST(? AS TIMESTAMP_TZ)',
                [source.name, batch.tenant, format_utc(batch.interval_start)],
            )
            con.execute(
                'INSERT INTO "AUDIT"."STAGING_LOADS" SELECT "SOURCE", "TENANT", "INTERVAL_START", "LOAD_ID", '
                'CURRENT_TIMESTAMP() FROM "SALESTALK_BATCH"'
            )
            con.execute("COMMIT")
            con.execute(
                f'DELETE FROM {qualified(source.name, "staging")} WHERE "_TENANT_ID" = ? '
                'AND "_INTERVAL_START" = CAST(? AS TIMESTAMP_TZ) AND "_LOAD_ID" <> ?',
                [batch.tenant, format_utc(batch.interval_start), load_id],
            )
        return int(staged)

    def _copy_parts(
        self,
        con: SnowflakeSession,
        kind: str,
        stage: str,
        raw_table: str,
        load_id: str,
        keys: list[str],
        raw_bytes: Any,
    ) -> None:
        if kind == "external":
            files = "FILES = (" + ", ".join(f"'{k}'" for k in keys) + ")"
            sql = render(
                "copy_into_raw.sql", raw_table=raw_table, stage_path=f"@{stage}", files=files, purge=""
            )
        else:
            con.execute(f"CREATE STAGE IF NOT EXISTS {stage}")
            prefix = f"loads/{load_id}/"
            with tempfile.TemporaryDirectory(prefix="salestalk-put-") as folder:
                for number, key in enumerate(keys):
                    local = Path(folder) / f"part-{number:05d}.parquet"
                    local.write_bytes(raw_bytes(key))
                    con.execute(
                        f"PUT 'file://{stage_path(local.as_posix(), absolute=True)}' @{stage}/{prefix} "
                        "AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
                    )
            sql = render(
                "copy_into_raw.sql",
                raw_table=raw_table,
                stage_path=f"@{stage}/{prefix}",
                files="",
                purge="PURGE = TRUE",
            )
        result = con.fetchall(sql)
        log.info("COPY INTO %s: %s", raw_table, result)

    # -- validate, quarantine, publish ------------------------------------------------------------------

    def _batch_rows(self, con: SnowflakeSession, source: SourceConfig, batch: Batch) -> None:
        con.set_batch(batch)
        con.execute(render("batch_rows.sql", staging=qualified(source.name, "staging")))

    def validate_step(self, source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
        from salestalk import pipeline
        from salestalk.pii import landed_suite
        from salestalk.quality import sql as quality_sql
        from salestalk.quality.suite import load_suite, suite_path

        self.tag_batch(batch, "validate")
        schema = source.table_schema
        suite = landed_suite(load_suite(suite_path(source.expectation_suite)), schema.pii)
        verdicts = qualified(source.name + "_verdicts", "audit")
        with self.connect() as con:
            self.ensure_tables(con, source)
            load = self.read_result(con, batch, "load")
            if load is None:
                raise pipeline.MissingUpstream(
                    f"no staged rows recorded for {batch.describe()}; run load_to_staging first"
                )
            self._batch_rows(con, source, batch)
            observed = load["observed_columns"]
            present = [c for c in schema.column_names if observed.get(c, 0) > 0 or not load["staged"]]
            types = {c.name: c.type for c in schema.columns}
            rules, _ = compile_rules(suite, '"BATCH_ROWS"', types, set(schema.column_names))
            rule_selects = "".join(
                f'\n    UNION ALL\n    SELECT "_RECORD_NUM", {1000 + r.index}, CAST(? AS VARCHAR) '
                f'FROM "BATCH_ROWS" WHERE {r.condition}'
                for r in rules
            )
            params = [p for r in rules for p in (r.reason, *r.params)]
            con.execute("BEGIN")
            con.execute(
                f'DELETE FROM {verdicts} WHERE "_TENANT_ID" = ? AND "_INTERVAL_START" = CAST(? AS TIMESTAMP_TZ)',
                [batch.tenant, format_utc(batch.interval_start)],
            )
            con.execute(
                render(
                    "insert_verdicts.sql",
                    verdicts=verdicts,
                    pk_null=" OR ".join(f"{ident(c)} IS NULL" for c in schema.primary_key),
                    cursor=ident(schema.cursor_column),
                    rule_selects=rule_selects,
                ),
                params,
            )
            con.execute("COMMIT")
            failing_of_batch = (
                f'SELECT DISTINCT v."_RECORD_NUM" FROM {verdicts} v JOIN "SALESTALK_BATCH" p '
                'ON v."_TENANT_ID" = p."TENANT" AND v."_INTERVAL_START" = p."INTERVAL_START"'
            )
            rows, failing = con.fetchall(
                f'SELECT COUNT(*), COUNT(f."_RECORD_NUM") FROM "BATCH_ROWS" b LEFT JOIN ({failing_of_batch}) f '
                'ON f."_RECORD_NUM" = b."_RECORD_NUM"'
            )[0]
            pk = ", ".join(f"b.{ident(c)}" for c in schema.primary_key)
            unique_passing = con.fetchall(
                f'SELECT COUNT(*) FROM (SELECT DISTINCT {pk} FROM "BATCH_ROWS" b '
                f'WHERE b."_RECORD_NUM" NOT IN ({failing_of_batch}))'
            )[0][0]
            reason_counts = {
                reason: int(count)
                for reason, count in con.fetchall(
                    f'SELECT v."_REASON", COUNT(*) FROM {verdicts} v JOIN "SALESTALK_BATCH" p '
                    'ON v."_TENANT_ID" = p."TENANT" AND v."_INTERVAL_START" = p."INTERVAL_START" '
                    'GROUP BY v."_REASON" ORDER BY v."_REASON"'
                )
            }
            rows, failing, unique_passing = int(rows), int(failing), int(unique_passing)
            extra = sorted(c for c in observed if c not in schema.column_names and pipeline._safe_name(c))
            observed_columns = present + extra
            checks = [
                quality_sql._table_check(exp, observed_columns, rows, suite.reasons[i], i)
                for i, exp in suite.table_level()
            ]
            checks += [
                quality_sql.TableCheck(
                    exp.type,
                    (exp.column or "",),
                    False,
                    {"missing_columns": [exp.column]},
                    dict(exp.kwargs),
                    suite.reasons[i],
                    i,
                )
                for i, exp in quality_sql.applicable_row_rules(suite, observed_columns).skipped
            ]
            checks.sort(key=lambda c: c.index if c.index is not None else -1)  # as quality_sql.table_checks
            table_failures = [pipeline._describe_check(c) for c in checks if not c.success]
            gx = self._run_gx(con, suite, batch, rows, schema.primary_key, present, extra)
            pipeline._cross_check(gx, reason_counts, batch)
            passing = rows - failing
            result = {
                "rows": rows,
                "failing": failing,
                "passing": passing,
                "passed": unique_passing,
                "duplicates_dropped": passing - unique_passing,
                "error_rate": failing / rows if rows else 0.0,
                "reasons": dict(sorted(reason_counts.items())),
                "table_failures": table_failures,
                "unexpected_columns": extra,
                "missing_columns": [c for c in schema.column_names if c not in present] if rows else [],
                "gx_success": gx.success,
                "gx_scope": "full suite"
                if rows <= pipeline.GX_FULL_SUITE_MAX_ROWS
                else "schema expectations on a sample",
                "data_docs": str(gx.docs_index) if gx.docs_index else None,
            }
            self.record_result(con, batch, "validate", result)
        log.info("validate %s: %s", batch.describe(), result)
        return result

    def _run_gx(
        self,
        con: SnowflakeSession,
        suite: Any,
        batch: Batch,
        rows: int,
        key_columns: list[str],
        present: list[str],
        extra: list[str],
    ) -> Any:
        """GX on the batch's rows fetched from Snowflake, named and typed as on DuckDB."""
        import dataclasses

        from salestalk import pipeline
        from salestalk.quality.gx_runner import run_gx

        selected = [f'{ident(c)} AS "{c}"' for c in present] + [
            f'CAST(NULL AS VARCHAR) AS "{c}"' for c in extra
        ]
        sql = f'SELECT {", ".join(selected) or "1 AS _none"} FROM "BATCH_ROWS" ORDER BY "_RECORD_NUM"'
        if rows > pipeline.GX_FULL_SUITE_MAX_ROWS:
            schema_only = tuple(e for _, e in suite.table_level() if e.type not in pipeline.ROW_COUNT_TYPES)
            suite = dataclasses.replace(suite, expectations=schema_only)
            sql += f" LIMIT {pipeline.GX_SCHEMA_SAMPLE_ROWS}"
        frame = con.execute(sql).fetch_pandas_all()
        if not present and not extra:
            frame = frame.iloc[:, 0:0]
        return run_gx(
            frame,
            suite,
            [c for c in key_columns if c in frame.columns],
            result_format="SUMMARY",
            build_docs=True,
            run_name=f"{batch.source}-{batch.tenant}-{batch.interval_label}",
        )

    def quarantine_step(self, source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
        import pyarrow as pa

        from salestalk import pipeline

        self.tag_batch(batch, "quarantine")
        quarantine_table = qualified(source.name, "quarantine")
        staging_columns = _columns(source) + _meta(META_COLUMNS)
        with self.connect() as con:
            self.ensure_tables(con, source)
            if self.read_result(con, batch, "validate") is None:
                raise pipeline.MissingUpstream(
                    f"no validation result for {batch.describe()}; run validate first"
                )
            self._batch_rows(con, source, batch)
            con.execute("BEGIN")
            con.execute(
                f'DELETE FROM {quarantine_table} WHERE "_TENANT_ID" = ? '
                'AND "_INTERVAL_START" = CAST(? AS TIMESTAMP_TZ)',
                [batch.tenant, format_utc(batch.interval_start)],
            )
            con.execute(
                render(
                    "insert_quarantine.sql",
                    quarantine=quarantine_table,
                    staging_columns=", ".join(staging_columns),
                    b_columns=", ".join(f"b.{c}" for c in staging_columns),
                    verdicts=qualified(source.name + "_verdicts", "audit"),
                )
            )
            con.execute("COMMIT")
            fetched = con.fetchall(
                f'SELECT "_RECORD_NUM", "_RAW_RECORD", "_REASONS" FROM {quarantine_table} '
                'WHERE "_TENANT_ID" = ? AND "_INTERVAL_START" = CAST(? AS TIMESTAMP_TZ) ORDER BY "_RECORD_NUM"',
                [batch.tenant, format_utc(batch.interval_start)],
            )
            rows = pa.table(
                {
                    "_record_num": pa.array([int(r[0]) for r in fetched], pa.int64()),
                    "_raw_record": pa.array([r[1] for r in fetched], pa.string()),
                    "_reasons": pa.array([_as_list(r[2]) for r in fetched], pa.list_(pa.string())),
                }
            )
            key = pipeline._write_quarantine_object(services.tenant_s3(batch.tenant), batch, rows)
            result = {"quarantined": rows.num_rows, "quarantine_key": key}
            self.record_result(con, batch, "quarantine", result)
        log.info("quarantine %s: %s", batch.describe(), result)
        return result

    def publish_step(self, source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
        from salestalk import pipeline

        self.tag_batch(batch, "publish")
        schema = source.table_schema
        curated = qualified(source.name, "curated")
        with self.connect() as con:
            self.ensure_tables(con, source)
            validation = self.read_result(con, batch, "validate")
            if validation is None:
                raise pipeline.MissingUpstream(
                    f"no validation result for {batch.describe()}; run validate first"
                )
            reason = pipeline.hold_back_reason(source, validation)
            if reason:
                self.record_result(con, batch, "publish", {"published": 0, "held_back": reason})
                raise pipeline.PublishHeldBack(
                    f"publish held back for {batch.describe()}: {reason}. Passing rows stay in staging and "
                    f"failing rows in quarantine.{source.name}; see {source.runbook}"
                )
            self._batch_rows(con, source, batch)
            pk = [ident(c) for c in schema.primary_key]
            cursor = ident(schema.cursor_column)
            columns = [*_columns(source), *_meta(["_tenant_id", "_loaded_at", "_interval_start"])]
            on = " AND ".join(f"t.{c} = s.{c}" for c in [*pk, '"_TENANT_ID"'])
            con.execute(
                render(
                    "newest_passing.sql",
                    verdicts=qualified(source.name + "_verdicts", "audit"),
                    pk=", ".join(f"b.{c}" for c in pk),
                    cursor=f"b.{cursor}",
                )
            )
            inserted, updated = con.fetchall(
                f'SELECT COUNT_IF(t."_TENANT_ID" IS NULL), COUNT_IF(t."_TENANT_ID" IS NOT NULL AND s.{cursor} > t.{cursor}) '
                f'FROM "BATCH_NEWEST" s LEFT JOIN {curated} t ON {on}'
            )[0]
            inserted, updated = int(inserted), int(updated)
            all_columns = [*columns, '"_PUBLISHED_RUN_ID"']
            merged = con.fetchall(
                render(
                    "merge_curated.sql",
                    curated=curated,
                    on=on,
                    cursor=cursor,
                    updates=", ".join(f"{c} = s.{c}" for c in all_columns),
                    inserts=", ".join(all_columns),
                    values=", ".join(f"s.{c}" for c in all_columns),
                )
            )[0]
            changed = sum(int(n) for n in merged)
            result = pipeline.publish_result(batch, validation, inserted, updated, changed)
            self.record_result(con, batch, "publish", result)
        log.info("publish %s: %s", batch.describe(), result)
        return result

    # -- insight summaries ----------------------------------------------------------------------------

    @staticmethod
    def insight_rows(con: SnowflakeSession, params: dict[str, str]) -> list[tuple]:
        """Rows of ``include/sql/snowflake/insight_summary.sql`` for one tenant and period."""
        from salestalk.insights import INPUT_VIEWS, PUBLISH_FILTER

        existing = {
            (schema.lower(), name.lower())
            for schema, name in con.fetchall(
                "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_CATALOG = CURRENT_DATABASE()"
            )
        }
        for view, (schema, name, columns) in INPUT_VIEWS.items():
            if (schema, name) in existing:
                where = f" {PUBLISH_FILTER}" if view == "insight_publishes" else ""
                body = f"SELECT {', '.join(ident(c) for c in columns)} FROM {qualified(name, schema)}{where}"
            else:
                typed = ", ".join(
                    f"CAST(NULL AS {_snowflake_type(t)}) AS {ident(c)}" for c, t in columns.items()
                )
                body = f"SELECT {typed} WHERE FALSE"
            con.execute(f"CREATE OR REPLACE TEMPORARY VIEW {ident(view)} AS {body}")
        return con.fetchall(
            template("insight_summary.sql"),
            [
                params["tenant"],
                params["period_start"],
                params["period_end"],
                params["first_day"],
                params["last_day"],
            ],
        )


def _checked(raw_bytes: Any, checksums: dict[str, str]) -> Any:
    """``raw_bytes`` that refuses a part whose bytes changed after landing (as ``iter_raw_parts`` does)."""
    import hashlib

    def read(key: str) -> bytes:
        body = raw_bytes(key)
        if hashlib.sha256(body).hexdigest() != checksums[key]:
            raise ValueError(f"checksum mismatch for {key}: the raw part changed after landing")
        return body

    return read


def _snowflake_type(duckdb_type: str) -> str:
    return {"TIMESTAMPTZ": "TIMESTAMP_TZ", "BIGINT": "NUMBER(38, 0)"}.get(duckdb_type, duckdb_type)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return list(json.loads(value)) if isinstance(value, str) else list(value)


def cast_expression(column: str, column_type: str) -> str:
    """Raw text to the schema type; NULL when it does not cast (the same verdicts as the DuckDB casts)."""
    raw = f"r.{ident(column)}"
    if column_type == "string":
        return raw
    if column_type == "integer":
        return (
            f"CASE WHEN REGEXP_LIKE(TRIM({raw}), '[+-]?[0-9]{{1,18}}') "
            f"THEN TRY_CAST(TRIM({raw}) AS NUMBER(38, 0)) END"
        )
    if column_type == "boolean":
        return f"CASE LOWER(TRIM({raw})) WHEN 'true' THEN TRUE WHEN 'false' THEN FALSE END"
    return f"TRY_CAST({raw} AS {SQL_TYPES[column_type]})"


def cast_failures_expression(source: SourceConfig) -> str:
    failures = [
        f"CASE WHEN r.{ident(c.name)} IS NOT NULL AND ({cast_expression(c.name, c.type)}) IS NULL "
        f"THEN 'cast_to_{c.type}({c.name})' END"
        for c in source.table_schema.columns
        if c.type != "string"
    ]
    rejections = [
        f"NULLIF(SPLIT_PART(r.\"_REJECTIONS\", CHR(31), {n}), '')" for n in range(1, MAX_REJECTIONS + 1)
    ]
    return f"ARRAY_CONSTRUCT_COMPACT({', '.join([*failures, *rejections])})"


def raw_record_expression(source: SourceConfig) -> str:
    pairs = ", ".join(f"'{c}', r.{ident(c)}" for c in source.table_schema.column_names)
    return f"TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL({pairs}))"
