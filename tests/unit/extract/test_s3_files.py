"""Readers for tenant-dropped files, against moto over HTTP."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dev.embedded import ensure_bucket
from salestalk.extract.s3_files import file_chunks
from salestalk.storage.tenant_s3 import TenantS3
from tests.support.moto import kms_key


@pytest.fixture(scope="module")
def moto_client(moto_server):
    client = moto_server.client("s3")
    ensure_bucket(client, "files")
    client.salestalk_kms = kms_key(moto_server)
    return client


def drop(client, tenant: str, name: str, body: bytes) -> TenantS3:
    s3 = TenantS3(client, "files", tenant, kms=client.salestalk_kms)
    s3.put_bytes(s3.key("inbound", "usage", "2026-11-01", name), body)
    return s3


COLUMNS = ["id", "count"]


def landed(s3: TenantS3, fmt: str, columns: list[str] = COLUMNS) -> list[tuple[dict, list[str]]]:
    """Each row as it would land (configured columns and ``_extra_json``) with its rejections."""
    rows = []
    for chunk in file_chunks(s3, "inbound/usage/{ds}/", "2026-11-01", fmt, columns):
        for n, row in enumerate(chunk.table.select([*columns, "_extra_json"]).to_pylist()):
            rows.append((row, chunk.rejections.get(n, [])))
    return rows


def read(s3: TenantS3, fmt: str, columns: list[str] = COLUMNS) -> list[dict]:
    return [{k: v for k, v in row.items() if k in columns} for row, _ in landed(s3, fmt, columns)]


def test_csv_rows_with_empty_cells_as_null(moto_client) -> None:
    s3 = drop(moto_client, "csv-tenant", "a.csv", b"id,count\n1,5\n2,\n")
    assert read(s3, "csv") == [{"id": "1", "count": "5"}, {"id": "2", "count": None}]


def test_a_jsonl_record_with_a_duplicate_key_is_rejected_by_field_and_its_neighbours_land(
    moto_client,
) -> None:
    s3 = drop(
        moto_client, "jsonl-tenant", "a.jsonl", b'{"id": 1}\n{"id": 2, "count": 1, "count": 2}\n{"id": 3}\n'
    )
    rows = landed(s3, "jsonl")
    assert [r["id"] for r, _ in rows] == ["1", "2", "3"]
    assert [reasons for _, reasons in rows] == [[], ["duplicate_key(count)"], []]
    assert rows[1][0]["count"] == "1", "the first value is kept"


def test_bad_lines_and_bytes_are_rows_to_quarantine_not_file_failures(moto_client) -> None:
    body = b'{"id": "a"}\nnot json\n{"id": "b\xff", "count": NaN}\n{"id": "c"}\n'
    s3 = drop(moto_client, "bad-lines-tenant", "a.jsonl", body)
    rows = landed(s3, "jsonl")
    assert [r["id"] for r, _ in rows] == ["a", "b\\xff", "c", None]
    assert rows[1][1] == ["invalid_text(id)", "non_finite(count)"]
    assert rows[3][1] == ["malformed_record"]
    assert json.loads(rows[3][0]["_extra_json"])["_line"] == 2


def test_parquet_rows(moto_client) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "n": [1, 2]}), sink)
    s3 = drop(moto_client, "parquet-tenant", "a.parquet", sink.getvalue())
    assert read(s3, "parquet", ["id", "n"]) == [{"id": "a", "n": "1"}, {"id": "b", "n": "2"}]


def test_files_are_read_in_key_order_and_only_from_the_own_tenant(moto_client) -> None:
    drop(moto_client, "order-t1", "b.jsonl", json.dumps({"id": "second"}).encode())
    s3 = drop(moto_client, "order-t1", "a.jsonl", json.dumps({"id": "first"}).encode())
    drop(moto_client, "order-t10", "a.jsonl", json.dumps({"id": "other tenant"}).encode())
    assert read(s3, "jsonl", ["id"]) == [{"id": "first"}, {"id": "second"}]


def test_a_ragged_csv_row_lands_as_malformed_naming_the_file_and_line(moto_client) -> None:
    s3 = drop(moto_client, "ragged-tenant", "bad.csv", b"id,count\n1,2,3\n2,5\n")
    rows = landed(s3, "csv")
    assert [(r["id"], reasons) for r, reasons in rows] == [("2", []), (None, ["malformed_record"])]
    where = json.loads(rows[1][0]["_extra_json"])
    assert where["_file"].endswith("bad.csv") and where["_line"] == 2


def test_csv_invalid_utf8_is_rejected_by_column(moto_client) -> None:
    s3 = drop(moto_client, "utf8-tenant", "a.csv", b"id,count\nok,1\nb\xffd,2\n")
    rows = landed(s3, "csv")
    assert [(r["id"], reasons) for r, reasons in rows] == [("ok", []), ("b\\xffd", ["invalid_text(id)"])]


def test_a_file_that_is_not_parquet_lands_as_one_malformed_row(moto_client) -> None:
    s3 = drop(moto_client, "notparquet-tenant", "a.parquet", b"PAR1 but not really")
    ((row, reasons),) = landed(s3, "parquet")
    assert reasons == ["malformed_record"] and "a.parquet" in row["_extra_json"]
