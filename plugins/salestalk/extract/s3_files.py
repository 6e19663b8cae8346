"""Read the files a tenant drops under its inbound prefix (CSV, JSON lines or Parquet)."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

    from salestalk.storage.tenant_s3 import TenantS3

PAGE_ROWS = 10_000


class FileFormatError(ValueError):
    """A dropped file that cannot be read in its declared format."""


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _csv_records(body: bytes) -> Iterator[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig")))
    for row in reader:
        if None in row:
            raise ValueError(f"line {reader.line_num} has more fields than the header")
        yield {k: (v if v != "" else None) for k, v in row.items()}


def _jsonl_records(body: bytes) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(body.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_reject_duplicate_keys)
        except ValueError as exc:
            raise ValueError(f"line {number}: {exc}") from None
        if not isinstance(record, dict):
            raise ValueError(f"line {number}: a record must be a JSON object")
        yield record


def _parquet_records(body: bytes) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(io.BytesIO(body)).iter_batches(batch_size=PAGE_ROWS):
        yield from batch.to_pylist()


READERS = {"csv": _csv_records, "jsonl": _jsonl_records, "parquet": _parquet_records}


def inbound_prefix_segments(prefix_pattern: str, ds: str) -> tuple[str, ...]:
    return tuple(s for s in prefix_pattern.format(ds=ds).split("/") if s)


def file_pages(
    s3: TenantS3, prefix_pattern: str, ds: str, file_format: str
) -> Iterator[list[dict[str, Any]]]:
    """Pages of records from every file under the interval's prefix, in key order."""
    reader = READERS[file_format]
    for key in sorted(s3.list_keys(*inbound_prefix_segments(prefix_pattern, ds))):
        page: list[dict[str, Any]] = []
        try:
            for record in reader(s3.get_bytes(key)):
                page.append(record)
                if len(page) >= PAGE_ROWS:
                    yield page
                    page = []
        except (ValueError, UnicodeDecodeError) as exc:
            raise FileFormatError(f"s3 object {key} is not valid {file_format}: {exc}") from None
        if page:
            yield page
