"""Land raw records to S3 as Parquet parts, streamed in chunks, with a manifest written last.

Raw Parquet keeps every configured column as text as received (PII already hashed or dropped by the
screen); :mod:`salestalk.rawtext` makes the text a column at a time and rejects, rather than fails on,
a value that cannot be loaded, so no source value can fail landing. Unknown fields go to ``_extra_json`` and absent ones to
``_absent`` for drift checks; verdicts reached before landing (PII format, contract, clock skew) go to
``_rejections`` and quarantine the row downstream.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.storage.keys import interval_segments

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from salestalk.batch import Batch
    from salestalk.rawtext import TextChunk
    from salestalk.storage.tenant_s3 import TenantS3

DEFAULT_CHUNK_ROWS = 50_000
MANIFEST_PREFIX = "_manifest-"
RAW_META_COLUMNS = ("_record_num", "_extra_json", "_absent", "_rejections")
REJECTION_SEPARATOR = "\x1f"
MAX_REJECTIONS = 16
# Text columns of mostly distinct values: dictionaries and statistics cost more than they save here.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "use_dictionary": False,
    "write_statistics": ["_record_num"],
}


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


def rejections_column(rejections: dict[int, list[str]], rows: int):
    """``_rejections``: each rejected row's reasons joined, at most MAX_REJECTIONS so every warehouse can split
    them back the same way; NULL for the rest."""
    import pyarrow as pa

    if not rejections:
        return pa.nulls(rows, pa.string())
    return pa.array([_joined(rejections[n]) if n in rejections else None for n in range(rows)], pa.string())


def _joined(rejections: list[str]) -> str:
    if len(rejections) > MAX_REJECTIONS:
        rejections = [*rejections[: MAX_REJECTIONS - 1], "more_rejections"]
    return REJECTION_SEPARATOR.join(rejections)


def raw_prefix_segments(batch: Batch) -> tuple[str, ...]:
    return interval_segments("raw", batch.source, batch.interval_label)


def raw_keys(s3: TenantS3, batch: Batch) -> list[str]:
    """Every key the batch has landed (its parts and manifests), in one S3 listing."""
    return sorted(s3.list_keys(*raw_prefix_segments(batch)))


def manifest_keys(s3: TenantS3, batch: Batch, listed: list[str] | None = None) -> list[str]:
    """The batch's manifests, oldest first (their names start with the landing time), from ``listed``
    (its :func:`raw_keys`) when given, else from a new listing."""
    keys = raw_keys(s3, batch) if listed is None else listed
    return sorted(k for k in keys if k.rsplit("/", 1)[-1].startswith(MANIFEST_PREFIX))


def land_records(
    pages: Iterable[list[dict[str, Any]]],
    s3: TenantS3,
    batch: Batch,
    columns: list[str],
    cursor_column: str,
    window: tuple[dt.datetime, dt.datetime],
    **options: Any,
) -> Manifest:
    """:func:`land_chunks` for pages of JSON-like records."""
    from salestalk.rawtext import records_chunk

    chunks = (records_chunk(page, columns) for page in pages)
    return land_chunks(chunks, s3, batch, columns, cursor_column, window, **options)


def land_chunks(
    chunks: Iterable[TextChunk],
    s3: TenantS3,
    batch: Batch,
    columns: list[str],
    cursor_column: str,
    window: tuple[dt.datetime, dt.datetime],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: dt.datetime | None = None,
    screen: Callable[[TextChunk], TextChunk] | None = None,
    listed: list[str] | None = None,
) -> Manifest:
    """Write text chunks as Parquet parts of ``chunk_rows`` rows, then the manifest. Memory holds one part.

    ``screen`` (the PII screen) rewrites each chunk before it is buffered. ``listed`` is the batch's
    :func:`raw_keys` from before landing, if the caller has it (else they are listed here, once).

    Keys carry the content digest, so every write is create-once: a rerun with the same data writes
    nothing new, and one with different data adds new objects, points a newer manifest at them and
    only then removes the old ones.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    manifest = Manifest(
        source=batch.source,
        tenant=batch.tenant,
        interval_start=format_utc(batch.interval_start),
        interval_end=format_utc(batch.interval_end),
        window_since=format_utc(window[0]),
        window_before=format_utc(window[1]),
    )
    before = raw_keys(s3, batch) if listed is None else listed
    pending: list[pa.Table] = []
    landed_columns = [*columns, "_extra_json", "_absent", "_rejections"]
    in_flight: list[Future] = []

    def write_part(table: pa.Table) -> None:
        rows = table.num_rows
        table = table.add_column(
            0, "_record_num", pa.array(range(manifest.rows, manifest.rows + rows), pa.int64())
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, **PARQUET_OPTIONS)
        body = sink.getvalue()
        digest = hashlib.sha256(body).hexdigest()
        key = s3.key(*raw_prefix_segments(batch), f"part-{len(manifest.parts):05d}-{digest[:16]}.parquet")
        checksum = s3.put_bytes(key, body, data_class="raw")
        manifest.parts.append({"key": key, "rows": rows, "sha256": checksum})
        manifest.rows += rows

    def flush(writer: ThreadPoolExecutor, final: bool) -> None:
        """Hand full parts to the writer thread, which encodes and PUTs one while the next is read."""
        if not pending:
            return
        table = pa.concat_tables(pending)
        pending.clear()
        start = 0
        while table.num_rows - start >= chunk_rows or final and start < table.num_rows:
            if in_flight:
                in_flight.pop().result()
            in_flight.append(writer.submit(write_part, table.slice(start, chunk_rows)))
            start += chunk_rows
        if start < table.num_rows:
            pending.append(table.slice(start))

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="land-writer") as writer:
        try:
            for chunk in chunks:
                if screen is not None:
                    chunk = screen(chunk)
                if not chunk.num_rows:
                    continue
                manifest.rejected += len(chunk.rejections)
                for name, count in chunk.observed.items():
                    manifest.observed_columns[name] = manifest.observed_columns.get(name, 0) + count
                cursor_value = pc.max(chunk.table[cursor_column]).as_py()
                if cursor_value is not None and (
                    manifest.max_cursor is None or cursor_value > manifest.max_cursor
                ):
                    manifest.max_cursor = cursor_value
                rejections = rejections_column(chunk.rejections, chunk.num_rows)
                pending.append(chunk.table.append_column("_rejections", rejections).select(landed_columns))
                if sum(t.num_rows for t in pending) >= chunk_rows:
                    flush(writer, final=False)
            flush(writer, final=True)
        finally:
            for future in in_flight:
                future.result()

    previous = read_manifest(s3, batch, before)
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
    s3.delete([k for k in before if k not in current])  # what this landing wrote is all in current
    return manifest


def read_manifest(s3: TenantS3, batch: Batch, listed: list[str] | None = None) -> Manifest | None:
    """The batch's newest manifest (see :func:`manifest_keys` for ``listed``), or None."""
    keys = manifest_keys(s3, batch, listed)
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
