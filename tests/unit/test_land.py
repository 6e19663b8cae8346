"""Landing raw records: text columns, drift columns, chunked parts, manifest last, idempotent reruns."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

import pytest

from dev.embedded import ensure_bucket
from salestalk.batch import Batch
from salestalk.land import iter_raw_parts, land_records, manifest_keys, raw_keys, read_manifest
from salestalk.rawtext import records_chunk, values_text
from salestalk.storage.tenant_s3 import ObjectConflict, TenantS3
from tests.support.moto import kms_key, s3_listings

COLUMNS = ["id", "amount", "updated_at"]
WINDOW = (dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def s3(moto_server):
    client = moto_server.client("s3")
    ensure_bucket(client, "land")
    return TenantS3(client, "land", "acme", kms=kms_key(moto_server))


def batch(source: str) -> Batch:
    return Batch(source, "acme", WINDOW[0], WINDOW[1], "run-1")


def records(n: int) -> list[dict]:
    return [
        {"id": f"r{i:04d}", "amount": i * 1.5, "updated_at": f"2026-11-01T00:{i % 60:02d}:00Z"}
        for i in range(n)
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        ("x", "x"),
        (True, "true"),
        (3, "3"),
        (2.5, "2.5"),
        (1e20, "1e+20"),
        ({"b": 1}, '{"b": 1}'),
        (dt.date(2026, 11, 1), "2026-11-01"),
        (dt.datetime(2026, 11, 1, 13, 5, tzinfo=dt.UTC), "2026-11-01T13:05:00+00:00"),
        (Decimal("12.50"), "12.50"),
        (2**70, str(2**70)),
    ],
)
def test_values_land_as_text(value, text) -> None:
    """Alone and next to values of other types (Arrow's path and the value-by-value path agree)."""
    assert values_text([value], "c", {}).to_pylist() == [text]
    assert values_text([value, "other"], "c", {}).to_pylist() == [text, "other"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "non_finite(c)"),
        (float("-inf"), "non_finite(c)"),
        ("\ud83d", "invalid_text(c)"),
        ({"nested": [1, {"x": None}]}, "not_scalar(c)"),
        ([1, 2], "not_scalar(c)"),
        ("x" * (2**20 + 1), "too_long(c)"),
    ],
)
def test_a_value_that_cannot_load_as_it_came_is_rejected_by_column_and_its_neighbours_land(
    value, reason
) -> None:
    for values in ([value], ["fine", value, "fine"]):
        rejections: dict = {}
        text = values_text(values, "c", rejections).to_pylist()
        row = (
            values.index(value)
            if not isinstance(value, float)
            else next(n for n, v in enumerate(values) if isinstance(v, float))
        )
        assert rejections == {row: [reason]}
        assert [t for n, t in enumerate(text) if n != row] == ["fine"] * (len(values) - 1)
        assert text[row] is not None and len(text[row].encode()) <= 2**20
        text[row].encode("utf-8")


def test_typed_parquet_values_land(s3) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from salestalk.extract.s3_files import file_chunks
    from salestalk.land import land_chunks

    sink = io.BytesIO()
    typed = pa.table(
        {"id": ["a"], "amount": pa.array([Decimal("1.50")], pa.decimal128(6, 2)), "updated_at": [WINDOW[0]]}
    )
    pq.write_table(typed, sink)
    s3.put_bytes(s3.key("inbound", "typed", "2026-11-01", "a.parquet"), sink.getvalue())
    chunks = file_chunks(s3, "inbound/typed/{ds}/", "2026-11-01", "parquet", COLUMNS)
    manifest = land_chunks(chunks, s3, batch("typed"), COLUMNS, "updated_at", WINDOW)
    (row,) = next(iter_raw_parts(s3, manifest)).to_pylist()
    assert (row["amount"], row["updated_at"]) == ("1.50", "2026-11-01T00:00:00+00:00")


