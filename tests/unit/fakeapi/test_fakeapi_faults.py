"""Rate limiting, admin endpoints and every fault mode, as a client observes them over HTTP."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from dev.fakeapi import seed
from dev.fakeapi.app import FakeSourceApi, TokenBucketLimiter

DAY_ONE = {"updated_since": "2026-11-01T00:00:00Z", "updated_before": "2026-11-02T00:00:00Z"}


def _statuses(client, count, tenant="acme", resource="deals"):
    return [client.listing(tenant, resource, page_size=1).status_code for _ in range(count)]


def test_exceeding_the_rate_is_429_with_retry_after_and_counted(client):
    client.admin("POST", "rate_limit", {"per_second": 3})

    responses = [client.listing("acme", "deals", page_size=1) for _ in range(8)]

    statuses = [response.status_code for response in responses]
    assert statuses[:3] == [200] * 3  # the burst
    assert 429 in statuses
    limited = next(response for response in responses if response.status_code == 429)
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["error"] == "rate_limited"
    stats = client.admin("GET", "stats")
    assert stats["rate_limited"] == statuses.count(429)
    assert stats["by_path"]["/v1/tenants/acme/deals"]["429"] == statuses.count(429)


def test_rate_limit_is_per_tenant_and_never_applies_to_admin(client):
    client.admin("POST", "rate_limit", {"per_second": 2})
    assert 429 in _statuses(client, 6, tenant="acme")

    assert _statuses(client, 2, tenant="globex") == [200, 200]
    assert all(client.get("/_admin/health").status_code == 200 for _ in range(10))


def test_rate_limit_admin_round_trip_and_reset(client):
    assert client.admin("POST", "rate_limit", {"per_second": 3}) == {"per_second": 3}
    assert client.admin("GET", "rate_limit") == {"per_second": 3}
    assert client.admin("POST", "reset") == {"ok": True}
    assert client.admin("GET", "rate_limit") == {"per_second": None}  # the fixture's API has no limit
    bad = client.session.post(f"{client.url}/_admin/rate_limit", json={"per_second": "fast"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["parameter"] == "per_second"


def test_token_bucket_refills_at_the_rate_and_reports_the_wait():
    now = [100.0]
    limiter = TokenBucketLimiter(4, monotonic=lambda: now[0])

    assert [limiter.acquire("acme") for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("acme") == pytest.approx(0.25)
    now[0] += 0.25
    assert limiter.acquire("acme") == 0.0
    assert limiter.acquire("globex") == 0.0


def test_health_and_stats(client):
    assert client.admin("GET", "health") == {"ok": True}
    client.listing("acme", "deals")
    client.listing("acme", "deals", page_size="0")

    stats = client.admin("GET", "stats")

    assert stats["requests"] == 2
    assert stats["by_status"] == {"200": 1, "400": 1}
    assert stats["by_path"] == {"/v1/tenants/acme/deals": {"200": 1, "400": 1}}


def test_faults_can_be_listed_replaced_and_cleared(client):
    client.admin("POST", "faults", {"mode": "slow", "seconds": 0.01, "tenant": "acme"})
    assert [fault["mode"] for fault in client.admin("GET", "faults")["faults"]] == ["slow"]

    client.set_faults({"mode": "new_column"}, {"mode": "duplicates", "resource": "calls"})
    listed = client.admin("GET", "faults")["faults"]
    assert [(fault["mode"], fault["resource"]) for fault in listed] == [
        ("new_column", None),
        ("duplicates", "calls"),
    ]

    assert client.admin("DELETE", "faults") == {"faults": []}


@pytest.mark.parametrize(
    "fault",
    [
        {"mode": "explode"},
        {"seconds": 1},
        {"mode": "server_error", "status": 404},
        {"mode": "server_error", "count": 0},
        {"mode": "slow", "seconds": "long"},
        {"mode": "slow", "sconds": 1},
        {"mode": "duplicates", "tenant": "umbrella"},
        {"mode": "duplicates", "resource": "product_usage"},
        {"mode": "removed_column", "column": "colour"},
        {"mode": "unknown_enum", "resource": "calls"},
        {"mode": "bad_rows", "fraction": 1.5},
        "server_error",
    ],
)
def test_invalid_faults_are_400_and_leave_the_active_set_alone(client, fault):
    client.set_faults({"mode": "new_column"})

    response = client.session.post(f"{client.url}/_admin/faults", json=fault, timeout=10)

    assert response.status_code == 400
    assert response.json()["parameter"] == "faults"
    assert [fault["mode"] for fault in client.admin("GET", "faults")["faults"]] == ["new_column"]


def test_server_error_fails_the_next_count_requests_then_recovers(client):
    client.set_faults({"mode": "server_error", "status": 502, "count": 2})

    assert _statuses(client, 4) == [502, 502, 200, 200]
    assert client.admin("GET", "faults")["faults"][0]["fired"] == 2


def test_server_error_every_kth_request(client):
    client.set_faults({"mode": "server_error", "status": 500, "every": 3})

    assert _statuses(client, 7) == [200, 200, 500, 200, 200, 500, 200]


def test_faults_only_hit_their_tenant_and_resource(client):
    client.set_faults({"mode": "server_error", "count": 5, "tenant": "globex", "resource": "calls"})

    assert _statuses(client, 1, tenant="acme", resource="calls") == [200]
    assert _statuses(client, 1, tenant="globex", resource="deals") == [200]
    assert _statuses(client, 1, tenant="globex", resource="calls") == [503]


def test_slow_delays_matching_responses_without_blocking_others(client):
    client.set_faults({"mode": "slow", "seconds": 0.6, "tenant": "initech"})
    slow_elapsed = []

    def slow_request():
        started = time.monotonic()
        response = requests.get(f"{client.url}/v1/tenants/initech/deals", timeout=10)  # own connection
        assert response.status_code == 200
        slow_elapsed.append(time.monotonic() - started)

    worker = threading.Thread(target=slow_request)
    worker.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert _statuses(client, 1, tenant="acme") == [200]
    fast_elapsed = time.monotonic() - started
    worker.join(timeout=10)

    assert slow_elapsed[0] >= 0.6
    assert fast_elapsed < 0.5


def test_slow_sleeps_add_up_and_only_for_matching_requests():
    sleeps = []
    api = FakeSourceApi(rate_limit=None, sleep=sleeps.append)
    api.set_faults([{"mode": "slow", "seconds": 0.3, "tenant": "initech"}, {"mode": "slow", "seconds": 0.2}])

    api.handle("GET", "/v1/tenants/acme/deals", {}, None)
    api.handle("GET", "/v1/tenants/initech/deals", {}, None)
    api.handle("GET", "/_admin/health", {}, None)

    assert sleeps == [0.2, pytest.approx(0.5)]


def test_repeated_page_with_cursors_serves_page_one_again_once(client):
    client.set_faults({"mode": "repeated_page"})
    first = client.listing("acme", "deals", page_size=10).json()

    repeated = client.listing("acme", "deals", page_size=10, cursor=first["next_cursor"]).json()
    second = client.listing("acme", "deals", page_size=10, cursor=first["next_cursor"]).json()

    assert repeated == first
    assert second["data"] == client.expected_records("deals", "acme")[10:20]
    assert second["next_cursor"] != first["next_cursor"]


def test_repeated_page_with_page_numbers_serves_page_one_again_once(client):
    client.set_faults({"mode": "repeated_page", "tenant": "globex"})
    first = client.listing("globex", "calls", style="page", page=1, page_size=10).json()

    repeated = client.listing("globex", "calls", style="page", page=2, page_size=10).json()
    second = client.listing("globex", "calls", style="page", page=2, page_size=10).json()

    assert repeated == {"data": first["data"], "page": 2, "has_more": True}
    assert second["data"] == client.expected_records("calls", "globex")[10:20]


def test_late_records_adds_new_ids_inside_the_window_consistently_across_pages(client):
    window = {"updated_since": "2026-11-01T08:00:00Z", "updated_before": "2026-11-01T12:00:00Z"}
    client.set_faults({"mode": "late_records", "count": 5, "resource": "deals"})

    records = client.records_of(client.pages_by_cursor("acme", "deals", page_size=4, **window))

    late = [record for record in records if record["deal_id"].startswith("LATE-")]
    assert sorted(record["deal_id"] for record in late) == [f"LATE-{n:05d}" for n in range(1, 6)]
    assert all(window["updated_since"] <= record["updated_at"] < window["updated_before"] for record in late)
    assert [record for record in records if record not in late] == client.expected_records(
        "deals", "acme", **window
    )
    assert set(late[0]) == set(seed.FIELDS["deals"])
    client.admin("DELETE", "faults")
    plain = client.records_of(client.pages_by_cursor("acme", "deals", page_size=100, **window))
    assert not any(record["deal_id"].startswith("LATE-") for record in plain)


def test_duplicates_doubles_each_row_and_repeats_the_next_page_first_row(client):
    client.set_faults({"mode": "duplicates"})

    bodies = client.pages_by_cursor("initech", "calls", page_size=10, **DAY_ONE)

    expected = client.expected_records("calls", "initech", **DAY_ONE)
    for number, body in enumerate(bodies):
        rows = expected[number * 10 : number * 10 + 10]
        following = expected[number * 10 + 10 : number * 10 + 11]
        assert body["data"] == [row for row in rows for _ in range(2)] + following


def test_duplicates_with_page_numbers(client):
    client.set_faults({"mode": "duplicates", "resource": "deals"})

    body = client.listing("acme", "deals", style="page", page=3, page_size=5).json()

    expected = client.expected_records("deals", "acme")
    assert body["data"] == [row for row in expected[10:15] for _ in range(2)] + [expected[15]]


def test_new_column_adds_region(client):
    client.set_faults({"mode": "new_column"})

    records = client.listing("globex", "deals", page_size=50).json()["data"]

    assert all(record["region"] == "emea" for record in records)
    assert [{k: v for k, v in r.items() if k != "region"} for r in records] == client.expected_records(
        "deals", "globex"
    )[:50]


@pytest.mark.parametrize(
    ("fault", "resource", "missing"),
    [
        ({"mode": "removed_column", "column": "currency"}, "deals", "currency"),
        ({"mode": "removed_column"}, "deals", "stage"),
        ({"mode": "removed_column"}, "calls", "rep_email"),
    ],
)
def test_removed_column_is_missing_from_every_record(client, fault, resource, missing):
    client.set_faults(fault)

    records = client.listing("acme", resource, page_size=200).json()["data"]

    assert all(tuple(record) == tuple(f for f in seed.FIELDS[resource] if f != missing) for record in records)


def test_unknown_enum_marks_every_tenth_record(client):
    client.set_faults({"mode": "unknown_enum", "column": "currency"})

    records = client.records_of(client.pages_by_cursor("globex", "deals", page_size=37))

    mystery = [index for index, record in enumerate(records) if record["currency"] == "mystery"]
    assert mystery == list(range(9, len(records), 10))
    assert all(record["stage"] != "mystery" for record in records)


def test_unknown_enum_defaults_to_stage_and_leaves_calls_alone(client):
    client.set_faults({"mode": "unknown_enum"})

    deals = client.listing("acme", "deals", page_size=20).json()["data"]
    calls = client.listing("acme", "calls", page_size=20).json()["data"]

    assert [record["stage"] == "mystery" for record in deals] == [i % 10 == 9 for i in range(20)]
    assert calls == client.expected_records("calls", "acme")[:20]


def test_bad_rows_breaks_the_asked_fraction_deterministically(client):
    client.set_faults({"mode": "bad_rows", "fraction": 0.2})

    calls = client.records_of(client.pages_by_cursor("acme", "calls", page_size=1000))
    again = client.records_of(client.pages_by_cursor("acme", "calls", page_size=250))
    deals = client.listing("globex", "deals", page_size=100).json()["data"]

    broken = [record for record in calls if record["duration_seconds"] == 99_999]
    assert len(broken) == len(calls) // 5
    assert calls == again
    original = client.expected_records("deals", "globex")[:100]
    changed = [(old, new) for old, new in zip(original, deals, strict=True) if old != new]
    assert len(changed) == 20
    assert all(new["amount"] < 0 and old["amount"] != new["amount"] for old, new in changed)


def test_faults_combine_and_are_deterministic(client):
    client.set_faults(
        {"mode": "new_column"},
        {"mode": "removed_column", "column": "owner_email"},
        {"mode": "bad_rows", "fraction": 0.5},
    )

    first = client.listing("acme", "deals", page_size=30).content
    second = client.listing("acme", "deals", page_size=30).content

    assert first == second
    assert b"owner_email" not in first and b'"region":"emea"' in first


def test_reset_clears_faults_stats_and_clock(client):
    client.set_faults({"mode": "server_error", "count": 100})
    client.admin("POST", "clock", {"now": "2026-11-01T05:00:00Z"})
    client.listing("acme", "deals")

    client.admin("POST", "reset")

    assert client.admin("GET", "faults") == {"faults": []}
    assert client.admin("GET", "stats")["requests"] == 0
    assert client.admin("GET", "clock")["frozen"] is False
    assert client.listing("acme", "deals").status_code == 200


def test_admin_rejects_bad_bodies_and_methods(client):
    bad_clock = client.session.post(f"{client.url}/_admin/clock", json={"now": "soon"}, timeout=10)
    no_json = client.session.post(f"{client.url}/_admin/faults", data=b"{", timeout=10)
    wrong_method = client.session.delete(f"{client.url}/_admin/health", timeout=10)

    assert (bad_clock.status_code, bad_clock.json()["parameter"]) == (400, "now")
    assert (no_json.status_code, no_json.json()["parameter"]) == (400, "body")
    assert wrong_method.status_code == 405
