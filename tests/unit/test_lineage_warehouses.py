"""The warehouse namespace the operators read from the configured backend (DuckDB file, Snowflake
connection through fakesnow) names the tables that really exist: catalog, schema and table."""

from __future__ import annotations

from salestalk import lineage
from salestalk.batch import Batch
from salestalk.names import STEPS
from salestalk.operators.openlineage import warehouse_place
from salestalk.settings import get_settings
from salestalk.warehouse import open_warehouse, tables
from tests.support.sources import a_source

SOURCE = a_source(kind="rest_api")


def test_table_datasets_name_the_warehouses_own_tables(warehouse_env) -> None:
    settings = get_settings()
    place = warehouse_place(settings)
    if warehouse_env == "duckdb":
        assert place.namespace == f"duckdb://{settings.duckdb_path.resolve()}"
    else:
        assert place.namespace.startswith("snowflake://") and place.namespace == place.namespace.lower()
    with open_warehouse(settings).connect() as session:
        tables.ensure_tables(session, SOURCE)
        existing = {
            ".".join(str(part) for part in row).lower()
            for row in session.fetchall(
                "SELECT table_catalog, table_schema, table_name FROM information_schema.tables"
            )
        }
    batch = Batch(SOURCE.name, SOURCE.tenants[0], "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "r")
    places = lineage.Places(bucket="b", warehouse=place, api_base_url="http://127.0.0.1:1")
    named = set()
    for step in STEPS:
        inputs, outputs, _ = lineage.source_step_lineage(step, SOURCE, batch, places)
        named |= {d.name for d in [*inputs, *outputs] if d.namespace == place.namespace}
    assert len(named) == 4  # staging, audit verdicts, quarantine, curated
    assert {name.lower() for name in named} <= existing, sorted(existing)
