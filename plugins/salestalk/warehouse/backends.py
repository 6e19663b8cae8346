"""Which warehouse a run uses: ``SALESTALK_WAREHOUSE=duckdb`` (the embedded default) or ``snowflake``.

The choice is made by environment and connection, never by a source config, so every source runs
unchanged on either backend. Both backends expose the same interface: ``connect()``,
``ensure_tables()``, ``replace_staging()``, ``record_result()``, ``read_result()`` and
``batch_result_rows()``; a backend that runs validate, quarantine or publish in its own SQL dialect
adds ``validate_step``/``quarantine_step``/``publish_step`` (see :func:`salestalk.pipeline.native_step`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salestalk.settings import Settings

WAREHOUSES = ("duckdb", "snowflake")


def open_warehouse(settings: Settings | None = None) -> Any:
    """The configured warehouse backend. Nothing connects until a step calls ``connect()``."""
    from salestalk.settings import get_settings

    settings = settings or get_settings()
    if settings.warehouse == "duckdb":
        from salestalk.warehouse.duckdb_backend import DuckDBWarehouse

        return DuckDBWarehouse(settings.duckdb_path, memory_limit=settings.duckdb_memory_limit)
    if settings.warehouse == "snowflake":
        from salestalk.warehouse.snowflake_backend import SnowflakeWarehouse

        return SnowflakeWarehouse(settings.snowflake_conn_id)
    raise ValueError(f"SALESTALK_WAREHOUSE must be one of {WAREHOUSES} (got {settings.warehouse!r})")