def test_unknown_and_absent_fields_are_kept_for_drift_checks() -> None:
    chunk = records_chunk(
        [{"id": "a", "amount": 1, "updated_at": "t", "region": "emea"}, {"id": "b"}], COLUMNS
    )
    rows = chunk.table.to_pylist()
    assert rows[0]["_extra_json"] == '{"region": "emea"}' and rows[0]["_absent"] is None
    assert rows[1]["_absent"] == "amount,updated_at" and rows[1]["_extra_json"] is None
    assert chunk.observed == {"id": 2, "amount": 1, "updated_at": 1, "region": 1}


def test_records_are_chunked_and_the_manifest_lists_every_part(s3) -> None:
    pages = (records(2500)[i : i + 100] for i in range(0, 2500, 100))
    manifest = land_records(pages, s3, batch("chunked"), COLUMNS, "updated_at", WINDOW, chunk_rows=1000)
    assert [p["rows"] for p in manifest.parts] == [1000, 1000, 500]
    assert manifest.rows == 2500
    assert manifest.max_cursor == "2026-11-01T00:59:00Z"
    assert read_manifest(s3, batch("chunked")) == manifest
    landed = [row for part in iter_raw_parts(s3, manifest) for row in part.to_pylist()]
    assert [r["id"] for r in landed] == [r["id"] for r in records(2500)]
    assert [r["_record_num"] for r in landed] == list(range(2500))


def test_a_rerun_rewrites_the_same_keys_and_removes_stale_parts(s3) -> None:
    first = land_records([records(2500)], s3, batch("rerun"), COLUMNS, "updated_at", WINDOW, chunk_rows=1000)
    keys_after_first = sorted(s3.list_keys("raw", "rerun"))
    again = land_records([records(2500)], s3, batch("rerun"), COLUMNS, "updated_at", WINDOW, chunk_rows=1000)
    assert sorted(s3.list_keys("raw", "rerun")) == keys_after_first
    assert again.landed_at == first.landed_at, "identical data keeps its landing time"
    smaller = land_records(
        [records(500)],
        s3,
        batch("rerun"),
        COLUMNS,
        "updated_at",
        WINDOW,
        chunk_rows=1000,
        now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    assert len(list(s3.list_keys("raw", "rerun"))) == 2, "one part plus the manifest"
    assert smaller.landed_at == "2030-01-01T00:00:00Z"


def test_a_changed_part_is_detected_on_read(s3) -> None:
    manifest = land_records([records(10)], s3, batch("tamper"), COLUMNS, "updated_at", WINDOW)
    with pytest.raises(ObjectConflict, match="already holds different content"):
        s3.put_bytes(manifest.parts[0]["key"], b"not the landed bytes")
    s3.client.put_object(
        Bucket=s3.bucket, Key=manifest.parts[0]["key"], Body=b"overwritten outside the guard"
    )
    with pytest.raises(ValueError, match="checksum mismatch"):
        list(iter_raw_parts(s3, manifest))


def test_a_landing_lists_the_batch_once_and_not_at_all_when_given_the_listing(s3) -> None:
    land = functools.partial(
        land_records,
        s3=s3,
        batch=batch("listed"),
        columns=COLUMNS,
        cursor_column="updated_at",
        window=WINDOW,
        chunk_rows=1000,
    )
    with s3_listings(s3.client) as calls:
        land([records(2500)])
    assert len(calls) == 1 and calls[0]["Prefix"].endswith("/"), calls

    before = raw_keys(s3, batch("listed"))
    with s3_listings(s3.client) as calls:
        smaller = land([records(500)], listed=before, now=dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    assert calls == []
    assert sorted(s3.list_keys("raw", "listed")) == sorted(
        [*(p["key"] for p in smaller.parts), *manifest_keys(s3, batch("listed"))]
    ), "the parts and manifest it replaced are gone"
    assert len(manifest_keys(s3, batch("listed"))) == 1
    assert read_manifest(s3, batch("listed")) == smaller
