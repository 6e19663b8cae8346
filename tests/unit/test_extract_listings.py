"""An extract lists the batch's landed keys once, and the cursor log from a day before the batch."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import pytest

from dev.embedded import ensure_bucket
from salestalk import pipeline
from salestalk.batch import Batch
from salestalk.land import raw_prefix_segments
from salestalk.names import STATE
from salestalk.storage.keys import build_prefix
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key, s3_listings
from tests.support.sources import a_source


@pytest.fixture
def services(moto_server, monkeypatch, tmp_path: Path) -> pipeline.Services:
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    client = moto_server.client("s3")
    ensure_bucket(client, "extract-listings")
    return pipeline.Services(client, "extract-listings", DuckDBWarehouse(tmp_path / "w.duckdb"))


@pytest.mark.parametrize("kind", ["s3_files", "events"])
def test_an_extract_lists_its_batch_and_cursor_once(services, kind: str) -> None:
    source = a_source(kind=kind)
    tenant = source.tenants[0]
    start = dt.datetime(2026, 11, 5, tzinfo=dt.UTC)
    batch = Batch(source.name, tenant, start, start + dt.timedelta(days=1), "listings")
    raw = build_prefix(tenant, *raw_prefix_segments(batch))
    cursor = build_prefix(tenant, STATE, source.name, "cursor")
    with s3_listings(services.s3_client) as calls:
        pipeline.extract_and_land(source, batch, services)
    counted = collections.Counter(c["Prefix"] for c in calls)
    assert counted[raw] == 1, calls
    assert counted[cursor] == 2, "no cursor near the batch yet: the whole log is listed too"

    with s3_listings(services.s3_client) as calls:
        pipeline.extract_and_land(source, batch, services)
    counted = collections.Counter(c["Prefix"] for c in calls)
    assert (counted[raw], counted[cursor]) == (1, 1), calls
    assert [c for c in calls if c["Prefix"] == cursor][0].get("StartAfter", "").startswith(cursor)
