"""Readers for tenant-dropped files, against moto over HTTP."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dev.embedded import ensure_bucket
from salestalk.extract.s3_files import FileFormatError, file_pages
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


def read(s3: TenantS3, fmt: str) -> list[dict]:
    return [r for page in file_pages(s3, "inbound/usage/{ds}/", "2026-11-01", fmt) for r in page]


def test_csv_rows_with_empty_cells_as_null(moto_client) -> None:
    s3 = drop(moto_client, "csv-tenant", "a.csv", b"id,count\n1,5\n2,\n")
    assert read(s3, "csv") == [{"id": "1", "count": "5"}, {"id": "2", "count": None}]


def test_jsonl_rejects_duplicate_keys(moto_client) -> None:
    s3 = drop(moto_client, "jsonl-tenant", "a.jsonl", b'{"id": 1}\n{"tenantId": "t1", "tenantId": "t2"}\n')
    with pytest.raises(
        FileFormatError, match=r"a.jsonl is not valid jsonl: line 2: duplicate JSON key 'tenantId'"
    ):
        read(s3, "jsonl")


def test_parquet_rows(moto_client) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"id": ["a", "b"], "n": [1, 2]}), sink)
    s3 = drop(moto_client, "parquet-tenant", "a.parquet", sink.getvalue())
    assert read(s3, "parquet") == [{"id": "a", "n": 1}, {"id": "b", "n": 2}]


def test_files_are_read_in_key_order_and_only_from_the_own_tenant(moto_client) -> None:
    drop(moto_client, "order-t1", "b.jsonl", json.dumps({"id": "second"}).encode())
    s3 = drop(moto_client, "order-t1", "a.jsonl", json.dumps({"id": "first"}).encode())
    drop(moto_client, "order-t10", "a.jsonl", json.dumps({"id": "other tenant"}).encode())
    assert read(s3, "jsonl") == [{"id": "first"}, {"id": "second"}]


def test_a_ragged_csv_names_the_file_and_line(moto_client) -> None:
    s3 = drop(moto_client, "ragged-tenant", "bad.csv", b"id,count\n1,2,3\n")
    with pytest.raises(FileFormatError, match="bad.csv is not valid csv: line 2 has more fields"):
        read(s3, "csv")
