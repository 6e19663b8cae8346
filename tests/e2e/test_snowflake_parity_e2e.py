"""The e2e suite's demo runs on both warehouses: DuckDB, then Snowflake (fakesnow in server mode).

Both backends load the same landed raw files (one bucket), so "the same data" is literal. The
Snowflake runs switch only the environment (``SALESTALK_WAREHOUSE=snowflake``), the Airflow connection
(``snowflake_default``: fakesnow's HTTP server on loopback, ``protocol: http``) and the config
(``snowflake.stage_kind: internal`` in ``_defaults.yaml``: fakesnow cannot read ``s3://``). No code differs.

Checked per source, tenant and day: the batch counts, staging and quarantine row counts, the oracle's
counts; then every curated row and every quarantined row's reasons; then that rerunning the older interval
on Snowflake changes nothing; then the insight summaries computed from either warehouse. (Rerunning both
intervals, and retries, are covered on Snowflake by tests/unit/warehouse/test_snowflake_pipeline.py.)
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from salestalk.accounting import COLUMNS as COUNT_COLUMNS
from tests.e2e.conftest import DAYS
from tests.e2e.seed_oracle import SOURCES, insight_tenants, oracle, tenants_of
from tests.support.warehouses import snowflake_connection

pytestmark = pytest.mark.e2e


@pytest.fixture
def snowflake_env(fakesnow_server, fast_retry_sources, tmp_path, monkeypatch):
    """What switching a deployment to Snowflake takes: one setting, one connection, one config value."""
    import shutil

    connection = snowflake_connection(fakesnow_server, "SALESTALK")
    sources = tmp_path / "sources-snowflake"
    shutil.copytree(fast_retry_sources, sources)
    defaults = sources / "_defaults.yaml"
    text = defaults.read_text()
    assert "stage_kind: external" in text
    defaults.write_text(text.replace("stage_kind: external", "stage_kind: internal"))

    def switch() -> None:
        monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps(connection))
        monkeypatch.setenv("SALESTALK_WAREHOUSE", "snowflake")
        monkeypatch.setenv("SALESTALK_SOURCES_DIR", str(sources))

    return switch


def normalise(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def duckdb_state(harness, configs) -> dict:
    state = {"curated": {}, "quarantine": {}, "counts": {}}
    for source in SOURCES:
        columns = ", ".join(configs[source].table_schema.column_names)
        state["curated"][source] = [
            tuple(normalise(v) for v in row)
            for row in harness.sql(
                f"SELECT {columns}, _tenant_id, _loaded_at, _interval_start FROM curated.{source} ORDER BY ALL"
            )
        ]
        state["quarantine"][source] = sorted(
            (t, normalise(i), int(n), list(r))
            for t, i, n, r in harness.sql(
                f"SELECT _tenant_id, _interval_start, _record_num, _reasons FROM quarantine.{source}"
            )
        )
        state["counts"][source] = {
            (tenant, str(normalise(day)), table): count
            for table in ("staging", "quarantine")
            for tenant, day, count in harness.sql(
                f"SELECT _tenant_id, _interval_start, count(*) FROM {table}.{source} GROUP BY ALL"
            )
        }
    return state


def snowflake_state(warehouse, configs) -> dict:
    state = {"curated": {}, "quarantine": {}, "counts": {}}
    with warehouse.connect() as con:
        for source in SOURCES:
            columns = ", ".join(f'"{c.upper()}"' for c in configs[source].table_schema.column_names)
            rows = con.fetchall(
                f'SELECT {columns}, "_TENANT_ID", "_LOADED_AT", "_INTERVAL_START" FROM "CURATED"."{source.upper()}"'
            )
            state["curated"][source] = sorted(tuple(normalise(v) for v in row) for row in rows)
            state["quarantine"][source] = sorted(
                (t, normalise(i), int(n), json.loads(r))
                for t, i, n, r in con.fetchall(
                    f'SELECT "_TENANT_ID", "_INTERVAL_START", "_RECORD_NUM", "_REASONS" FROM "QUARANTINE"."{source.upper()}"'
                )
            )
            state["counts"][source] = {
                (tenant, str(normalise(day)), table): int(count)
                for table in ("staging", "quarantine")
                for tenant, day, count in con.fetchall(
                    f'SELECT "_TENANT_ID", "_INTERVAL_START", COUNT(*) FROM "{table.upper()}"."{source.upper()}" GROUP BY 1, 2'
                )
            }
    return state


def summaries(warehouse, configs) -> dict:
    from salestalk.accounting import batch_summaries

    return {
        (source, day, row["tenant"]): {field: row[field] for field in COUNT_COLUMNS}
        for source in SOURCES
        for day in DAYS
        for row in batch_summaries(warehouse, configs[source], f"{day}T00:00:00Z")
        if "problem" not in row
    }


def insight_items(warehouse) -> dict:
    from salestalk.insights import summaries_for_tenants

    out = {}
    for day in DAYS:
        first = dt.date.fromisoformat(day)
        end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
        for tenant, items in summaries_for_tenants(warehouse, insight_tenants(), first, first, end).items():
            for item in items:
                # computedAt includes when each backend recorded its publishes: a wall-clock time.
                out[(tenant, day)] = {k: v for k, v in item.items() if k != "computedAt"}
    return out


def test_every_source_gives_the_same_counts_and_curated_rows_on_duckdb_and_snowflake(
    harness, snowflake_env
) -> None:
    from salestalk.config.loader import load_sources
    from salestalk.warehouse.duckdb import DuckDBWarehouse
    from salestalk.warehouse.snowflake import SnowflakeWarehouse

    configs = load_sources().configs
    for day in DAYS:
        for source in SOURCES:
            outcome = harness.run(source, day)
            assert outcome.state == "success", ("duckdb", source, day, outcome.failed_tasks)
    duck = DuckDBWarehouse(harness.duckdb_path)
    duck_counts, duck_state, duck_insights = (
        summaries(duck, configs),
        duckdb_state(harness, configs),
        insight_items(duck),
    )

    snowflake_env()
    for day in DAYS:
        for source in SOURCES:
            outcome = harness.run(source, day)
            assert outcome.state == "success", ("snowflake", source, day, outcome.failed_tasks)
    snow = SnowflakeWarehouse()
    snow_counts, snow_state = summaries(snow, configs), snowflake_state(snow, configs)

    # Counts: every source x tenant x day, on both backends, and against the seed oracle.
    assert len(duck_counts) == sum(len(tenants_of(s)) for s in SOURCES) * len(DAYS)
    assert snow_counts == duck_counts
    for (source, day, tenant), counts in snow_counts.items():
        expected = oracle(source, tenant, day)
        assert {f: counts[f] for f in ("extracted", "quarantined", "passed", "duplicates_dropped")} == {
            f: expected[f] for f in ("extracted", "quarantined", "passed", "duplicates_dropped")
        }, (source, tenant, day)
    assert snow_state["counts"] == duck_state["counts"]
    # Rows: every curated row (all columns but the run id) and every quarantined row's reasons.
    for source in SOURCES:
        assert snow_state["curated"][source] == duck_state["curated"][source], source
        assert snow_state["quarantine"][source] == duck_state["quarantine"][source], source
    rows_compared = sum(len(v) for v in snow_state["curated"].values())
    quarantined_compared = sum(len(v) for v in snow_state["quarantine"].values())
    print(
        f"\nparity: {len(snow_counts)} source x tenant x day batches, {rows_compared} curated rows, "
        f"{quarantined_compared} quarantined rows compared"
    )
    assert rows_compared > 0 and quarantined_compared > 0

    # The warehouse -> app query on Snowflake gives the same summaries.
    assert insight_items(snow) == duck_insights

    # A rerun of the older interval (every step again, after the newer one published) changes nothing.
    for source in SOURCES:
        assert harness.run(source, DAYS[0]).state == "success", ("snowflake rerun", source)
    assert snowflake_state(snow, configs) == snow_state
