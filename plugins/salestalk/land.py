"""Land raw records to S3 as Parquet parts, streamed in chunks, with a manifest written last.

Raw Parquet keeps every configured column as text as received (PII already hashed or dropped by the
screen), so no source value can fail landing. Unknown fields go to ``_extra_json`` and absent ones to
``_absent`` for drift checks; verdicts reached before landing (PII format, contract, clock skew) go to
``_rejections`` and quarantine the row downstream.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.storage.keys import interval_segments

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from salestalk.batch import Batch
    from salestalk.storage.tenant_s3 import TenantS3

DEFAULT_CHUNK_ROWS = 50_000
MANIFEST_PREFIX = "_manifest-"
RAW_META_COLUMNS = ("_record_num", "_extra_json", "_absent", "_rejections")
REJECTION_SEPARATOR = "\x1f"
MAX_REJECTIONS = 16


@dataclass
class Manifest:
    source: str
    tenant: str
    interval_start: str
    interval_end: str
    window_since: str
    window_before: str
    rows: int = 0
    parts: list[dict[str, Any]] = field(default_factory=list)
    observed_columns: dict[str, int] = field(default_factory=dict)
    landed_at: str = ""
    max_cursor: str | None = None
    rejected: int = 0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Manifest:
        return cls(**json.loads(body))


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def raw_table(
    records: list[dict[str, Any]],
    columns: list[str],
    first_record_num: int,
    rejections: list[list[str]] | None = None,
):
    import pyarrow as pa

    known = set(columns)
    data: dict[str, list] = {c: [] for c in columns}
    extras: list[str | None] = []
    absent: list[str | None] = []
    rejections = rejections or [[] for _ in records]
    for record in records:
        for column in columns:
            data[column].append(as_text(record.get(column)))
        unknown = {k: v for k, v in record.items() if k not in known}
        extras.append(json.dumps(unknown, sort_keys=True, default=str) if unknown else None)
        missing = [c for c in columns if c not in record]
        absent.append(",".join(missing) if missing else None)
    arrays = {
        "_record_num": pa.array(range(first_record_num, first_record_num + len(records)), pa.int64()),
        **{c: pa.array(v, pa.string()) for c, v in data.items()},
        "_extra_json": pa.array(extras, pa.string()),
        "_absent": pa.array(absent, pa.string()),
        "_rejections": pa.array([_joined(r) for r in rejections], pa.string()),
    }
    return pa.table(arrays)


def _joined(rejections: list[str]) -> str | None:
    """At most MAX_REJECTIONS reasons per row, so every warehouse can split them back the same way."""
    if len(rejections) > MAX_REJECTIONS:
        rejections = [*rejections[: MAX_REJECTIONS - 1], "more_rejections"]
    return REJECTION_SEPARATOR.join(rejections) if rejections else None


def raw_prefix_segments(batch: Batch) -> tuple[str, ...]:
    return interval_segments("raw", batch.source, batch.interval_label)


def manifest_keys(s3: TenantS3, batch: Batch) -> list[str]:
    """The batch's manifests, oldest first: their names start with the landing time."""
    names = (
        k
        for k in s3.list_keys(*raw_prefix_segments(batch))
        if k.rsplit("/", 1)[-1].startswith(MANIFEST_PREFIX)
    )
    return sorted(names)


def land_records(
    pages: Iterable[list[Any]],
    s3: TenantS3,
    batch: Batch,
    columns: list[str],
    cursor_column: str,
    window: tuple[dt.datetime, dt.datetime],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: dt.datetime | None = None,
    screen: Callable[[Any], tuple[dict[str, Any], list[str]]] | None = None,
) -> Manifest:
    """Write pages as Parquet parts of ``chunk_rows`` rows, then the manifest. Memory holds one chunk.

    ``screen`` turns each item of a page into the record to land and its pre-landing rejections.

    Keys carry the content digest, so every write is create-once: a rerun with the same data writes
    nothing new, and one with different data adds new objects, points a newer manifest at them and
    only then removes the old ones.
    """
    import pyarrow.parquet as pq

    manifest = Manifest(
        source=batch.source,
        tenant=batch.tenant,
        interval_start=format_utc(batch.interval_start),
        interval_end=format_utc(batch.interval_end),
        window_since=format_utc(window[0]),
        window_before=format_utc(window[1]),
    )
    pending: list[dict[str, Any]] = []
    pending_rejections: list[list[str]] = []

    def flush() -> None:
        if not pending:
            return
        table = raw_table(pending, columns, manifest.rows, pending_rejections)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        body = sink.getvalue()
        digest = hashlib.sha256(body).hexdigest()
        key = s3.key(*raw_prefix_segments(batch), f"part-{len(manifest.parts):05d}-{digest[:16]}.parquet")
        checksum = s3.put_bytes(key, body, data_class="raw")
        manifest.parts.append({"key": key, "rows": len(pending), "sha256": checksum})
        manifest.rows += len(pending)
        pending.clear()
        pending_rejections.clear()

    for page in pages:
        for item in page:
            record, rejections = screen(item) if screen else (item, [])
            if rejections:
                manifest.rejected += 1
            for name in record:
                manifest.observed_columns[name] = manifest.observed_columns.get(name, 0) + 1
            cursor_value = as_text(record.get(cursor_column))
            if isinstance(cursor_value, str) and (
                manifest.max_cursor is None or cursor_value > manifest.max_cursor
            ):
                manifest.max_cursor = cursor_value
            pending.append(record)
            pending_rejections.append(rejections)
            if len(pending) >= chunk_rows:
                flush()
    flush()

    previous = read_manifest(s3, batch)
    if (
        previous is not None
        and previous.parts == manifest.parts
        and previous.observed_columns == (manifest.observed_columns)
    ):
        return previous
    landed = now or dt.datetime.now(dt.UTC)
    manifest.landed_at = format_utc(landed)
    body = manifest.to_json()
    name = (
        f"{MANIFEST_PREFIX}{landed.strftime('%Y%m%dT%H%M%S%fZ')}-{hashlib.sha256(body).hexdigest()[:12]}.json"
    )
    current_key = s3.key(*raw_prefix_segments(batch), name)
    s3.put_bytes(current_key, body, "application/json", data_class="raw")
    current = {p["key"] for p in manifest.parts} | {current_key}
    s3.delete([k for k in s3.list_keys(*raw_prefix_segments(batch)) if k not in current])
    return manifest


def read_manifest(s3: TenantS3, batch: Batch) -> Manifest | None:
    keys = manifest_keys(s3, batch)
    return Manifest.from_json(s3.get_bytes(keys[-1])) if keys else None


def iter_raw_parts(s3: TenantS3, manifest: Manifest):
    """Yield each landed part as a pyarrow Table, checking its checksum."""
    import hashlib

    import pyarrow.parquet as pq

    for part in manifest.parts:
        body = s3.get_bytes(part["key"])
        if hashlib.sha256(body).hexdigest() != part["sha256"]:
            raise ValueError(f"checksum mismatch for {part['key']}: the raw part changed after landing")
        yield pq.read_table(io.BytesIO(body))
