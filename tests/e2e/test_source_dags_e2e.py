"""Every demo source, end to end through real Airflow, checked against an oracle computed from the seed."""

from __future__ import annotations

import datetime as dt

import pytest

from dev.fakeapi import seed
from tests.e2e.seed_oracle import CONFIGS, RESOURCES, SOURCES, day_start, newest_versions, oracle, tenants_of
from tests.support.sources import hashed_pii_columns

pytestmark = pytest.mark.e2e


def outputs(harness) -> dict:
    """What a rerun must leave unchanged: curated rows, quarantined rows and every S3 object (key, ETag)."""
    quarantine = "SELECT * EXCLUDE (_run_id, _load_id, _quarantined_run_id) FROM quarantine.{} ORDER BY ALL"
    return {
        "curated": {s: harness.curated(s) for s in SOURCES},
        "quarantine": {s: harness.sql(quarantine.format(s)) for s in SOURCES},
        "objects": harness.objects(),
    }


def test_every_demo_source_end_to_end_then_rerun_changes_nothing(harness) -> None:
    days = ("2026-11-01", "2026-11-02")
    for day in days:
        for source in SOURCES:
            outcome = harness.run(source, day)
            assert outcome.state == "success", (source, day, outcome.failed_tasks)

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
