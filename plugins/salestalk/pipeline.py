"""The five steps of a source batch, free of Airflow: extract, load to staging, validate, quarantine, publish.

Each step takes the source config, the batch (source, tenant, interval, run id) and the I/O handles,
does its work idempotently for that batch, and returns a small dict of counts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import io
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc, parse_utc
from salestalk.config.models import EventsExtract, RestApiExtract, S3FilesExtract
from salestalk.extract import read_ahead
from salestalk.land import land_chunks, raw_keys, read_manifest
from salestalk.names import (
    AUDIT,
    CURATED,
    EXTRACT,
    LOAD,
    PUBLISH,
    QUARANTINE,
    QUARANTINE_KEYS,
    QUARANTINE_SCHEMA,
    STAGING,
    STATE,
    VALIDATE,
    verdicts_table,
)
from salestalk.storage.keys import interval_segments
from salestalk.storage.tenant_s3 import TenantS3
from salestalk.warehouse import tables
from salestalk.warehouse.dialect import is_identifier
from salestalk.warehouse.lock import lock_fields, lock_times

if TYPE_CHECKING:
    import requests

    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig
    from salestalk.rawtext import TextChunk
    from salestalk.warehouse.base import Warehouse

log = logging.getLogger(__name__)

GX_FULL_SUITE_MAX_ROWS = 200_000
GX_SCHEMA_SAMPLE_ROWS = 1_000
ROW_COUNT_TYPES = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
CURSOR_LOOKBACK = dt.timedelta(days=1)  # read_cursor lists the log from this long before the batch


class PublishHeldBack(RuntimeError):
    """The batch failed its quality gate; its rows stay in staging and quarantine for redrive."""


class MissingUpstream(RuntimeError):
    """A step ran before the step it depends on produced its output for this batch."""


@dataclass
class Services:
    s3_client: Any
    bucket: str
    warehouse: Warehouse
    http_session: requests.Session | None = None
    api_base_url: str | None = None
    guards: dict[str, TenantS3] = field(default_factory=dict)
    upstream: dict[str, Any] | None = None  # the previous step's counts for the batch in this run, if known

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


def _cursor_key(s3: TenantS3, source: str, cursor: dt.datetime) -> str:
    return s3.key(STATE, source, "cursor", f"{cursor.strftime('%Y%m%dT%H%M%SZ')}.json")


def read_cursor(s3: TenantS3, source: str, near: dt.datetime | None = None) -> dt.datetime | None:
    """The newest entry of the append-only cursor log ``state/{source}/cursor/`` (keys sort by time).

    The log only grows, so with ``near`` (the batch's start) the listing begins CURSOR_LOOKBACK before it,
    and lists the whole log only when nothing newer is there (a source paused for longer).
    """
    keys: list[str] = []
    if near is not None:
        keys = list(
            s3.list_keys(STATE, source, "cursor", start_after=_cursor_key(s3, source, near - CURSOR_LOOKBACK))
        )
    if not keys:
        keys = list(s3.list_keys(STATE, source, "cursor"))
    return parse_utc(json.loads(s3.get_bytes(max(keys)))["cursor"]) if keys else None


def advance_cursor(s3: TenantS3, source: str, cursor: dt.datetime) -> None:
    key = _cursor_key(s3, source, cursor)
    s3.put_bytes(key, json.dumps({"cursor": format_utc(cursor)}).encode(), "application/json")


def extract_window(
    batch: Batch, overlap: dt.timedelta, cursor: dt.datetime | None
) -> tuple[dt.datetime, dt.datetime]:
    """From the older of the interval start and the stored cursor, minus the overlap, to the interval end."""
    start = batch.interval_start if cursor is None else min(cursor, batch.interval_start)
    return start - overlap, batch.interval_end


class RejectionTally:
    """Wraps the PII screen and counts the landed rows' rejections, per reason."""

    def __init__(self, screen: Any) -> None:
        self.screen = screen
        self.reasons: dict[str, int] = {}

    def __call__(self, chunk: TextChunk) -> TextChunk:
        chunk = self.screen(chunk)
        for reasons in chunk.rejections.values():
            for reason in reasons:
                self.reasons[reason] = self.reasons.get(reason, 0) + 1
        return chunk

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
    landed = raw_keys(s3, batch)  # one listing: the previous manifest, and later the keys it replaces
    previous = read_manifest(s3, batch, landed)
    cursor = read_cursor(s3, batch.source, near=batch.interval_start)
    stats: dict[str, Any] = {}
    tally = RejectionTally(_pii_screen(source, batch.tenant))
    if isinstance(extract, RestApiExtract):
        from salestalk.extract.rest import RestExtractor, RestSpec, page_chunk

        if previous is not None:  # a retry asks for exactly what the first attempt asked for
            window = (parse_utc(previous.window_since), parse_utc(previous.window_before))
        else:
            overlap = dt.timedelta(minutes=extract.overlap_minutes)
            window = extract_window(batch, overlap, cursor)
        spec = RestSpec(
            base_url=services.api_base_url or "",
            path=extract.path,
            style=extract.pagination.style,
            page_size=extract.pagination.page_size,
            rate_limit_per_second=extract.rate_limit_per_second,
            timeout_seconds=extract.timeout_seconds,
            max_attempts=extract.max_attempts,
            max_retry_after_seconds=extract.max_retry_after_seconds,
        )
        budget = time.monotonic() + source.execution_timeout_minutes * 60
        extractor = RestExtractor(services.http_session, spec, deadline=budget)
        chunks = read_ahead(page_chunk(page, columns) for page in extractor.pages(batch.tenant, *window))
        manifest = land_chunks(
            chunks, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally, listed=landed
        )
        stats = {
            "requests": extractor.stats.requests,
            "retries": extractor.stats.retries,
            "throttled": extractor.stats.throttled,
            "repeated_pages": extractor.stats.repeated_pages,
        }
    elif isinstance(extract, S3FilesExtract):
        from salestalk.extract.s3_files import file_chunks

        window = (batch.interval_start, batch.interval_end)
        chunks = read_ahead(file_chunks(s3, extract.prefix_pattern, batch.ds, extract.format, columns))
        manifest = land_chunks(
            chunks, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally, listed=landed
        )
    elif isinstance(extract, EventsExtract):
        from salestalk.extract.events import EventScreen, event_chunks

        window = (batch.interval_start, batch.interval_end)
        screen = EventScreen(
            contract=extract.contract,
            version=extract.version,
            fields=extract.fields,
            tenant=batch.tenant,
        )
        chunks = read_ahead(event_chunks(s3, extract.prefix_pattern, batch.ds, screen, columns))
        manifest = land_chunks(
            chunks, s3, batch, columns, source.table_schema.cursor_column, window, screen=tally, listed=landed
        )
    else:  # pragma: no cover - the config model admits no other kind
        raise TypeError(f"unsupported extract kind {extract!r}")
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
    log.debug("extract %s: %s", batch.describe(), counts)
    return counts


def _tag(batch: Batch, step: str) -> dict[str, str]:
    """The session's cost-attribution tag: which batch and step its statements serve."""
    return {
        "source": batch.source,
        "tenant": batch.tenant,
        "run_id": batch.run_id,
        "step": step,
        "interval": batch.interval_label,
    }


def _require(result: dict | None, batch: Batch, missing: str, upstream: str) -> dict:
    if result is None:
        raise MissingUpstream(f"no {missing} recorded for {batch.describe()}; run {upstream} first")
    return result


def lock_timed(step: str):
    """Add the step's warehouse lock seconds to its result (``lock_wait_seconds``, ``lock_held_seconds``,
    summed over its sessions) and log them in one line. The result recorded in ``audit.batch_results``
    carries them too, as they stood when it was written (the last session's final statements excluded)."""

    def wrap(function):
        @functools.wraps(function)
        def run(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
            with lock_times() as times:
                result = function(source, batch, services)
            log.info(
                "%s %s: warehouse lock waited %.1f s, held %.1f s over %d session(s)",
                step,
                batch.describe(),
                times.wait,
                times.held,
                times.sessions,
            )
            return {**result, **times.fields()}

        return run

    return wrap


@lock_timed(LOAD)
def load_to_staging(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    """Replace the batch's staging rows with its landed parts, cast to the schema, atomically for readers."""
    s3 = services.tenant_s3(batch.tenant)
    manifest = read_manifest(s3, batch)
    if manifest is None:
        raise MissingUpstream(f"no landed manifest for {batch.describe()}; run {EXTRACT} first")
    wh = services.warehouse
    load_id = uuid.uuid4().hex
    staging = f"{STAGING}.{source.name}"
    keys = [part["key"] for part in manifest.parts]
    # the S3 reads happen before the session opens: the embedded warehouse has one writer at a time
    with (
        wh.fetch_parts(source, load_id, keys, checked_reader(s3, manifest)) as parts,
        wh.connect(tag=_tag(batch, LOAD)) as s,
    ):
        d = s.dialect
        tables.ensure_tables(s, source)
        tables.set_batch(s, batch, loaded_at=manifest.landed_at, load_id=load_id)
        raw = wh.stage_parts(s, source, parts)
        try:
            s.execute(tables.insert_staging_sql(d, source, raw))
        finally:
            wh.drop_staged(s, raw)
        staged = int(
            s.fetchall(
                f"SELECT COUNT(*) FROM {d.table(STAGING, source.name)} WHERE {d.ident('_load_id')} = ?",
                [load_id],
            )[0][0]
        )
        if staged != manifest.rows:
            raise RuntimeError(
                f"staged {staged} rows into {staging} but the manifest lists {manifest.rows} for "
                f"{batch.describe()}; the batch still points at its previous load"
            )
        tables.point_batch_at_load(s, source, batch)
        counts = {"staged": staged}
        window = {"window_since": manifest.window_since, "window_before": manifest.window_before}
        tables.record_result(
            s,
            batch,
            LOAD,
            {
                **counts,
                "observed_columns": manifest.observed_columns,
                "landed": manifest.rows,
                **window,
                **lock_fields(),
            },
        )
    log.debug("%s %s: %s", LOAD, batch.describe(), counts)
    return counts


def admission_window(source: SourceConfig, batch: Batch, load: dict[str, Any]) -> tuple[str, str]:
    """The cursor values a row of this batch may carry: the window its extract asked for (the interval for
    file and event sources), widened by the source's clock-skew and lateness tolerances."""
    extract = source.extract
    since = parse_utc(load.get("window_since") or format_utc(batch.interval_start))
    before = parse_utc(load.get("window_before") or format_utc(batch.interval_end))
    skew = dt.timedelta(minutes=extract.max_clock_skew_minutes)
    lateness = dt.timedelta(minutes=extract.max_lateness_minutes)
    return format_utc(since - skew - lateness), format_utc(before + skew)


def _verdict_rows_sql(d: Any, source: SourceConfig, rules: list[Any]) -> str:
    """One row per failing row and reason: primary key null, cursor null, a blank text key, a cursor outside
    the admission window, cast failures and pre-landing rejections in order, then the suite's row rules in
    suite order."""
    i = d.ident
    schema = source.table_schema
    rows = i(tables.BATCH_ROWS)
    cursor = i(schema.cursor_column)
    params = i(tables.BATCH_PARAMS)
    flatten = d.flatten.format(array=f"b.{i('_cast_failures')}")
    parts = [
        *(
            f"SELECT {i('_record_num')} AS rn, 0 AS pos, 'primary_key_null({c})' AS reason FROM {rows} "
            f"WHERE {i(c)} IS NULL"
            for c in schema.primary_key
        ),
        f"SELECT {i('_record_num')}, 1, 'cursor_null({schema.cursor_column})' FROM {rows} "
        f"WHERE {i(schema.cursor_column)} IS NULL",
        *(
            f"SELECT {i('_record_num')}, 2, 'primary_key_blank({c})' FROM {rows} "
            f"WHERE {d.full_match.format(value=i(c), pattern='[[:space:]]*')}"
            for c in schema.primary_key
            if tables.source_columns(source)[c] == "string"
        ),
        f"SELECT r.{i('_record_num')}, 3, 'clock_skew({schema.cursor_column})' FROM {rows} r "
        f"CROSS JOIN {params} q WHERE r.{cursor} > q.{i('admit_before')}",
        f"SELECT r.{i('_record_num')}, 4, 'before_window({schema.cursor_column})' FROM {rows} r "
        f"CROSS JOIN {params} q WHERE r.{cursor} < q.{i('admit_since')}",
        f"SELECT b.{i('_record_num')}, 100 + {d.flatten_pos}, {d.flatten_value} FROM {rows} b, {flatten}",
        *(
            f"SELECT {i('_record_num')}, {1000 + r.index}, CAST(? AS VARCHAR) FROM {rows} WHERE {r.condition}"
            for r in rules
        ),
    ]
    verdicts = d.table(AUDIT, verdicts_table(source.name))
    columns = ", ".join(
        i(c) for c in ("_tenant_id", "_interval_start", "_record_num", "_reason_pos", "_reason")
    )
    return (
        f"INSERT INTO {verdicts} ({columns}) SELECT p.{i('tenant')}, p.{i('interval_start')}, v.rn, v.pos, "
        f"v.reason FROM ({' UNION ALL '.join(parts)}) v CROSS JOIN {i(tables.BATCH_PARAMS)} p"
    )


def _batch_verdicts(d: Any, source: SourceConfig) -> str:
    """The verdict rows of the session's batch (needs ``batch_params``)."""
    i = d.ident
    return (
        f"SELECT v.* FROM {d.table(AUDIT, verdicts_table(source.name))} v JOIN {i(tables.BATCH_PARAMS)} p "
        f"ON v.{i('_tenant_id')} = p.{i('tenant')} AND v.{i('_interval_start')} = p.{i('interval_start')}"
    )


@lock_timed(VALIDATE)
def validate(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    """Verdicts for every staged row (the suite compiled to SQL), cross-checked by GX on the same rows."""
    from salestalk.pii import landed_suite
    from salestalk.quality import sql as quality_sql
    from salestalk.quality.suite import load_suite, suite_path

    schema = source.table_schema
    suite = landed_suite(load_suite(suite_path(source.expectation_suite)), schema.pii)
    _warm_up_gx()
    with services.warehouse.connect(tag=_tag(batch, VALIDATE)) as s:
        d = s.dialect
        i = d.ident
        tables.ensure_tables(s, source)
        load = _require(tables.read_result(s, batch, LOAD), batch, "staged rows", LOAD)
        tables.set_batch(s, batch, admit=admission_window(source, batch, load))
        tables.select_batch_rows(s, source)
        observed = load["observed_columns"]
        present = [c for c in schema.column_names if observed.get(c, 0) > 0 or not load["staged"]]
        types = {c.name: c.type for c in schema.columns if c.name in present}
        rules, skipped = quality_sql.compile_row_rules(suite, tables.BATCH_ROWS, types, d)
        where, params = tables.batch_filter(d, batch)
        s.execute("BEGIN")
        s.execute(f"DELETE FROM {d.table(AUDIT, verdicts_table(source.name))} WHERE {where}", params)
        s.execute(_verdict_rows_sql(d, source, rules), [p for r in rules for p in (r.reason, *r.params)])
        s.execute("COMMIT")
        failing_rows = f"SELECT DISTINCT {i('_record_num')} FROM ({_batch_verdicts(d, source)}) fv"
        rows, failing = s.fetchall(
            f"SELECT COUNT(*), COUNT(f.{i('_record_num')}) FROM {i(tables.BATCH_ROWS)} b "
            f"LEFT JOIN ({failing_rows}) f ON f.{i('_record_num')} = b.{i('_record_num')}"
        )[0]
        pk = ", ".join(f"b.{i(c)}" for c in schema.primary_key)
        unique_passing = s.fetchall(
            f"SELECT COUNT(*) FROM (SELECT DISTINCT {pk} FROM {i(tables.BATCH_ROWS)} b "
            f"WHERE b.{i('_record_num')} NOT IN ({failing_rows})) u"
        )[0][0]
        reason_counts = {
            reason: int(count)
            for reason, count in s.fetchall(
                f"SELECT bv.{i('_reason')}, COUNT(*) FROM ({_batch_verdicts(d, source)}) bv "
                f"GROUP BY bv.{i('_reason')} ORDER BY bv.{i('_reason')}"
            )
        }
        rows, failing, unique_passing = int(rows), int(failing), int(unique_passing)
        extra = sorted(c for c in observed if c not in schema.column_names and is_identifier(c))
        gx_suite, gx_frame = _gx_input(s, suite, rows, present, extra)
        profile = _profile(s, source, batch, present)
        anomalies = _anomalies(s, source, batch, profile)
    # GX and the table checks run between two sessions, so the warehouse is free meanwhile
    checks = quality_sql.evaluate_table_checks(suite, present + extra, rows)
    table_failures = [_describe_check(c) for c in checks if not c.success]
    gx = _run_gx(gx_frame, gx_suite, batch, schema.primary_key)
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
        "data_docs_page": str(gx.docs_page) if gx.docs_page else None,
        "profile": profile.as_dict(),
        "anomalies": [a.as_dict() for a in anomalies],
    }
    tables.save_result(
        services.warehouse, batch, VALIDATE, {**result, **lock_fields()}, tag=_tag(batch, VALIDATE)
    )
    log.debug("%s %s: %s", VALIDATE, batch.describe(), result)
    return result


def _profile(s: Any, source: SourceConfig, batch: Batch, present: list[str]) -> Any:
    """The batch's rows, per-column null rates and numeric means, from its staged rows in one statement."""
    from salestalk.quality.anomaly import Profile

    d = s.dialect
    i = d.ident
    types = tables.source_columns(source)
    numeric = [c for c in present if types[c] in {"integer", "float"}]

    def finite(c: str) -> str:
        if types[c] != "float":
            return f"CAST({i(c)} AS DOUBLE)"
        return f"CASE WHEN NOT {d.nan_test.format(value=i(c))} THEN CAST({i(c)} AS DOUBLE) END"

    parts = ["COUNT(*)", *(f"COUNT({i(c)})" for c in present), *(f"AVG({finite(c)})" for c in numeric)]
    row = s.fetchall(f"SELECT {', '.join(parts)} FROM {i(tables.BATCH_ROWS)}")[0]
    rows = int(row[0])
    counts = dict(zip(present, row[1 : 1 + len(present)], strict=True))
    means = dict(zip(numeric, row[1 + len(present) :], strict=True))
    return Profile(
        batch.interval_start,
        rows,
        {c: round(1 - int(n) / rows, 6) for c, n in counts.items()} if rows else {},
        {c: float(m) for c, m in means.items() if m is not None},
    )


def _anomalies(s: Any, source: SourceConfig, batch: Batch, profile: Any) -> list[Any]:
    """Anomalies of this batch against the tenant's trailing history (the training window)."""
    from salestalk.quality.anomaly import Profile, detect

    config = source.anomalies
    if not config.enabled:
        return []
    since = batch.interval_start - dt.timedelta(days=config.training_days)
    recorded = tables.tenant_history(
        s, source.name, batch.tenant, since, batch.interval_start, (VALIDATE, PUBLISH)
    )
    history = []
    for start, steps in recorded.items():
        known = steps.get(VALIDATE, ({}, None))[0].get("profile")
        if not known:
            continue
        published = steps.get(PUBLISH, ({}, None))[0].get("published") or 0
        history.append(
            Profile(
                start, known["rows"], known["null_rates"], known["means"], start if published > 0 else None
            )
        )
    return detect(profile, history, config, now=batch.interval_start)


def _warm_up_gx() -> None:
    """Import pandas and GX and build the GX context (once per process) before a session opens: on a busy
    machine these imports take seconds of CPU that must not be spent holding the warehouse lock."""
    import pandas  # noqa: F401  (a session's frame() would import it otherwise)

    from salestalk.quality import anomaly  # noqa: F401
    from salestalk.quality.gx_runner import gx_context

    gx_context()


def _gx_input(s: Any, suite: Any, rows: int, present: list[str], extra: list[str]) -> tuple[Any, Any]:
    """The suite GX checks and the frame it checks, read from the session's batch rows.

    GX sees the observed columns (unknown ones as nulls) under their config names. Up to
    GX_FULL_SUITE_MAX_ROWS rows GX checks the whole suite, which also cross-checks the SQL. Above that GX
    checks only the schema expectations on a small sample, so memory stays flat.
    """
    import dataclasses

    d = s.dialect
    selected = [f'{d.ident(c)} AS "{c}"' for c in present] + [
        f'CAST(NULL AS VARCHAR) AS "{c}"' for c in extra
    ]
    sql = f"SELECT {', '.join(selected) or '1 AS none'} FROM {d.ident(tables.BATCH_ROWS)}"
    if rows > GX_FULL_SUITE_MAX_ROWS:
        schema_only = tuple(e for _, e in suite.table_level() if e.type not in ROW_COUNT_TYPES)
        suite = dataclasses.replace(suite, expectations=schema_only)
        sql += f" LIMIT {GX_SCHEMA_SAMPLE_ROWS}"
    frame = s.frame(sql)
    if not selected:
        frame = frame.iloc[:, 0:0]
    return suite, frame


def _run_gx(frame: Any, suite: Any, batch: Batch, key_columns: list[str]) -> Any:
    """Real GX on the batch, outside any session, for its own results and the Data Docs; row verdicts come
    from the SQL. The GX context is built once per process (:func:`salestalk.quality.gx_runner.gx_context`)."""
    from salestalk.quality.gx_runner import run_gx

    return run_gx(
        frame,
        suite,
        [c for c in key_columns if c in frame.columns],
        result_format="SUMMARY",
        build_docs=True,
        run_name=f"{batch.source}-{batch.tenant}-{batch.interval_label}",
    )


def _describe_check(check: Any) -> str:
    return f"{check.type}: observed {check.observed}, expected {check.expected}"


@lock_timed(QUARANTINE)
def quarantine(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    """Copy the batch's failing rows, with their reasons and the record as landed, to ``quarantine.<source>``
    and to S3. Only these rows get a ``_raw_record``, built from the landed parts."""
    from collections import Counter

    import pyarrow as pa

    s3 = services.tenant_s3(batch.tenant)
    wh = services.warehouse
    validated = services.upstream  # validate's counts in this run, when the task has them
    failing = validated.get("failing") if validated else None  # unknown: counted in the first session
    fetched = None
    while fetched is None:
        # the manifest and the landed parts are read from S3 between sessions, never while one is open
        manifest = read_manifest(s3, batch) if failing else None
        if failing and manifest is None:
            raise MissingUpstream(f"no landed manifest for {batch.describe()}; run {EXTRACT} first")
        fetching = (
            wh.fetch_parts(
                source, uuid.uuid4().hex, [p["key"] for p in manifest.parts], checked_reader(s3, manifest)
            )
            if manifest
            else contextlib.nullcontext(None)
        )
        with fetching as parts, wh.connect(tag=_tag(batch, QUARANTINE)) as s:
            tables.ensure_tables(s, source)
            if not validated:
                _require(tables.read_result(s, batch, VALIDATE), batch, "validation result", VALIDATE)
            tables.set_batch(s, batch)
            failing = _failing_rows(s, source) if parts is None else failing
            if parts is not None or not failing:  # else rows failed: fetch the landed parts, go again
                fetched = _quarantine_rows(s, wh, source, batch, parts)
    d = wh.dialect
    rows = pa.table(
        {
            "_record_num": pa.array([int(r[0]) for r in fetched], pa.int64()),
            "_raw_record": pa.array([r[1] for r in fetched], pa.string()),
            "_reasons": pa.array([d.as_list(r[2]) for r in fetched], pa.list_(pa.string())),
        }
    )
    key = _write_quarantine_object(s3, batch, rows)
    reasons = Counter(reason for r in fetched for reason in d.as_list(r[2]))
    result = {
        "quarantined": rows.num_rows,
        "quarantine_key": key,
        "reasons": dict(sorted(reasons.items())),
    }
    tables.save_result(wh, batch, QUARANTINE, {**result, **lock_fields()}, tag=_tag(batch, QUARANTINE))
    log.debug("%s %s: %s", QUARANTINE, batch.describe(), result)
    return result


def _failing_rows(s: Any, source: SourceConfig) -> int:
    """How many rows of the session's batch have a verdict (needs :func:`tables.set_batch`)."""
    verdicts = _batch_verdicts(s.dialect, source)
    return int(
        s.fetchall(f"SELECT COUNT(DISTINCT fv.{s.dialect.ident('_record_num')}) FROM ({verdicts}) fv")[0][0]
    )


def _quarantine_rows(s: Any, wh: Warehouse, source: SourceConfig, batch: Batch, parts: Any) -> list[tuple]:
    """Statements only: replace the batch's quarantine rows (``_raw_record`` from the fetched ``parts``) and
    return them as (record number, raw record, reasons). Needs :func:`tables.set_batch`."""
    d = s.dialect
    i = d.ident
    tables.select_batch_rows(s, source)
    quarantine_table = d.table(QUARANTINE_SCHEMA, source.name)
    staged = [i(c) for c in tables.staging_columns(source)]
    reasons = d.ordered_array_agg.format(value=f"bv.{i('_reason')}", order=f"bv.{i('_reason_pos')}")
    where, params = tables.batch_filter(d, batch)
    raw = wh.stage_parts(s, source, parts) if parts is not None else None
    try:
        s.execute("BEGIN")
        s.execute(f"DELETE FROM {quarantine_table} WHERE {where}", params)
        if raw is not None:
            s.execute(
                f"INSERT INTO {quarantine_table} ({', '.join(staged)}, {i('_raw_record')}, {i('_reasons')}, "
                f"{i('_quarantined_run_id')}) SELECT {', '.join('b.' + c for c in staged)}, "
                f"{tables.raw_record_expression(d, source)}, q.reasons, p.{i('run_id')} "
                f"FROM {i(tables.BATCH_ROWS)} b JOIN (SELECT bv.{i('_record_num')} AS rn, {reasons} AS reasons "
                f"FROM ({_batch_verdicts(d, source)}) bv GROUP BY bv.{i('_record_num')}) q "
                f"ON q.rn = b.{i('_record_num')} JOIN {raw} r ON r.{i('_record_num')} = b.{i('_record_num')} "
                f"CROSS JOIN {i(tables.BATCH_PARAMS)} p"
            )
        s.execute("COMMIT")
    finally:
        if raw is not None:
            wh.drop_staged(s, raw)
    return s.fetchall(
        f"SELECT {i('_record_num')}, {i('_raw_record')}, {i('_reasons')} FROM {quarantine_table} "
        f"WHERE {where} ORDER BY {i('_record_num')}",
        params,
    )


@lock_timed(PUBLISH)
def publish(source: SourceConfig, batch: Batch, services: Services) -> dict[str, Any]:
    """MERGE the newest passing version of each key into ``curated.<source>``; older versions never win."""
    from salestalk.quality import anomaly  # noqa: F401  (hold_back_reason's, imported before the session)

    schema = source.table_schema
    with services.warehouse.connect(tag=_tag(batch, PUBLISH)) as s:
        d = s.dialect
        i = d.ident
        tables.ensure_tables(s, source)
        validation = _require(tables.read_result(s, batch, VALIDATE), batch, "validation result", VALIDATE)
        reason = hold_back_reason(source, validation)
        if reason:
            tables.record_result(s, batch, PUBLISH, {"published": 0, "held_back": reason, **lock_fields()})
            raise PublishHeldBack(
                f"publish held back for {batch.describe()}: {reason}. Passing rows stay in staging and "
                f"failing rows in {QUARANTINE_SCHEMA}.{source.name}; see {source.runbook}"
            )
        tables.set_batch(s, batch)
        tables.select_batch_rows(s, source)
        curated = d.table(CURATED, source.name)
        newest = i(tables.BATCH_NEWEST)
        pk = [i(c) for c in schema.primary_key]
        cursor = i(schema.cursor_column)
        kept = [i(c) for c in (*schema.column_names, *tables.CURATED_META)]
        s.execute(
            f"CREATE OR REPLACE TEMPORARY TABLE {newest} AS SELECT {', '.join('b.' + c for c in kept)}, "
            f"p.{i('run_id')} AS "
            f"{i('_published_run_id')} FROM {i(tables.BATCH_ROWS)} b CROSS JOIN {i(tables.BATCH_PARAMS)} p "
            f"WHERE NOT EXISTS (SELECT 1 FROM {d.table(AUDIT, verdicts_table(source.name))} v "
            f"WHERE v.{i('_tenant_id')} = b.{i('_tenant_id')} AND v.{i('_interval_start')} = "
            f"b.{i('_interval_start')} AND v.{i('_record_num')} = b.{i('_record_num')}) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {', '.join('b.' + c for c in pk)} "
            f"ORDER BY b.{cursor} DESC, b.{i('_record_num')} DESC) = 1"
        )
        on = " AND ".join(f"t.{c} = s.{c}" for c in [*pk, i("_tenant_id")])
        inserted, updated = s.fetchall(
            f"SELECT COUNT_IF(t.{i('_tenant_id')} IS NULL), COUNT_IF(t.{i('_tenant_id')} IS NOT NULL AND "
            f"s.{cursor} > t.{cursor}) FROM {newest} s LEFT JOIN {curated} t ON {on}"
        )[0]
        columns = [
            *(i(c) for c in schema.column_names),
            *(i(c) for c in tables.CURATED_META),
            i("_published_run_id"),
        ]
        merged = s.fetchall(
            f"MERGE INTO {curated} t USING {newest} s ON {on} "
            f"WHEN MATCHED AND s.{cursor} > t.{cursor} THEN UPDATE SET "
            + ", ".join(f"{c} = s.{c}" for c in columns)
            + f" WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({', '.join('s.' + c for c in columns)})"
        )[0]
        changed = sum(int(n or 0) for n in merged)
        result = publish_result(batch, validation, int(inserted or 0), int(updated or 0), changed)
        tables.record_result(s, batch, PUBLISH, {**result, **lock_fields()})
    log.debug("%s %s: %s", PUBLISH, batch.describe(), result)
    return result


def checked_reader(s3: TenantS3, manifest: Any) -> Any:
    """``read(key)`` for the manifest's parts that refuses a part whose bytes changed after landing."""
    import hashlib

    checksums = {part["key"]: part["sha256"] for part in manifest.parts}

    def read(key: str) -> bytes:
        body = s3.get_bytes(key)
        if hashlib.sha256(body).hexdigest() != checksums[key]:
            raise ValueError(f"checksum mismatch for {key}: the raw part changed after landing")
        return body

    return read


def _write_quarantine_object(s3: TenantS3, batch: Batch, rows: Any) -> str:
    import hashlib

    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd")
    body = sink.getvalue()
    segments = interval_segments(QUARANTINE_KEYS, batch.source, batch.interval_label)
    key = s3.key(*segments, f"quarantined-{hashlib.sha256(body).hexdigest()[:16]}.parquet")
    s3.put_bytes(key, body, data_class=QUARANTINE_KEYS)
    s3.delete([k for k in s3.list_keys(*segments) if k != key])
    return key


def hold_back_reason(source: SourceConfig, validation: dict[str, Any]) -> str | None:
    from salestalk.quality.anomaly import hold_reason

    policy = source.quarantine
    held = hold_reason(validation.get("anomalies", []))
    if held:
        return held
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


def _cross_check(gx: Any, reason_counts: dict[str, int], batch: Batch) -> None:
    for outcome in gx.results:
        if outcome.unexpected_count is None or outcome.exception or outcome.column is None:
            continue
        if outcome.unexpected_count != reason_counts.get(outcome.reason, 0):
            raise RuntimeError(
                f"GX and the compiled SQL disagree on {outcome.reason} for {batch.describe()}: "
                f"GX counts {outcome.unexpected_count}, SQL {reason_counts.get(outcome.reason, 0)}"
            )
