"""What a set of runs left behind, in a form two independent executions can be compared by.

Columns and objects that name a run, a load or a wall-clock time differ between two executions of the
same intervals by design; everything else (every row, every object's content) must be equal.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any


def _sources() -> tuple[str, ...]:
    from salestalk.config.loader import load_sources

    return tuple(sorted(load_sources().configs))


SOURCES = _sources()
# Set per execution: which run or load wrote a row, and when.
VOLATILE_COLUMNS = {"_loaded_at", "_run_id", "_load_id", "_published_run_id", "_quarantined_run_id"}
VOLATILE_JSON_FIELDS = {"landed_at"}
# DynamoDB attributes derived from the wall-clock computedAt.
VOLATILE_ITEM_ATTRIBUTES = {"gsi1sk", "item_version", "expires_at", "payload_hash"}
_MANIFEST = re.compile(r"/_manifest-[^/]+\.json$")
_QUARANTINED = re.compile(r"/quarantined-[0-9a-f]+\.parquet$")


def warehouse_rows(duckdb_path: Path, volatile: set[str]) -> dict[str, list[list[str]]]:
    import duckdb

    con = duckdb.connect(str(duckdb_path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('staging', 'quarantine', 'curated') ORDER BY 1, 2"
        ).fetchall()
        found = {}
        for schema, table in tables:
            columns = [
                c
                for (c,) in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall()
                if c not in volatile
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f'SELECT {select} FROM "{schema}"."{table}"').fetchall()
            found[f"{schema}.{table}"] = sorted([str(v) for v in row] for row in rows)
        return found
    finally:
        con.close()


def _digest(key: str, body: bytes) -> str:
    """SHA-256 of the content, less what names the execution (manifest times, quarantine run ids)."""
    if key.endswith(".json"):
        data = json.loads(body)
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in VOLATILE_JSON_FIELDS}
        body = json.dumps(data, sort_keys=True).encode()
    elif key.endswith(".parquet") and _QUARANTINED.search(key):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(body))
        table = table.drop_columns([c for c in table.column_names if c in VOLATILE_COLUMNS])
        body = json.dumps(
            sorted(json.dumps(r, sort_keys=True, default=str) for r in table.to_pylist())
        ).encode()
    return hashlib.sha256(body).hexdigest()


def s3_objects(client, bucket: str, prefix: str = "") -> dict[str, list[str]]:
    """Every object, by key (manifest and quarantine names normalised), with its content digests."""
    found: dict[str, list[str]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            name = _QUARANTINED.sub("/quarantined-*.parquet", _MANIFEST.sub("/_manifest-*.json", key))
            found.setdefault(name, []).append(_digest(key, body))
    return {k: sorted(v) for k, v in sorted(found.items())}


def dynamodb_items(client, table: str) -> dict[str, Any]:
    """Tests only: a full scan, keyed by pk|sk."""
    items, kwargs = {}, {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        for item in page["Items"]:
            item = {k: v for k, v in item.items() if k not in VOLATILE_ITEM_ATTRIBUTES}
            item["data"]["M"].pop("computedAt", None)
            items[f"{item['pk']['S']}|{item['sk']['S']}"] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def source_only(outputs: dict[str, Any], source: str) -> dict[str, Any]:
    """The part of a snapshot that one source's runs write: its S3 objects and its warehouse tables."""
    return {
        "s3": {k: v for k, v in outputs["s3"].items() if k.split("/")[3:4] == [source]},
        "warehouse": {k: v for k, v in outputs["warehouse"].items() if k.split(".")[1] == source},
    }


def snapshot(s3_client, bucket: str, duckdb_path: Path, dynamodb_client, table: str) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "s3": s3_objects(s3_client, bucket),
                "warehouse": warehouse_rows(duckdb_path, VOLATILE_COLUMNS),
                "dynamodb": dynamodb_items(dynamodb_client, table),
            },
            default=str,
        )
    )
