"""One deals batch through every step on DuckDB and on Snowflake (fakesnow, patch mode): same verdicts."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dev.embedded import ensure_bucket
from salestalk import pipeline
from salestalk.batch import Batch
from salestalk.config.models import QuarantinePolicy, SnowflakeOptions
from salestalk.land import land_records
from salestalk.pii import PII_KEY_ENV
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from salestalk.warehouse.snowflake import SnowflakeWarehouse
from tests.support.moto import kms_key
from tests.support.sources import a_source, demo_resource

CURATED_COLUMNS = [
    "deal_id",
    "account_name",
    "stage",
    "amount",
    "currency",
    "owner_email",
    "close_date",
    "updated_at",
]
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)


def deals_source():
    """The source these deal records belong to, found by its shape: the demo REST source of the fake API's deals."""
    return a_source(
        lambda c: demo_resource(c) == "deals", kind="rest_api", what="reading the fake API's deals"
    )


def deal(n: int, **overrides) -> dict:
    row = {
        "deal_id": f"D{n:03d}",
        "account_name": f"Account {n}",
        "stage": "proposal",
        "amount": 1000.0 + n,
        "currency": "USD",
        "owner_email": f"rep{n}@acme.example",
        "close_date": "2026-12-01",
        "updated_at": f"2026-11-01T{n % 24:02d}:00:00Z",
    }
    return {**row, **overrides}


RECORDS = [
    *(deal(n) for n in range(1, 21)),
    deal(2, stage="negotiation", updated_at="2026-11-01T12:30:00Z"),  # newer version of D002
    deal(3, stage="prospecting", updated_at="2026-10-31T23:00:00Z"),  # older version of D003
    deal(4),  # exact duplicate
    deal(30, amount=-5.0),  # out of range
    deal(31, stage="lost"),  # not in set
    deal(32, owner_email="not an email"),  # regex
    deal(33, amount="12abc"),  # cast failure
    deal(34, deal_id=None),  # primary key null
    deal(35, updated_at=None),  # cursor null (and not-null rule)
    deal(36, currency=None, close_date="2026-02-30"),  # null + cast failure
    deal(37, owner_email="ok@example.com\n"),  # Python's $ matches before a final newline
    deal(38, surprise="x"),  # schema drift: an unknown field fails the table-level column check
    deal(39, surprise="y", amount=-1.0),  # drift on a quarantined row: its raw record keeps the unknown field
]


@pytest.fixture(scope="module")
def landed(moto_server):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _land(moto_server, monkeypatch)


