"""The seed data is deterministic and holds exactly the documented anomalies."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from dev.fakeapi import seed
from dev.fakeapi.app import FakeSourceApi

CASES = [
    (resource, tenant, day)
    for resource in seed.RESOURCES
    for tenant in seed.DEMO_TENANTS
    for day in seed.DEMO_DAYS
]
ts = seed.parse_timestamp


def _rows_and_manifest(resource, tenant, day):
    return seed.seed_rows(resource, tenant, day), seed.seed_manifest(resource, tenant, day)


def test_two_builds_are_equal():
    assert all(seed.seed_rows(*case) == seed.seed_rows(*case) for case in CASES)
    assert all(seed.seed_manifest(*case) == seed.seed_manifest(*case) for case in CASES)
    first, second = FakeSourceApi(rate_limit=None), FakeSourceApi(rate_limit=None)
    for api in (first, second):
        api.set_clock("2026-11-10T00:00:00Z")
    for resource in seed.HTTP_RESOURCES:
        for tenant in seed.DEMO_TENANTS:
            path = f"/v1/tenants/{tenant}/{resource}"
            query = {"page_size": ["1000"]}
            assert first.handle("GET", path, query, None) == second.handle("GET", path, query, None)


def test_days_and_tenants_differ():
    assert seed.seed_rows("deals", "acme", "2026-11-01") != seed.seed_rows("deals", "globex", "2026-11-01")
    day_one = {row["deal_id"] for row in seed.seed_rows("deals", "acme", "2026-11-01")}
    day_two = {row["deal_id"] for row in seed.seed_rows("deals", "acme", "2026-11-02")}
    assert not day_one & day_two


def test_documented_anomaly_counts_for_acme_deals():
    manifest = seed.seed_manifest("deals", "acme", "2026-11-01")

    counts = {
        kind: len(manifest[kind]) for kind in ("bad_rows", "duplicates", "versions", "late", "out_of_order")
    }

    assert counts == {"bad_rows": 4, "duplicates": 3, "versions": 3, "late": 3, "out_of_order": 1}


@pytest.mark.parametrize(("resource", "tenant", "day"), CASES)
def test_rows_hold_exactly_the_manifest_anomalies(resource, tenant, day):
    rows, manifest = _rows_and_manifest(resource, tenant, day)
    pk = seed.PRIMARY_KEYS[resource]
    counts = seed.anomaly_counts(resource, tenant)
    size = seed.DAILY_SIZES[resource][tenant]

    assert len(rows) == manifest["rows"] == size
    assert {kind: len(manifest[kind]) for kind in counts} == counts
    assert counts["bad_rows"] / size == pytest.approx(0.015, abs=0.006)
    assert all(0.005 <= counts[kind] / size <= 0.02 for kind in ("duplicates", "versions", "late"))
    by_id = defaultdict(list)
    for row in rows:
        by_id[row[pk]].append(row)
    repeated = {row_id for row_id, versions in by_id.items() if len(versions) > 1 and row_id is not None}
    assert repeated == set(manifest["duplicates"]) | set(manifest["versions"]) | set(manifest["out_of_order"])
    for row_id in manifest["duplicates"]:
        assert len(by_id[row_id]) == 2 and by_id[row_id][0] == by_id[row_id][1]
    for row_id in manifest["versions"] + manifest["out_of_order"]:
        older, newer = by_id[row_id]
        assert older["updated_at"] < newer["updated_at"]
        assert older[seed.VERSIONED_FIELD[resource]] != newer[seed.VERSIONED_FIELD[resource]]
    assert _bad_ids(resource, rows) == Counter(manifest["bad_rows"])
    assert all(detail["id"] in manifest["bad_rows"] for detail in manifest["bad_row_details"])


@pytest.mark.parametrize(("resource", "tenant", "day"), CASES)
def test_only_the_late_rows_arrive_after_their_day(resource, tenant, day):
    rows, manifest = _rows_and_manifest(resource, tenant, day)
    pk = seed.PRIMARY_KEYS[resource]
    midnight = seed.day_start(day) + timedelta(days=1)

    late = [row for row in rows if ts(row["_arrived_at"]) >= midnight]

    assert sorted(row[pk] for row in late) == sorted(manifest["late"])
    for row in late:
        assert midnight - timedelta(hours=4) <= ts(row["updated_at"]) < midnight
        assert (
            midnight + timedelta(minutes=30)
            <= ts(row["_arrived_at"])
            <= midnight + timedelta(hours=5, minutes=30)
        )
    for row in rows:
        if row not in late:
            delay = ts(row["_arrived_at"]) - ts(row["updated_at"])
            assert timedelta(0) <= delay <= timedelta(minutes=10)
    for row_id in manifest["out_of_order"]:
        older, newer = [row for row in rows if row[pk] == row_id]
        assert older in late and newer not in late
        assert ts(newer["_arrived_at"]) < ts(older["_arrived_at"])


@pytest.mark.parametrize(("resource", "tenant", "day"), CASES)
def test_equal_updated_at_groups_and_formats(resource, tenant, day):
    rows, manifest = _rows_and_manifest(resource, tenant, day)
    pk = seed.PRIMARY_KEYS[resource]

    groups = Counter(row["updated_at"] for row in rows)

    assert sum(1 for size in groups.values() if size >= 3) >= 5
    assert len(manifest["equal_updated_at_groups"]) == sum(1 for size in groups.values() if size >= 3)
    assert rows == sorted(rows, key=lambda row: (row["updated_at"], row[pk] or ""))
    prefix = seed.ID_PREFIXES[resource]
    assert all(row[pk] is None or re.fullmatch(rf"{prefix}-\d{{5}}", row[pk]) for row in rows)
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
    assert all(stamp.fullmatch(row["updated_at"]) and stamp.fullmatch(row["_arrived_at"]) for row in rows)
    assert all(row["updated_at"].startswith(str(day)) for row in rows)
    assert all(tuple(seed.public_record(row)) == seed.FIELDS[resource] for row in rows)


def _bad_ids(resource, rows):
    """Rows breaking the resource's documented constraints, found from the values alone."""
    pk = seed.PRIMARY_KEYS[resource]

    def broken(row):
        if resource == "deals":
            return (
                row["amount"] < 0 or row["stage"] not in seed.STAGES or row["currency"] not in seed.CURRENCIES
            )
        if resource == "calls":
            out_of_range = not 0 <= row["duration_seconds"] <= seed.MAX_CALL_SECONDS
            return out_of_range or not -1 <= row["sentiment"] <= 1 or row["call_id"] is None
        return row["event_count"] < 0 or row["feature"] not in seed.FEATURES

    return Counter(row[pk] for row in rows if broken(row))


