"""The embedded warehouse: staging, verdicts, quarantine and curated tables in one DuckDB file."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.warehouse.sqlparts import META_COLUMNS, column_definitions, q, staging_select, table

if TYPE_CHECKING:
    from collections.abc import Generator, Iterable
    from pathlib import Path

    import duckdb

    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig

log = logging.getLogger(__name__)

SCHEMAS = ("staging", "audit", "quarantine", "curated")
MEMORY_LIMIT = re.compile(r"[0-9]{1,6}(\.[0-9]+)?(KB|MB|GB|KiB|MiB|GiB)")
BATCH_FILTER = "_tenant_id = ? AND _interval_start = ?::TIMESTAMPTZ"


def batch_params(batch: Batch) -> list[Any]:
    return [batch.tenant, format_utc(batch.interval_start)]


class DuckDBWarehouse:
    """One DuckDB file. Each call opens a short connection, so several processes can take turns."""

    dialect = "duckdb"

    def __init__(self, path: Path, lock_timeout_seconds: float = 300.0, memory_limit: str = "512MB") -> None:
        self.path = path
        self.lock_timeout_seconds = lock_timeout_seconds
        if not MEMORY_LIMIT.fullmatch(memory_limit):
            raise ValueError(f"DuckDB memory limit {memory_limit!r} must look like 512MB or 2GB")
        self.memory_limit = memory_limit

    @contextmanager
    def connect(self) -> Generator[duckdb.DuckDBPyConnection, None, None]:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            con.execute("SET TimeZone = 'UTC'")
            con.execute(f"SET memory_limit = '{self.memory_limit}'")
            con.execute("SET temp_directory = ?", [str(self.path) + ".tmp"])
            con.execute("SET preserve_insertion_order = false")
            yield con
        finally:
            con.close()

    def ensure_tables(self, con: duckdb.DuckDBPyConnection, source: SourceConfig) -> None:
        for schema in SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {q(schema)}")
        columns = column_definitions(source)
        meta = [f"{q(n)} {t}" for n, t in META_COLUMNS.items()]
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {table('staging', source.name)} ({', '.join(columns + meta)})"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {table('quarantine', source.name)} "
            f"({', '.join([*columns, *meta, '_reasons VARCHAR[]', '_quarantined_run_id VARCHAR'])})"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {table('curated', source.name)} ({', '.join(columns)}, "
            "_tenant_id VARCHAR, _loaded_at TIMESTAMPTZ, _interval_start TIMESTAMPTZ, _published_run_id VARCHAR)"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {table('audit', source.name + '_verdicts')} "
            "(_tenant_id VARCHAR, _interval_start TIMESTAMPTZ, _record_num BIGINT, reasons VARCHAR[])"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS audit.staging_loads (source VARCHAR, tenant VARCHAR, "
            "interval_start TIMESTAMPTZ, load_id VARCHAR, loaded_at TIMESTAMPTZ)"
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS audit.batch_results (source VARCHAR, tenant VARCHAR, "
            "interval_start TIMESTAMPTZ, interval_end TIMESTAMPTZ, run_id VARCHAR, step VARCHAR, "
            "result JSON, recorded_at TIMESTAMPTZ)"
        )

    def replace_staging(
        self, source: SourceConfig, batch: Batch, parts: Iterable[Any], loaded_at: str, **_: Any
    ) -> int:
        """Replace the batch's staging rows with the landed parts, atomically for readers.

        Parts are appended under a fresh load id, each in its own small transaction so memory stays
        flat; one small transaction then points the batch at the new load, and older loads are deleted.
        """
        import pyarrow as pa

        select = staging_select(source)
        load_id = (
            uuid.uuid4().hex
        )  # extra keyword arguments (manifest, raw_bytes) are for stage-based backends
        params = [
            batch.tenant,
            batch.run_id,
            format_utc(batch.interval_start),
            format_utc(batch.interval_end),
        ]
        staging = table("staging", source.name)
        staged = 0
        with self.connect() as con:
            self.ensure_tables(con, source)
            for part in parts:
                if "_rejections" not in part.column_names:
                    part = part.append_column("_rejections", pa.nulls(part.num_rows, pa.string()))
                con.register("raw_part", part)
                con.execute(f"INSERT INTO {staging} {select}", [*params, loaded_at, load_id])
                con.unregister("raw_part")
                staged += part.num_rows
            con.execute("BEGIN TRANSACTION")
            con.execute(
                "DELETE FROM audit.staging_loads WHERE source = ? AND tenant = ? AND interval_start = ?::TIMESTAMPTZ",
                [source.name, *batch_params(batch)],
            )
            con.execute(
                "INSERT INTO audit.staging_loads VALUES (?, ?, ?::TIMESTAMPTZ, ?, now())",
                [source.name, *batch_params(batch), load_id],
            )
            con.execute("COMMIT")
            con.execute(
                f"DELETE FROM {staging} WHERE {BATCH_FILTER} AND _load_id <> ?",
                [*batch_params(batch), load_id],
            )
        return staged

    def record_result(self, con: duckdb.DuckDBPyConnection, batch: Batch, step: str, result: dict) -> None:
        con.execute(
            "DELETE FROM audit.batch_results WHERE source = ? AND tenant = ? "
            "AND interval_start = ?::TIMESTAMPTZ AND step = ?",
            [batch.source, *batch_params(batch), step],
        )
        con.execute(
            "INSERT INTO audit.batch_results VALUES (?, ?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?, ?, ?, now())",
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

    def read_result(self, con: duckdb.DuckDBPyConnection, batch: Batch, step: str) -> dict | None:
        rows = con.execute(
            "SELECT result FROM audit.batch_results WHERE source = ? AND tenant = ? "
            "AND interval_start = ?::TIMESTAMPTZ AND step = ?",
            [batch.source, *batch_params(batch), step],
        ).fetchall()
        return json.loads(rows[0][0]) if rows else None

    def batch_result_rows(self, source_name: str, interval_start: str) -> list[tuple[str, str, str]]:
        """(tenant, step, result JSON) of every batch of ``source_name`` that starts at ``interval_start``."""
        with self.connect() as con:
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                "AND table_name = 'batch_results'"
            ).fetchall()[0][0]
            if not exists:
                return []
            return con.execute(
                "SELECT tenant, step, result FROM audit.batch_results WHERE source = ? "
                "AND interval_start = ?::TIMESTAMPTZ",
                [source_name, interval_start],
            ).fetchall()
