"""An interval with no records goes through every step and publishes nothing, without an error."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dev.embedded import ensure_bucket
from salestalk import pipeline
from salestalk.batch import Batch
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key
from tests.support.sources import a_source


@pytest.fixture
def services(moto_server, monkeypatch, tmp_path: Path) -> pipeline.Services:
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    client = moto_server.client("s3")
    ensure_bucket(client, "empty-batch")
    return pipeline.Services(client, "empty-batch", DuckDBWarehouse(tmp_path / "w.duckdb"))


@pytest.mark.parametrize("kind", ["s3_files", "events"])
def test_an_empty_interval_validates_and_publishes_nothing(services, kind: str) -> None:
    source = a_source(kind=kind)  # the first of its kind: nothing dropped under its inbound prefix
    start = dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    batch = Batch(source.name, source.tenants[0], start, start + dt.timedelta(days=1), "empty")

    assert pipeline.extract_and_land(source, batch, services)["extracted"] == 0
    loaded = pipeline.load_to_staging(source, batch, services)
    assert {k: v for k, v in loaded.items() if not k.startswith("lock_")} == {"staged": 0}
    validation = pipeline.validate(source, batch, services)
    assert (validation["rows"], validation["failing"], validation["missing_columns"]) == (0, 0, [])
    assert pipeline.quarantine(source, batch, services)["quarantined"] == 0
    assert pipeline.publish(source, batch, services)["published"] == 0
