"""Lineage end to end: real Airflow (``dag.test()``) with the OpenLineage provider's listener, its events
captured by a loopback HTTP receiver; every step of every tenant names its datasets and carries its facets,
the counts agree with the warehouse, and no tenant's event names another tenant's prefixes or partition.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from salestalk.batch import Batch
from salestalk.names import STEPS
from salestalk.storage.tenant_dynamodb import partition_key
from tests.support.live_stack import clean_environment
from tests.support.sources import a_source, all_tenants, demo_resource
from tests.support.subprocesses import REPO_PYTHONPATH

pytestmark = pytest.mark.e2e

DAY = "2026-11-01"
DEMO = lambda c: demo_resource(c) is not None  # noqa: E731 - a filter for a_source
REST = a_source(DEMO, kind="rest_api", what="with demo data")
INBOUND = a_source(
    lambda c: DEMO(c) and c.extract.kind in {"s3_files", "events"}, what="reading S3 with demo data"
)
ENTITY = "insight_summary"


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lineage")
    out = root / "events.json"
    env = {
        **clean_environment(),
        "PYTHONPATH": REPO_PYTHONPATH,
        "GX_ANALYTICS_ENABLED": "false",
        "SALESTALK_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "SALESTALK_BUCKET": f"lineage-{uuid.uuid4().hex[:10]}",
        "SALESTALK_DYNAMODB_TABLE": f"lineage-app-{uuid.uuid4().hex[:8]}",
        "SALESTALK_ALERT_DIR": str(root / "alerts"),
    }
    argv = [
        sys.executable,
        "-m",
        "tests.e2e.lineage_capture",
        str(out),
        REST.name,
        INBOUND.name,
        "--insights",
    ]
    done = subprocess.run(
        argv, env=env, cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=540
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(out.read_text())
    for run in report["runs"]:
        assert run["state"] == "success", run
    report["env"] = env
    report["completes"] = [
        e["event"]
        for e in report["events"]
        if e["event"].get("eventType") == "COMPLETE" and "run" in e["event"]
    ]
    return report


def step_events(report: dict, source, step: str) -> dict[str, dict]:
    """The COMPLETE event of ``step`` per tenant (exactly one each)."""
    found: dict[str, dict] = {}
    for event in report["completes"]:
        if event["job"]["name"] != f"{source.dag_id}.tenant.{step}":
            continue
        tenant = event["run"]["facets"]["salestalkBatch"]["tenant"]
        assert tenant not in found, f"two COMPLETE events for {source.name} {step} {tenant}"
        found[tenant] = event
    return found


def names(datasets: list[dict]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def warehouse_count(report: dict, sql: str, params: list) -> int:
    import duckdb

    con = duckdb.connect(report["env"]["SALESTALK_DUCKDB_PATH"], read_only=True)
    try:
        return int(con.execute(sql, params).fetchone()[0])
    finally:
        con.close()


@pytest.mark.parametrize("source", [REST, INBOUND], ids=lambda s: s.extract.kind)
def test_every_step_of_every_tenant_names_its_datasets(captured, source) -> None:
    env = captured["env"]
    bucket = f"s3://{env['SALESTALK_BUCKET']}"
    db = Path(env["SALESTALK_DUCKDB_PATH"])
    duck = f"duckdb://{db.resolve()}"

    def table(schema: str, name: str) -> tuple[str, str]:
        return duck, f"{db.stem}.{schema}.{name}"

    for step in STEPS:
        events = step_events(captured, source, step)
        assert sorted(events) == sorted(source.tenants), step
        for tenant, event in events.items():
            batch = Batch(source.name, tenant, f"{DAY}T00:00:00Z", "2026-11-02T00:00:00Z", "x")
            raw = (bucket, f"tenants/{tenant}/raw/{source.name}/interval={batch.interval_label}/")
            staging = table("staging", source.name)
            if step == "extract":
                if source is REST:
                    expected_in = [
                        (captured["api_base_url"].rstrip("/"), source.extract.path.format(tenant=tenant))
                    ]
                else:
                    inbound = source.extract.prefix_pattern.format(ds=DAY)
                    expected_in = [(bucket, f"tenants/{tenant}/{inbound}")]
                expected = (expected_in, [raw])
            elif step == "load_to_staging":
                expected = ([raw], [staging])
            elif step == "validate":
                expected = ([staging], [table("audit", f"{source.name}_verdicts")])
            elif step == "quarantine":
                quarantine_prefix = (
                    bucket,
                    f"tenants/{tenant}/quarantine/{source.name}/interval={batch.interval_label}/",
                )
                expected = ([staging, raw], [table("quarantine", source.name), quarantine_prefix])
            else:
                expected = ([staging], [table("curated", source.name)])
            assert (names(event["inputs"]), names(event["outputs"])) == expected, (step, tenant)
            facet = event["run"]["facets"]["salestalkBatch"]
            assert facet["source"] == source.name and facet["step"] == step
            assert (facet["dataIntervalStart"], facet["dataIntervalEnd"]) == (
                f"{DAY}T00:00:00Z",
                "2026-11-02T00:00:00Z",
            )
            assert facet["_schemaURL"].endswith("#/$defs/SalesTalkBatchRunFacet")
            assert facet["_producer"].startswith("https://")


@pytest.mark.parametrize("source", [REST, INBOUND], ids=lambda s: s.extract.kind)
def test_counts_facets_agree_with_the_warehouse(captured, source) -> None:
    counts = {
        step: {
            t: e["run"]["facets"]["salestalkCounts"] for t, e in step_events(captured, source, step).items()
        }
        for step in STEPS
    }
    published_somewhere = 0
    for tenant in source.tenants:
        where = ["SELECT count(*) FROM {} WHERE _tenant_id = ?", [tenant]]
        staged = warehouse_count(captured, where[0].format(f"staging.{source.name}"), where[1])
        curated = warehouse_count(captured, where[0].format(f"curated.{source.name}"), where[1])
        quarantined = warehouse_count(captured, where[0].format(f"quarantine.{source.name}"), where[1])
        assert counts["extract"][tenant]["extracted"] == staged
        assert counts["load_to_staging"][tenant]["staged"] == staged
        validate = counts["validate"][tenant]
        assert validate["validated"] == staged
        assert validate["errorRate"] == pytest.approx(validate["failing"] / staged if staged else 0.0)
        assert "duplicatesDropped" in validate
        assert counts["quarantine"][tenant]["quarantined"] == quarantined
        assert counts["publish"][tenant]["published"] == curated  # a fresh warehouse: this run published all
        published_somewhere += curated
        curated_output = step_events(captured, source, "publish")[tenant]["outputs"][0]
        assert curated_output["outputFacets"]["outputStatistics"]["rowCount"] == curated
    assert published_somewhere > 0


def test_the_dynamodb_entity_of_every_tenant(captured) -> None:
    env = captured["env"]
    found: dict[str, dict] = {}
    for event in captured["completes"]:
        if event["job"]["name"].startswith("app_insight_summaries.") and event["outputs"]:
            tenant = event["run"]["facets"]["salestalkBatch"]["tenant"]
            found[tenant] = event
    assert sorted(found) == all_tenants()
    for tenant, event in found.items():
        [output] = event["outputs"]
        assert output["namespace"] == "awsdynamodb://dynamodb.us-east-1.amazonaws.com"
        assert output["name"] == f"{env['SALESTALK_DYNAMODB_TABLE']}/{partition_key(tenant, ENTITY)}"
        written = event["run"]["facets"]["salestalkCounts"]["itemsWritten"]
        assert written == output["outputFacets"]["outputStatistics"]["rowCount"] == 1
        assert event["run"]["facets"]["salestalkBatch"]["dataIntervalEnd"] == "2026-11-02T00:00:00Z"


def test_no_event_of_a_tenant_names_another_tenant(captured) -> None:
    tenants = all_tenants()
    checked = 0
    for event in captured["completes"] + [e["event"] for e in captured["events"] if "run" in e["event"]]:
        facet = event["run"].get("facets", {}).get("salestalkBatch")
        if not facet:
            continue
        own = facet["tenant"]
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            name = dataset["name"]
            if dataset["namespace"].startswith("s3://"):
                assert name.startswith(f"tenants/{own}/") and name.endswith("/"), name
            for other in tenants:
                if other == own:
                    continue
                segments = name.replace("#", "/").split("/")
                assert other not in segments, (own, name)
            checked += 1
        assert own in json.dumps(event["run"]["facets"]["salestalkBatch"])
    assert checked > 0
