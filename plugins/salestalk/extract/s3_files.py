"""Read the files a tenant drops under its inbound prefix (CSV, JSON lines or Parquet) as text chunks.

No single record can stop a file: a record that breaks its format (a ragged CSV row, a JSON line that
does not parse) lands as a ``malformed_record`` row naming its file and line, and a value that cannot
be loaded as it came is rejected by :mod:`salestalk.rawtext`. A file that cannot be opened at all
lands as one such row.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from salestalk.contracts.strict_json import decode_strict
from salestalk.rawtext import TextChunk, malformed_chunk, records_chunk, table_chunk

if TYPE_CHECKING:
    from collections.abc import Iterator

    from salestalk.storage.tenant_s3 import TenantS3

PAGE_ROWS = 10_000
PARQUET_BATCH_ROWS = 65_536
JSON_REASONS = {"duplicate_key": "duplicate_key", "non_finite": "non_finite", "surrogate": "invalid_text"}


def _parquet_chunks(key: str, body: bytes, columns: list[str]) -> Iterator[TextChunk]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        batches = pq.ParquetFile(io.BytesIO(body)).iter_batches(batch_size=PARQUET_BATCH_ROWS)
        for batch in batches:
            yield table_chunk(pa.Table.from_batches([batch]), columns)
    except (pa.ArrowException, OSError) as exc:
        yield malformed_chunk(columns, [{"_file": key, "_error": f"not readable as Parquet: {exc}"[:300]}])


def _csv_chunks(key: str, body: bytes, columns: list[str]) -> Iterator[TextChunk]:
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    text = body.decode("utf-8-sig", "surrogateescape")
    header_line = text.split("\n", 1)[0]
    header = next(csv.reader([header_line]), [])
    if not header:
        return
    ragged: list[dict[str, Any]] = []

    def skip(row: Any) -> str:
        number = row.number
        if number is None:  # not tracked when values may hold newlines: find the row's first line
            first = row.text.split("\n", 1)[0]
            lines = enumerate(text.split("\n"), start=1)
            number = next((n for n, line in lines if line.rstrip("\r") == first), None)
        fields = f"{row.actual_columns} fields, the header has {row.expected_columns}"
        ragged.append({"_file": key, "_line": number, "_error": fields})
        return "skip"

    offset = len(b"\xef\xbb\xbf") if body.startswith(b"\xef\xbb\xbf") else 0
    try:
        reader = pacsv.open_csv(
            io.BytesIO(body[offset:]),
            read_options=pacsv.ReadOptions(block_size=1 << 22),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.binary()), null_values=[""], strings_can_be_null=True
            ),
        )
        for batch in reader:
            yield table_chunk(pa.Table.from_batches([batch]), columns)
    except pa.ArrowException as exc:
        ragged.append({"_file": key, "_error": f"not readable as CSV: {exc}"[:300]})
    if ragged:
        yield malformed_chunk(columns, ragged)


def _jsonl_chunks(key: str, body: bytes, columns: list[str]) -> Iterator[TextChunk]:
    known = set(columns)
    records: list[dict[str, Any]] = []
    rejections: dict[int, list[str]] = {}
    malformed: list[dict[str, Any]] = []
    text = body.decode("utf-8", "surrogateescape")
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        decoded = decode_strict(line.rstrip("\r"))
        if decoded.payload is None:
            malformed.append({"_file": key, "_line": number, "_error": decoded.violations[0].code})
            continue
        reasons = []
        for violation in decoded.violations:
            field = violation.path[2:].split(".", 1)[0].split("[", 1)[0]
            if field in known and violation.code in JSON_REASONS:
                reasons.append(f"{JSON_REASONS[violation.code]}({field})")
        if reasons:
            rejections[len(records)] = sorted(set(reasons))
        records.append(decoded.payload)
        if len(records) >= PAGE_ROWS:
            yield records_chunk(records, columns, rejections)
            records, rejections = [], {}
    if records:
        yield records_chunk(records, columns, rejections)
    if malformed:
        yield malformed_chunk(columns, malformed)


READERS = {"csv": _csv_chunks, "jsonl": _jsonl_chunks, "parquet": _parquet_chunks}


def inbound_prefix_segments(prefix_pattern: str, ds: str) -> tuple[str, ...]:
    return tuple(s for s in prefix_pattern.format(ds=ds).split("/") if s)


def file_chunks(
    s3: TenantS3, prefix_pattern: str, ds: str, file_format: str, columns: list[str]
) -> Iterator[TextChunk]:
    """Text chunks from every file under the interval's prefix, in key order."""
    reader = READERS[file_format]
    for key in sorted(s3.list_keys(*inbound_prefix_segments(prefix_pattern, ds))):
        yield from reader(key, s3.get_bytes(key), columns)
