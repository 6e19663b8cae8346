"""Contract events a tenant drops into S3 as JSON lines: parsed strictly, flattened to the schema, screened.

Every line becomes one row. A line that breaks its contract or names another tenant still lands, with
its reasons, and is quarantined downstream: nothing is dropped, and no reason holds a value. Event
times outside the arrival day's window (give or take the source's tolerances) are quarantined by the
same admission check as every source kind, in validate. Duplicates and out-of-order
arrivals need no special path: the batch keeps the newest version per request id and publish never
lets an older version win.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salestalk.contracts import parse_tenant_event
from salestalk.extract.s3_files import PAGE_ROWS, inbound_prefix_segments
from salestalk.rawtext import records_chunk

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from salestalk.contracts import ContractRegistry
    from salestalk.rawtext import TextChunk
    from salestalk.storage.tenant_s3 import TenantS3

_ABSENT = object()


@dataclass(frozen=True)
class EventLine:
    key: str
    line_number: int
    raw: bytes


def event_lines(s3: TenantS3, prefix_pattern: str, ds: str) -> Iterator[list[EventLine]]:
    """Pages of non-blank lines from every object under the interval's prefix, in key order."""
    for key in sorted(s3.list_keys(*inbound_prefix_segments(prefix_pattern, ds))):
        page: list[EventLine] = []
        for number, line in enumerate(s3.get_bytes(key).split(b"\n"), start=1):
            if not line.strip():
                continue
            page.append(EventLine(key, number, line.rstrip(b"\r")))
            if len(page) >= PAGE_ROWS:
                yield page
                page = []
        if page:
            yield page


def lookup(payload: Any, path: str) -> Any:
    """The value at a dotted path, or ``_ABSENT`` when any step is missing or not an object."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return _ABSENT
        value = value[part]
    return value


@dataclass(frozen=True)
class EventScreen:
    """Turns one event line into the row to land and the reasons to quarantine it (if any)."""

    contract: str
    version: int | None
    fields: Mapping[str, str]
    tenant: str
    registry: ContractRegistry | None = None

    def __call__(self, line: EventLine) -> tuple[dict[str, Any], list[str]]:
        event = parse_tenant_event(line.raw, self.contract, self.tenant, self.version, registry=self.registry)
        reasons = [f"contract_{v.code}({v.path})" for v in event.quarantined]
        record = {}
        for column, path in self.fields.items():
            value = lookup(event.payload, path)
            if value is not _ABSENT:
                record[column] = value
        return record, sorted(set(reasons), key=reasons.index)


def event_chunks(
    s3: TenantS3, prefix_pattern: str, ds: str, screen: EventScreen, columns: list[str]
) -> Iterator[TextChunk]:
    """Each page of event lines as one text chunk, with the screen's reasons as rejections."""
    for page in event_lines(s3, prefix_pattern, ds):
        records, rejections = [], {}
        for line in page:
            record, reasons = screen(line)
            if reasons:
                rejections[len(records)] = reasons
            records.append(record)
        yield records_chunk(records, columns, rejections)
