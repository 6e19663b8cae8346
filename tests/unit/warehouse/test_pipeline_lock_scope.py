"""The warehouse lock is held for statements only: S3 reads and writes and GX happen while no session is open.
GX's context is built once per process and shared by every tenant's validation, with the same results.

Real moto (over HTTP), real DuckDB, real GX. The S3 client reports, at the boundary (botocore's
``before-send``), whether a warehouse ticket existed when each request went out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os

import pytest

from dev.embedded import ensure_bucket
from salestalk import pipeline
from salestalk.batch import Batch
from salestalk.config.models import QuarantinePolicy
from salestalk.land import land_records
from salestalk.names import EXTRACT, QUARANTINE, VALIDATE
from salestalk.pii import PII_KEY_ENV
from salestalk.quality import gx_runner
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse import tables
from salestalk.warehouse.duckdb import DuckDBWarehouse
from salestalk.warehouse.lock import TICKET, lock_times
from tests.support.moto import kms_key
from tests.support.sources import a_source, demo_resource

START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
BUCKET = "lockscope"
WAREHOUSE_STEPS = ("load_to_staging", "validate", "quarantine", "publish")


def _deal(n: int, **overrides) -> dict:
    row = {
        "deal_id": f"D{n:03d}",
        "account_name": f"Account {n}",
        "stage": "proposal",
        "amount": 1000.0 + n,
        "currency": "USD",
        "owner_email": f"rep{n}@example.com",
        "close_date": "2026-12-01",
        "updated_at": f"2026-11-01T{n % 24:02d}:00:00Z",
    }
    return {**row, **overrides}


RECORDS = [*(_deal(n) for n in range(1, 13)), _deal(30, amount=-5.0), _deal(31, stage="lost")]


@pytest.fixture
def landed(moto_server, monkeypatch, tmp_path):
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    monkeypatch.setenv(PII_KEY_ENV, "lock-scope-test-pii-key")
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    client = moto_server.client("s3")
    ensure_bucket(client, BUCKET)
    source = a_source(
        lambda c: demo_resource(c) == "deals", kind="rest_api", what="reading the fake API's deals"
    )
    source = source.model_copy(
        update={"quarantine": QuarantinePolicy(max_error_rate=0.5, on_table_failure="publish_passing")}
    )
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    services = pipeline.Services(client, BUCKET, warehouse)
    batches = {}
    for tenant in ("acme", "beta"):
        batch = Batch(source.name, tenant, START, END, "manual__1")
        land_records(
            [RECORDS],
            services.tenant_s3(tenant),
            batch,
            source.table_schema.column_names,
            "updated_at",
            (START - dt.timedelta(minutes=source.extract.overlap_minutes), END),
            chunk_rows=5,
            screen=pipeline._pii_screen(source, tenant),
        )
        batches[tenant] = batch
    return client, source, services, batches


def _tickets(warehouse: DuckDBWarehouse) -> int:
    folder = warehouse.lock.directory
    return sum(n.startswith(TICKET) for n in os.listdir(folder)) if folder.exists() else 0


def _comparable(result: dict) -> dict:
    return {k: v for k, v in result.items() if not k.startswith(("lock_", "data_docs"))}


def test_s3_and_gx_run_outside_the_warehouse_lock_and_gx_context_is_built_once(landed, monkeypatch) -> None:
    client, source, services, batches = landed
    warehouse = services.warehouse
    s3_calls: list[tuple[str, int]] = []  # (operation, warehouse tickets when it went out)
    gx_calls: list[int] = []

    def on_send(event_name: str, **_) -> None:
        s3_calls.append((event_name.rsplit(".", 1)[-1], _tickets(warehouse)))

    real_run_gx = gx_runner.run_gx

    def run_gx(*args, **kwargs):
        gx_calls.append(_tickets(warehouse))
        return real_run_gx(*args, **kwargs)

    monkeypatch.setattr(gx_runner, "run_gx", run_gx)
    monkeypatch.setattr(gx_runner, "_contexts", {})  # a fresh process as far as GX is concerned
    monkeypatch.setattr(gx_runner, "context_builds", {})
    client.meta.events.register("before-send.s3", on_send)
    try:
        results = {
            tenant: {step: getattr(pipeline, step)(source, batch, services) for step in WAREHOUSE_STEPS}
            for tenant, batch in batches.items()
        }
    finally:
        client.meta.events.unregister("before-send.s3", on_send)

    gets = [tickets for operation, tickets in s3_calls if operation == "GetObject"]
    assert len(gets) >= 2 * 3, "each tenant's load and quarantine read its landed parts"
    assert {op for op, _ in s3_calls} >= {"GetObject", "PutObject"}, "quarantine wrote its object"
    assert [c for c in s3_calls if c[1]] == [], "no S3 request went out while a warehouse session was open"
    assert gx_calls == [0, 0], "GX ran once per tenant, with no warehouse session open"
    assert list(gx_runner.context_builds.values()) == [1], "one GX context for both tenants"

    acme, beta = results["acme"], results["beta"]
    for step in WAREHOUSE_STEPS:
        assert acme[step]["lock_held_seconds"] > 0, step
        assert acme[step]["lock_wait_seconds"] >= 0, step
    recorded = tables.batch_results(warehouse, source.name, START)  # what the tenant_scale benchmark reads
    for tenant in ("acme", "beta"):
        for step in WAREHOUSE_STEPS:
            kept = recorded[tenant][step]
            assert {"lock_wait_seconds", "lock_held_seconds"} <= set(kept), (tenant, step)
            assert 0 < kept["lock_held_seconds"] <= results[tenant][step]["lock_held_seconds"], (tenant, step)
    assert acme["validate"]["failing"] == 2 and acme["quarantine"]["quarantined"] == 2
    assert _comparable(acme["validate"]) == _comparable(beta["validate"]), "same rows, same verdicts"
    assert "acme" in acme["validate"]["data_docs_page"] and "beta" in beta["validate"]["data_docs_page"]

    # A freshly built context (a new process) gives the very same validation as the shared one.
    monkeypatch.setattr(gx_runner, "_contexts", {})
    again = pipeline.validate(source, batches["acme"], services)
    assert list(gx_runner.context_builds.values()) == [2]
    assert _comparable(again) == _comparable(acme["validate"])


def _sessions(step, source, batch, services) -> tuple[dict, int]:
    """The step's counts and how many warehouse sessions it opened."""
    with lock_times() as times:
        counts = getattr(pipeline, step)(source, batch, services)
    return counts, times.sessions


