"""salestalk.lineage: dataset names per the OpenLineage naming spec on both warehouses, tenant safety, facets."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
from openlineage.client.serde import Serde

from salestalk import REPO_ROOT, lineage
from salestalk.batch import Batch
from salestalk.names import STEPS
from tests.support.sources import a_source

REST = a_source(kind="rest_api")
INBOUND = a_source(lambda c: c.extract.kind in {"s3_files", "events"}, what="reading S3")
FACET_SCHEMA = REPO_ROOT / "include" / "lineage" / "facets.json"


def batch(source, tenant: str | None = None) -> Batch:
    return Batch(
        source.name, tenant or source.tenants[0], "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "manual__x"
    )


def places(warehouse: lineage.Warehouse) -> lineage.Places:
    return lineage.Places(bucket="b", warehouse=warehouse, api_base_url="http://127.0.0.1:8000/")


DUCK = lineage.duckdb_warehouse("/data/wh/warehouse.duckdb")
SNOW = lineage.snowflake_warehouse("MyOrg-Analytics", "SALESTALK")


@pytest.mark.parametrize(
    ("warehouse", "namespace", "curated"),
    [
        pytest.param(DUCK, "duckdb:///data/wh/warehouse.duckdb", "warehouse.curated.{s}", id="duckdb"),
        pytest.param(SNOW, "snowflake://myorg-analytics", "SALESTALK.CURATED.{S}", id="snowflake"),
    ],
)
def test_warehouse_tables_follow_the_naming_spec(warehouse, namespace, curated) -> None:
    _, outputs, _ = lineage.source_step_lineage("publish", REST, batch(REST), places(warehouse))
    assert [(d.namespace, d.name) for d in outputs] == [
        (namespace, curated.format(s=REST.name, S=REST.name.upper()))
    ]


def test_snowflake_account_forms() -> None:
    assert lineage.snowflake_warehouse("org.acct", "DB").namespace == "snowflake://org-acct"
    assert lineage.snowflake_warehouse("xy12345.eu-west-1", "DB").namespace == "snowflake://xy12345.eu-west-1"
    with pytest.raises(ValueError, match="account"):
        lineage.snowflake_warehouse("", "DB")
    with pytest.raises(ValueError, match="absolute"):
        lineage.duckdb_warehouse("relative.duckdb")


def test_extract_reads_the_tenants_endpoint_or_inbound_prefix() -> None:
    rest_batch = batch(REST)
    inputs, outputs, _ = lineage.source_step_lineage("extract", REST, rest_batch, places(DUCK))
    assert [(d.namespace, d.name) for d in inputs] == [
        ("http://127.0.0.1:8000", REST.extract.path.format(tenant=rest_batch.tenant))
    ]
    assert [(d.namespace, d.name) for d in outputs] == [
        ("s3://b", f"tenants/{rest_batch.tenant}/raw/{REST.name}/interval={rest_batch.interval_label}/")
    ]
    inbound_batch = batch(INBOUND)
    inputs, _, _ = lineage.source_step_lineage("extract", INBOUND, inbound_batch, places(DUCK))
    [prefix] = inputs
    assert prefix.namespace == "s3://b"
    assert prefix.name == f"tenants/{inbound_batch.tenant}/" + INBOUND.extract.prefix_pattern.format(
        ds="2026-11-01"
    )


@pytest.mark.parametrize("step", STEPS)
def test_every_s3_dataset_is_a_prefix_of_the_tenant_only(step) -> None:
    for source in (REST, INBOUND):
        for tenant in source.tenants:
            inputs, outputs, facets = lineage.source_step_lineage(
                step, source, batch(source, tenant), places(SNOW)
            )
            s3 = [d.name for d in [*inputs, *outputs] if d.namespace.startswith("s3://")]
            assert all(name.startswith(f"tenants/{tenant}/") and name.endswith("/") for name in s3)
            others = [t for t in source.tenants if t != tenant]
            text = json.dumps([Serde.to_dict(d) for d in [*inputs, *outputs]])
            assert not [t for t in others if f"/{t}/" in text]
            assert facets["salestalkBatch"].tenant == tenant


def test_a_dataset_outside_the_tenant_is_refused() -> None:
    from openlineage.client.event_v2 import OutputDataset

    with pytest.raises(lineage.UnsafeLineage, match="not a prefix"):
        lineage.check_tenant_safe("acme", [OutputDataset("s3://b", "tenants/acme10/raw/")])
    with pytest.raises(lineage.UnsafeLineage, match="not a prefix"):
        lineage.check_tenant_safe("acme", [OutputDataset("s3://b", "tenants/acme/raw")])  # no delimiter
    with pytest.raises(lineage.UnsafeLineage, match="partition"):
        lineage.check_tenant_safe("acme", [OutputDataset("awsdynamodb://x", "t/TENANT#acme1#insight#")])
    lineage.check_tenant_safe("acme", [OutputDataset("s3://b", "tenants/acme/raw/")])


def test_dynamodb_entity_is_the_tenants_partition() -> None:
    _, [output], facets = lineage.dynamodb_write_lineage(
        tenant="acme",
        entity="insight_summary",
        table="app",
        region="eu-west-1",
        interval=None,
        run_id="r",
        counts={"written": 2, "dead_lettered": 1},
    )
    assert (output.namespace, output.name) == (
        "awsdynamodb://dynamodb.eu-west-1.amazonaws.com",
        "app/TENANT#acme#insight_summary#",
    )
    assert output.outputFacets["outputStatistics"].rowCount == 2
    assert (facets["salestalkCounts"].itemsWritten, facets["salestalkCounts"].itemsDeadLettered) == (2, 1)
    assert "salestalkBatch" not in facets  # no data interval (an asset-triggered run), so no batch facet


def test_counts_facet_takes_what_the_step_returned() -> None:
    result = {
        "rows": 1000,
        "failing": 3,
        "passed": 990,
        "duplicates_dropped": 7,
        "error_rate": 0.003,
        "reasons": {},
    }
    _, _, facets = lineage.source_step_lineage("validate", REST, batch(REST), places(DUCK), result)
    counts = Serde.to_dict(facets["salestalkCounts"])
    assert {k: v for k, v in counts.items() if not k.startswith("_")} == {
        "validated": 1000,
        "failing": 3,
        "duplicatesDropped": 7,
        "errorRate": 0.003,
    }
    inputs, _, _ = lineage.source_step_lineage("validate", REST, batch(REST), places(DUCK), result)
    assert inputs[0].inputFacets["dataQualityMetrics"].rowCount == 1000
    _, _, no_result = lineage.source_step_lineage("publish", REST, batch(REST), places(DUCK), None)
    assert "salestalkCounts" not in no_result


def test_facets_validate_against_the_shipped_schema() -> None:
    schema = json.loads(FACET_SCHEMA.read_text())
    _, _, facets = lineage.source_step_lineage(
        "publish", REST, batch(REST), places(DUCK), {"published": 5, "inserted": 5, "updated": 0}
    )
    shard = [dataclasses.replace(batch(REST), tenant=t) for t in ("acme", "globex")]
    _, _, shard_facets = lineage.shard_step_lineage(
        "publish", REST, shard, places(DUCK), {"acme": {"published": 5}}
    )
    facets = {**facets, **shard_facets}
    assert lineage.SHARD_FACET in facets
    for key, facet in facets.items():
        body = Serde.to_dict(facet)
        name = body["_schemaURL"].rsplit("/", 1)[-1]
        assert body["_schemaURL"].startswith(lineage.SCHEMA_BASE)
        assert Path(lineage.SCHEMA_BASE).name == FACET_SCHEMA.name
        jsonschema.validate(body, {**schema, "$ref": f"#/$defs/{name}"})
        assert body["_producer"] == lineage.PRODUCER, key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {"_producer": "x", "_schemaURL": "y"}, {**schema, "$ref": "#/$defs/SalesTalkBatchRunFacet"}
        )


def test_importing_the_module_needs_no_airflow() -> None:
    import subprocess
    import sys

    from tests.support.subprocesses import REPO_PYTHONPATH

    code = (
        "import sys, salestalk.lineage; print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": REPO_PYTHONPATH},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_a_partitioned_write_names_its_day_and_partition() -> None:
    import datetime as dt

    day = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    _, _, facets = lineage.dynamodb_write_lineage(
        tenant="acme",
        entity="insight_summary",
        table="app",
        region="us-east-1",
        interval=(day, day + dt.timedelta(days=1)),
        run_id="asset_triggered__x",
        partition_key="acme|2026-11-01",
    )
    body = Serde.to_dict(facets["salestalkBatch"])
    assert (body["tenant"], body["dataIntervalStart"], body["dataIntervalEnd"], body["partitionKey"]) == (
        "acme",
        "2026-11-01T00:00:00Z",
        "2026-11-02T00:00:00Z",
        "acme|2026-11-01",
    )
    schema = json.loads(FACET_SCHEMA.read_text())
    jsonschema.validate(body, {**schema, "$ref": "#/$defs/SalesTalkBatchRunFacet"})
