"""Property: paging never loses or duplicates a record, equal cursor values included."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev.fakeapi import seed
from dev.fakeapi.server import serve
from salestalk.batch import Batch
from salestalk.extract.rest import RestExtractor, RestSpec
from salestalk.pipeline import extract_window

DAY1 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = DAY1 + dt.timedelta(days=2)


@pytest.fixture(scope="module")
def api():
    with serve() as server:
        server.api.set_rate_limit(None)
        server.api.set_clock("2026-11-04T00:00:00Z")
        yield server


def source_rows(resource: str, tenant: str) -> list[dict]:
    return [seed.public_record(r) for day in seed.DEMO_DAYS for r in seed.seed_rows(resource, tenant, day)]


def fingerprint(record: dict) -> str:
    return json.dumps(record, sort_keys=True)


def extract(server, resource: str, tenant: str, style: str, page_size: int, since, before) -> list[dict]:
    spec = RestSpec(server.url, f"/v1/tenants/{{tenant}}/{resource}", style, page_size, 1000, 10, 3)
    extractor = RestExtractor(requests.Session(), spec, sleep=lambda _: None)
    return [r for page in extractor.pages(tenant, since, before) for r in page]


def in_window(record: dict, since: dt.datetime, before: dt.datetime) -> bool:
    stamp = seed.parse_timestamp(record["updated_at"])
    return since <= stamp < before


def test_seed_has_equal_cursor_groups() -> None:
    stamps = Counter(r["updated_at"] for r in source_rows("deals", "acme"))
    assert sum(1 for count in stamps.values() if count >= 3) >= 5


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    resource=st.sampled_from(["deals", "calls"]),
    tenant=st.sampled_from(["acme", "globex", "initech"]),
    style=st.sampled_from(["cursor", "page"]),
    page_size=st.integers(min_value=1, max_value=120),
    since_offset_minutes=st.integers(min_value=0, max_value=47 * 60),
    length_minutes=st.integers(min_value=1, max_value=48 * 60),
)
def test_one_window_is_exact(
    api, resource, tenant, style, page_size, since_offset_minutes, length_minutes
) -> None:
    since = DAY1 + dt.timedelta(minutes=since_offset_minutes)
    before = min(END, since + dt.timedelta(minutes=length_minutes))
    got = Counter(fingerprint(r) for r in extract(api, resource, tenant, style, page_size, since, before))
    expected = Counter(fingerprint(r) for r in source_rows(resource, tenant) if in_window(r, since, before))
    assert got == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    style=st.sampled_from(["cursor", "page"]),
    page_size=st.integers(min_value=1, max_value=80),
    overlap_minutes=st.integers(min_value=0, max_value=12 * 60),
    hours=st.lists(st.integers(min_value=1, max_value=47), min_size=1, max_size=6, unique=True),
)
def test_consecutive_intervals_cover_everything(api, style, page_size, overlap_minutes, hours) -> None:
    boundaries = [DAY1, *sorted(DAY1 + dt.timedelta(hours=h) for h in hours), END]
    overlap = dt.timedelta(minutes=overlap_minutes)
    seen: Counter[str] = Counter()
    cursor = None
    for start, end in zip(boundaries, boundaries[1:], strict=False):
        batch = Batch("deals", "globex", start, end, "run")
        since, before = extract_window(batch, overlap, cursor)
        seen.update(fingerprint(r) for r in extract(api, "deals", "globex", style, page_size, since, before))
        cursor = before
    expected = Counter(fingerprint(r) for r in source_rows("deals", "globex"))
    assert set(seen) == set(expected), "a record was lost between intervals"
    for record, count in expected.items():
        assert count <= seen[record] <= count * len(boundaries), "a record was repeated beyond the overlaps"
    if overlap_minutes == 0:
        assert seen == expected
