"""Each step reports its S3 writes per tenant: a rerun's identical objects count as duplicates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from dev.embedded import ensure_bucket
from salestalk.pipeline import Services, advance_cursor, read_cursor
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key, s3_listings


@pytest.fixture
def services(moto_server, monkeypatch, tmp_path: Path) -> Services:
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    client = moto_server.client("s3")
    ensure_bucket(client, "counts")
    return Services(client, "counts", DuckDBWarehouse(tmp_path / "w.duckdb"))


def test_written_then_duplicate(services: Services) -> None:
    stamp = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    advance_cursor(services.tenant_s3("acme"), "deals", stamp)
    assert services.s3_write_counts() == {
        "acme": {"attempted": 1, "blocked": 0, "written": 1, "duplicate": 0, "dead_lettered": 0}
    }
    advance_cursor(services.tenant_s3("acme"), "deals", stamp)
    assert services.s3_write_counts() == {
        "acme": {"attempted": 2, "blocked": 0, "written": 1, "duplicate": 1, "dead_lettered": 0}
    }
    assert read_cursor(services.tenant_s3("acme"), "deals") == stamp
    assert read_cursor(services.tenant_s3("acme-eu"), "deals") is None


def test_a_disallowed_kms_key_is_refused_before_any_write(services: Services, monkeypatch) -> None:
    from salestalk.storage.tenant_s3 import DisallowedKmsKey

    monkeypatch.setenv(KMS_KEY_ENV, "arn:aws:kms:us-east-1:000000000000:key/not-ours")
    with pytest.raises(DisallowedKmsKey, match="not in SALESTALK_KMS_ALLOWED_KEY_IDS"):
        Services(services.s3_client, "counts", services.warehouse).tenant_s3("acme")


def test_the_cursor_read_lists_from_a_day_before_the_batch_and_falls_back_to_the_whole_log(services) -> None:
    s3 = services.tenant_s3("acme")
    old = [dt.datetime(2026, 10, day, tzinfo=dt.UTC) for day in (1, 2, 3)]
    for stamp in old:
        advance_cursor(s3, "calls", stamp)
    batch_start = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    with s3_listings(s3.client) as calls:
        assert read_cursor(s3, "calls", near=batch_start) == old[-1], "paused for weeks: the whole log"
    assert [("StartAfter" in c) for c in calls] == [True, False]

    recent = batch_start - dt.timedelta(hours=1)
    advance_cursor(s3, "calls", recent)
    with s3_listings(s3.client) as calls:
        assert read_cursor(s3, "calls", near=batch_start) == recent
    assert [c["StartAfter"] for c in calls] == [s3.key("state", "calls", "cursor", "20261119T000000Z.json")]

    ahead = batch_start + dt.timedelta(days=30)  # a backfill of an older interval
    advance_cursor(s3, "calls", ahead)
    assert read_cursor(s3, "calls", near=batch_start) == ahead
    assert read_cursor(s3, "calls") == ahead