def test_a_shard_s_quarantine_opens_one_session_and_validate_defers_its_record(landed) -> None:
    """In a shard task, validate's result is recorded with the shard's (deferred_results) and quarantine,
    given validate's counts from this run, opens one session instead of three. The rows are the same."""
    _, source, services, batches = landed
    warehouse = services.warehouse
    on_its_own, in_a_shard = batches["beta"], batches["acme"]

    for batch in (on_its_own, in_a_shard):
        pipeline.load_to_staging(source, batch, services)
    alone, alone_sessions = _sessions("validate", source, on_its_own, services)
    with tables.deferred_results() as pending:
        validated, shard_sessions = _sessions("validate", source, in_a_shard, services)
    assert (alone_sessions, shard_sessions) == (2, 1), "the shard's recording session writes it"
    assert VALIDATE not in tables.batch_results(warehouse, source.name, START).get("acme", {})
    with warehouse.connect() as s:
        tables.record_results(s, pending)

    quarantined, sessions = _sessions("quarantine", source, on_its_own, services)
    assert sessions == 3, "without validate's counts: count, copy, record"
    upstream = dataclasses.replace(services, upstream=validated, guards={})
    with tables.deferred_results() as pending:
        shard_quarantined, shard_sessions = _sessions("quarantine", source, in_a_shard, upstream)
    assert shard_sessions == 1
    with warehouse.connect() as s:
        tables.record_results(s, pending)
    assert _comparable(shard_quarantined) | {"quarantine_key": None} == _comparable(quarantined) | {
        "quarantine_key": None
    }
    assert shard_quarantined["quarantined"] == validated["failing"] == 2
    recorded = tables.batch_results(warehouse, source.name, START)
    assert _comparable(recorded["acme"][QUARANTINE]) == _comparable(shard_quarantined)
    assert _comparable(recorded["acme"][VALIDATE]) == _comparable(validated)
    assert _comparable(validated) == _comparable(alone), "same rows, same verdicts"


def test_a_stale_count_of_failing_rows_still_quarantines_every_failing_row(landed) -> None:
    """Validate's counts say no row failed, but verdicts are there (validate ran again outside the task):
    quarantine finds them in its session, fetches the landed parts and copies every failing row."""
    _, source, services, batches = landed
    batch = batches["acme"]
    pipeline.load_to_staging(source, batch, services)
    validated = pipeline.validate(source, batch, services)
    assert validated["failing"] == 2
    stale = dataclasses.replace(services, upstream={**validated, "failing": 0}, guards={})

    counts, sessions = _sessions("quarantine", source, batch, stale)

    assert counts["quarantined"] == 2 and sessions == 3, "one look, one copy with the parts, one record"
    with services.warehouse.connect() as s:
        raw = s.fetchall(f"SELECT _raw_record FROM quarantine.{source.name} WHERE _tenant_id = 'acme'")
    assert len(raw) == 2 and all(r[0] for r in raw), "each with its record as landed"


def test_a_shard_task_opens_one_session_per_tenant_and_step(landed, moto_server, monkeypatch) -> None:
    """``tasks.run_step`` as a shard task runs it (tenants in threads): besides the shard's plan and
    recording sessions, each tenant's load, validate and quarantine opens one warehouse session."""
    from salestalk import tasks

    _, source, services, batches = landed
    aws = {"endpoint_url": moto_server.endpoint_url, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": aws}
    monkeypatch.setenv("SALESTALK_AWS_CONN_ID", "aws_lock_scope")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_LOCK_SCOPE", json.dumps(conn))
    monkeypatch.setenv(f"AIRFLOW_CONN_{source.extract.connection.upper()}", '{"conn_type": "http"}')
    monkeypatch.setenv("SALESTALK_BUCKET", BUCKET)
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(services.warehouse.path))
    tenants = sorted(batches)
    run_id = batches[tenants[0]].run_id
    context = {"run_id": run_id, "data_interval_start": START, "data_interval_end": END, "params": {}}
    with services.warehouse.connect() as s:  # what the shard's extract task notes
        tables.record_finished(
            s, source.name, START, run_id, EXTRACT, {t: {"landed": len(RECORDS)} for t in tenants}
        )

    sessions = {}
    for step in WAREHOUSE_STEPS[:3]:
        with lock_times() as times:
            done = tasks.run_step(step, source.name, tenants, context)
        assert sorted(done) == tenants, step
        sessions[step] = times.sessions

    assert sessions == dict.fromkeys(WAREHOUSE_STEPS[:3], len(tenants) + 2), "plan, one per tenant, record"
    recorded = tables.batch_results(services.warehouse, source.name, START)
    for tenant in tenants:
        assert recorded[tenant][VALIDATE]["failing"] == recorded[tenant][QUARANTINE]["quarantined"] == 2
