"""Every demo source end to end through real Airflow, on DuckDB and then on Snowflake (fakesnow in server mode).

The DuckDB runs (every source, both days of ``DAYS``) happen once, in the module-scoped ``duckdb_runs``
fixture, which asserts each one succeeded and records the DuckDB state the parity test compares against.
They serve two tests (each also passes alone: the fixture does the runs):

- ``test_every_demo_source_end_to_end_then_rerun_changes_nothing`` checks them against an oracle computed
  from the seed: the counts per source, tenant and day, the staging and quarantine rows, the raw and
  quarantine objects in S3, SSE-KMS on every object, hashed PII columns, every bad-value kind's
  quarantine reason, curated holding exactly the newest passing versions; then reruns both intervals and
  checks that curated rows, quarantined rows and every S3 object (key, ETag) are unchanged.
- ``test_every_source_gives_the_same_counts_and_curated_rows_on_duckdb_and_snowflake`` runs the same
  sources and days again on Snowflake. Both backends load the same landed raw files (one bucket), so "the
  same data" is literal. The Snowflake runs switch only the environment (``SALESTALK_WAREHOUSE=snowflake``),
  the Airflow connection (``snowflake_default``: fakesnow's HTTP server on loopback, ``protocol: http``) and
  the config (``snowflake.stage_kind: internal`` in ``_defaults.yaml``: fakesnow cannot read ``s3://``).
  No code differs. The switch is a function-scoped monkeypatch, undone when that test ends.

  Checked per source, tenant and day: the batch counts, staging and quarantine row counts, the oracle's
  counts; then every curated row and every quarantined row's reasons; then that rerunning the older
  interval on Snowflake changes nothing; then the insight summaries computed from either warehouse.
  (Rerunning both intervals, and retries, are covered on Snowflake by
  tests/unit/warehouse/test_snowflake_pipeline.py.)

The DuckDB-only test comes first in this file, so its S3 checks see the bucket as the DuckDB runs left it,
before the Snowflake runs land in it too. The parity test compares Snowflake against the DuckDB state the
fixture read right after the DuckDB runs, whichever test ran first.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from dev.fakeapi import seed
from salestalk.accounting import COLUMNS as COUNT_COLUMNS
from tests.e2e.conftest import DAYS, Harness, new_harness
from tests.e2e.seed_oracle import (
    CONFIGS,
    RESOURCES,
    SOURCES,
    day_start,
    insight_tenants,
    newest_versions,
    oracle,
    tenants_of,
)
from tests.support.sources import hashed_pii_columns
from tests.support.warehouses import snowflake_connection

if TYPE_CHECKING:
    from collections.abc import Iterator

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


@dataclass
class DuckDBRuns:
    """The module's DuckDB runs: the harness they ran in, and what DuckDB held right after them."""

    harness: Harness
    counts: dict  # summaries(): the batch counts per (source, day, tenant)
    state: dict  # duckdb_state(): curated rows, quarantined rows' reasons, staging/quarantine counts
    insights: dict  # insight_items(): the insight summaries per (tenant, day)


@pytest.fixture(scope="module")
def duckdb_runs(stack, dags, tmp_path_factory) -> Iterator[DuckDBRuns]:
    """Every source for both days on DuckDB, once for this module; each run must succeed."""
    from salestalk.config.loader import load_sources
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    with pytest.MonkeyPatch.context() as mp:
        harness = new_harness(stack, dags, tmp_path_factory.mktemp("duckdb-runs"), mp)
        try:
            for day in DAYS:
                for source in SOURCES:
                    outcome = harness.run(source, day)
                    assert outcome.state == "success", ("duckdb", source, day, outcome.failed_tasks)
            configs = load_sources().configs
            duck = DuckDBWarehouse(harness.duckdb_path)
            yield DuckDBRuns(
                harness=harness,
                counts=summaries(duck, configs),
                state=duckdb_state(harness, configs),
                insights=insight_items(duck),
            )
        finally:
            stack.api_server.api.reset()


def outputs(harness) -> dict:
    """What a rerun must leave unchanged: curated rows, quarantined rows and every S3 object (key, ETag)."""
    quarantine = "SELECT * EXCLUDE (_run_id, _load_id, _quarantined_run_id) FROM quarantine.{} ORDER BY ALL"
    return {
        "curated": {s: harness.curated(s) for s in SOURCES},
        "quarantine": {s: harness.sql(quarantine.format(s)) for s in SOURCES},
        "objects": harness.objects(),
    }