def test_product_usage_rows_hide_arrival_unless_asked():
    public = seed.product_usage_rows("globex", "2026-11-02")
    with_arrival = seed.product_usage_rows("globex", "2026-11-02", include_arrival=True)

    assert len(public) == 250
    assert all(tuple(row) == seed.FIELDS["product_usage"] for row in public)
    assert [seed.public_record(row) for row in with_arrival] == public
    assert all(row["usage_date"] == "2026-11-02" for row in public)


def test_timestamps_parse_rfc3339_only():
    assert seed.format_timestamp(ts("2026-11-01T14:05:00.9+01:00")) == "2026-11-01T13:05:00Z"
    for text in ("2026-11-01", "2026-11-01T13:05:00", "20261101T130500Z", "2026-11-01T13Z"):
        with pytest.raises(ValueError):
            ts(text)


def test_fault_late_records_spread_inside_the_window():
    start, end = ts("2026-11-01T10:00:00.5Z"), ts("2026-11-01T11:00:00Z")

    rows = seed.fault_late_records("calls", "acme", start, end, 4)

    assert [row["call_id"] for row in rows] == ["LATE-00001", "LATE-00002", "LATE-00003", "LATE-00004"]
    assert all(start <= ts(row["updated_at"]) < end for row in rows)
    assert seed.fault_late_records("calls", "acme", end, start, 4) == []


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="tenant"):
        seed.seed_rows("deals", "umbrella", "2026-11-01")
    with pytest.raises(ValueError, match="resource"):
        seed.seed_rows("invoices", "acme", "2026-11-01")
    with pytest.raises(ValueError, match="starts"):
        seed.seed_rows("deals", "acme", "2026-10-31")
