"""The warehouse: one interface (:mod:`.base`), its backends (:mod:`.duckdb`, :mod:`.snowflake`), the SQL
differences as data (:mod:`.dialect`) and the statements they share (:mod:`.tables`).

The backend is chosen by environment and connection (``SALESTALK_WAREHOUSE``), never by a source config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from salestalk.settings import Settings
    from salestalk.warehouse.base import Warehouse

WAREHOUSES = ("duckdb", "snowflake")


def open_warehouse(settings: Settings | None = None) -> Warehouse:
    """The configured warehouse backend. Nothing connects until ``connect()``."""
    from salestalk.settings import get_settings

    settings = settings or get_settings()
    if settings.warehouse == "duckdb":
        from salestalk.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(settings.duckdb_path, memory_limit=settings.duckdb_memory_limit)
    if settings.warehouse == "snowflake":
        from salestalk.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse(settings.snowflake_conn_id)
    raise ValueError(f"SALESTALK_WAREHOUSE must be one of {WAREHOUSES} (got {settings.warehouse!r})")


def preload_backend() -> None:
    """Import the configured backend's client library (for worker processes that fork tasks)."""
    from salestalk.settings import get_settings

    warehouse = get_settings().warehouse
    if warehouse == "duckdb":
        import duckdb  # noqa: F401
    elif warehouse == "snowflake":
        import snowflake.connector  # noqa: F401