def test_every_demo_source_end_to_end_then_rerun_changes_nothing(duckdb_runs) -> None:
    harness, days = duckdb_runs.harness, DAYS
    for day in days:
        for source in SOURCES:
            summaries = harness.summaries(source, day)
            for tenant in tenants_of(source):
                expected = oracle(source, tenant, day)
                got = summaries[tenant]
                assert "problem" not in got, got
                for field in ("extracted", "quarantined", "passed", "duplicates_dropped"):
                    assert got[field] == expected[field], (source, tenant, day, field)
                assert got["extracted"] == got["passed"] + got["quarantined"] + got["duplicates_dropped"]
                assert got["landed"] == got["staged"] == got["extracted"]
                assert harness.count(f"staging.{source}", tenant, day) == expected["extracted"]
                assert harness.count(f"quarantine.{source}", tenant, day) == expected["quarantined"]
                label = f"{day.replace('-', '')}T000000Z_{(day_start(day) + dt.timedelta(days=1)).strftime('%Y%m%d')}T000000Z"
                raw = harness.objects(f"tenants/{tenant}/raw/{source}/interval={label}/")
                assert any("/_manifest-" in k for k in raw) and any(k.endswith(".parquet") for k in raw)
                assert len(harness.objects(f"tenants/{tenant}/quarantine/{source}/interval={label}/")) == 1

    for source, pk in SOURCES.items():
        for tenant in tenants_of(source):
            newest = newest_versions(source, tenant, days)
            curated = dict(
                harness.sql(
                    f"SELECT {pk}, strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ') FROM curated.{source} "
                    "WHERE _tenant_id = ?",
                    [tenant],
                )
            )
            assert curated == newest, (
                f"{source}/{tenant}: curated must hold exactly the newest passing versions"
            )

    client = harness.stack.s3_client()
    unencrypted = [
        key
        for key in harness.objects()
        if (head := client.head_object(Bucket=harness.bucket, Key=key)).get("ServerSideEncryption")
        != "aws:kms"
        or head.get("SSEKMSKeyId") != harness.stack.kms_key_id
    ]
    assert unencrypted == [], "every object must carry SSE-KMS with the configured key"

    hashed = {name: cols for name, c in CONFIGS.items() if (cols := hashed_pii_columns(c))}
    assert hashed, "the demo sources must include one with a hashed PII column"
    for source, columns in hashed.items():
        for column in columns:
            for relation in (f"curated.{source}", f"quarantine.{source}", f"staging.{source}"):
                clear = harness.sql(f"SELECT count(*) FROM {relation} WHERE {column} NOT LIKE 'h1:%'")[0][0]
                assert clear == 0, f"{relation}.{column} must hold only keyed hashes"
        leaked = harness.sql(
            f"SELECT count(*) FROM quarantine.{source} WHERE _raw_record LIKE '%@%example.com%'"
        )
        assert leaked == [(0,)], f"quarantined {source} rows must not keep clear emails"
    import io

    import pyarrow.parquet as pq

    for source, columns in hashed.items():
        tenant = tenants_of(source)[0]
        raw_parts = [k for k in harness.objects(f"tenants/{tenant}/raw/{source}/") if k.endswith(".parquet")]
        assert raw_parts
        for key in raw_parts:
            part = pq.read_table(io.BytesIO(client.get_object(Bucket=harness.bucket, Key=key)["Body"].read()))
            for column in columns:
                values = [e for e in part.column(column).to_pylist() if e is not None]
                assert values and all(e.startswith("h1:") for e in values), f"{key} holds a clear {column}"

    for source in SOURCES:
        resource, tenant = RESOURCES[source], tenants_of(source)[0]
        if CONFIGS[source].extract.kind == "rest_api":
            out_of_order = seed.seed_manifest(resource, tenant, days[0])["out_of_order"]
            assert out_of_order, f"the seed must hold an out-of-order late {resource} record"
        reasons = {r for (r,) in harness.sql(f"SELECT DISTINCT unnest(_reasons) FROM quarantine.{source}")}
        for column, _ in seed.BAD_VALUE_KINDS[resource]:
            assert any(r.endswith(f"({column})") for r in reasons), (source, column, sorted(reasons))

    before = outputs(harness)
    for source in SOURCES:
        assert harness.run(source, days[1]).state == "success"
        assert harness.run(source, days[0]).state == "success"
    after = outputs(harness)
    assert after == before, "a rerun of the same intervals must change nothing"


def test_every_source_gives_the_same_counts_and_curated_rows_on_duckdb_and_snowflake(
    duckdb_runs, snowflake_env
) -> None:
    from salestalk.config.loader import load_sources
    from salestalk.warehouse.snowflake import SnowflakeWarehouse

    harness = duckdb_runs.harness
    configs = load_sources().configs
    duck_counts, duck_state, duck_insights = duckdb_runs.counts, duckdb_runs.state, duckdb_runs.insights

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