def _land(moto_server, monkeypatch, records=RECORDS, bucket="sfparity"):
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    monkeypatch.setenv(PII_KEY_ENV, "snowflake-parity-test-pii-key")
    client = moto_server.client("s3")
    ensure_bucket(client, bucket)
    source = deals_source().model_copy(
        update={"quarantine": QuarantinePolicy(max_error_rate=0.5, on_table_failure="publish_passing")}
    )
    batch = Batch(source.name, "acme", START, END, "manual__1")
    services = pipeline.Services(client, bucket, None)
    manifest = land_records(
        [records],
        services.tenant_s3("acme"),
        batch,
        source.table_schema.column_names,
        "updated_at",
        (START - dt.timedelta(minutes=source.extract.overlap_minutes), END),  # as the extract asks
        chunk_rows=10,
        screen=pipeline._pii_screen(source, "acme"),
    )
    assert manifest.rejected == 1, "the bad email is rejected before landing, on the clear value"
    assert len(manifest.parts) == -(-len(records) // 10)
    return client, source, batch


@pytest.fixture(scope="module")
def duckdb_run(landed, tmp_path_factory):
    """The DuckDB path's step results and outputs for the landed batch, computed once per module."""
    client, source, batch = landed
    duck = DuckDBWarehouse(tmp_path_factory.mktemp("duckdb") / "w.duckdb")
    return run_steps(source, batch, pipeline.Services(client, "sfparity", duck)), outputs(duck)


def run_steps(source, batch, services) -> dict:
    out = {}
    for step in ("load_to_staging", "validate", "quarantine", "publish"):
        out[step] = getattr(pipeline, step)(source, batch, services)
    return out


def outputs(warehouse) -> dict:
    """Quarantined rows, every staged row's raw record, and curated rows, read the same way on any backend."""
    name = deals_source().name
    with warehouse.connect() as s:
        d = s.dialect
        i = d.ident
        quarantined = s.fetchall(
            f"SELECT {i('_record_num')}, {i('_reasons')} FROM {d.table('quarantine', name)} "
            f"ORDER BY {i('_record_num')}"
        )
        raw = s.fetchall(f"SELECT {i('_record_num')}, {i('_raw_record')} FROM {d.table('quarantine', name)}")
        columns = [*CURATED_COLUMNS, "_tenant_id", "_loaded_at", "_interval_start"]
        curated = s.fetchall(
            f"SELECT {', '.join(i(c) for c in columns)} FROM {d.table('curated', name)} ORDER BY {i('deal_id')}"
        )
    return {
        "verdicts": [(int(n), d.as_list(r)) for n, r in quarantined],
        "raw_records": {int(n): json.loads(r) for n, r in raw},
        "curated": curated,
    }


@pytest.mark.parametrize("stage_kind", ["internal", "external"])
def test_same_verdicts_and_curated_rows_on_duckdb_and_snowflake(
    landed, duckdb_run, tmp_path, snowflake_patched, stage_kind
) -> None:
    client, source, batch = landed
    duck_counts, duck_out = duckdb_run

    snow = SnowflakeWarehouse()
    if stage_kind == "external":
        # A file:// stage stands in for the external S3 stage: the same COPY ... FILES = (<keys>) text.
        root = mirror_bucket(client, "sfparity", tmp_path / "bucket")
        with snow.connect() as con:
            con.execute('CREATE SCHEMA IF NOT EXISTS "STAGING"')
            con.execute(f'CREATE STAGE "STAGING"."SALESTALK_RAW" URL = \'file://{root}/\'')
    source = source.model_copy(update={"snowflake": SnowflakeOptions(stage_kind=stage_kind)})
    snow_counts = run_steps(source, batch, pipeline.Services(client, "sfparity", snow))

    for step in ("load_to_staging", "validate", "publish"):
        keep = {
            k: v
            for k, v in duck_counts[step].items()
            if k not in ("data_docs", "data_docs_page") and not k.startswith("lock_")  # Snowflake has no lock
        }
        assert {k: snow_counts[step][k] for k in keep} == keep, step
    assert snow_counts["quarantine"]["quarantined"] == duck_counts["quarantine"]["quarantined"]
    snow_out = outputs(snow)
    assert snow_out["verdicts"] == duck_out["verdicts"]
    assert snow_out["raw_records"] == duck_out["raw_records"]
    assert set(duck_out["raw_records"]) == {n for n, _ in duck_out["verdicts"]}, (
        "every quarantined row has one"
    )
    drifted = [r for r in duck_out["raw_records"].values() if "surprise" in r]
    assert [(r["deal_id"], r["surprise"], r["amount"], len(r)) for r in drifted] == [
        ("D039", "y", "-1", len(deal(39)) + 1)
    ], "_raw_record keeps the schema's fields and the unknown ones, as landed"
    assert normalise(snow_out["curated"]) == normalise(duck_out["curated"])
    assert duck_counts["validate"]["failing"] == 8, duck_counts["validate"]
    pii_reasons = [
        n for n, r in snow_out["verdicts"] if "expect_column_values_to_match_regex(owner_email)" in r
    ]
    assert len(pii_reasons) == 1, "the pre-landing PII verdict reaches quarantine on both backends"
    assert duck_counts["validate"]["unexpected_columns"] == ["surprise"]
    assert duck_counts["validate"]["table_failures"], "the drift must be reported by both backends alike"


def mirror_bucket(client, bucket, root):
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            path = root / item["Key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
    return root


def normalise(rows):
    from decimal import Decimal

    def value(v):
        if isinstance(v, Decimal):
            return int(v) if v == v.to_integral_value() else float(v)
        if isinstance(v, dt.datetime):
            return v.astimezone(dt.UTC)
        return v

    return [tuple(value(v) for v in row) for row in rows]


def test_snowflake_publish_is_idempotent_and_older_versions_never_win(landed, snowflake_patched) -> None:
    client, source, batch = landed
    source = source.model_copy(update={"snowflake": SnowflakeOptions(stage_kind="internal")})
    snow = SnowflakeWarehouse()
    services = pipeline.Services(client, "sfparity", snow)
    first = run_steps(source, batch, services)
    assert first["publish"]["inserted"] > 0

    def curated() -> list[tuple]:
        return outputs(snow)["curated"]

    before = curated()
    # A rerun and a retry of the same interval: every step again, then publish once more.
    rerun = run_steps(source, batch, services)
    assert pipeline.publish(source, batch, services)["published"] == 0
    assert rerun["publish"] == {**first["publish"], "published": 0, "inserted": 0, "updated": 0,
                                "stale_skipped": first["validate"]["passed"]}  # fmt: skip
    assert curated() == before

    # The next interval brings an older version of D002 and a newer one of D005.
    late = Batch(source.name, "acme", END, END + dt.timedelta(days=1), "scheduled__2")
    records = [
        deal(2, stage="closed_lost", updated_at="2026-11-01T06:00:00Z"),
        deal(5, stage="closed_won", updated_at="2026-11-02T09:00:00Z"),
    ]
    land_records([records], services.tenant_s3("acme"), late, source.table_schema.column_names,
                 "updated_at", (START, END + dt.timedelta(days=1)))  # fmt: skip
    second = run_steps(source, late, services)
    assert (second["publish"]["updated"], second["publish"]["stale_skipped"]) == (1, 1)
    after = {row[0]: row for row in curated()}
    stage = [c.name for c in source.table_schema.columns].index("stage")
    assert after["D002"][stage] == "negotiation", "an older version must never overwrite a newer one"
    assert after["D005"][stage] == "closed_won"
    assert {k: v for k, v in after.items() if k != "D005"} == {r[0]: r for r in before if r[0] != "D005"}
