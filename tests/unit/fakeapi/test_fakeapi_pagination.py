"""Both pagination styles, time filters, clock visibility and request validation, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dev.fakeapi import seed

DAY_1_LATE_IDS = {
    resource: set(seed.seed_manifest(resource, "acme", "2026-11-01")["late"])
    for resource in seed.HTTP_RESOURCES
}


@pytest.mark.parametrize(
    ("resource", "tenant", "page_size"),
    [("deals", "acme", 7), ("deals", "initech", 100), ("calls", "acme", 1000), ("calls", "globex", 33)],
)
def test_cursor_pages_serve_every_visible_row_once_in_order(client, resource, tenant, page_size):
    bodies = client.pages_by_cursor(tenant, resource, page_size=page_size)

    assert client.records_of(bodies) == client.expected_records(resource, tenant)
    assert all(len(body["data"]) == page_size for body in bodies[:-1])
    assert 0 < len(bodies[-1]["data"]) <= page_size


@pytest.mark.parametrize(
    ("resource", "tenant", "page_size"), [("deals", "acme", 9), ("calls", "initech", 250)]
)
def test_numbered_pages_serve_every_visible_row_once_in_order(client, resource, tenant, page_size):
    bodies = client.pages_by_number(tenant, resource, page_size=page_size)

    assert client.records_of(bodies) == client.expected_records(resource, tenant)
    beyond = client.listing(tenant, resource, style="page", page=len(bodies) + 1, page_size=page_size).json()
    assert beyond == {"data": [], "page": len(bodies) + 1, "has_more": False}


@pytest.mark.parametrize("style", ["cursor", "page"])
@pytest.mark.parametrize("page_size", [1, 2, 4, 5])
def test_page_boundaries_inside_equal_updated_at_groups_lose_and_repeat_nothing(client, style, page_size):
    groups = seed.seed_manifest("calls", "acme", "2026-11-01")["equal_updated_at_groups"]
    assert len(groups) >= 5 and all(len(group["ids"]) >= 3 for group in groups)
    largest = max(groups, key=lambda group: len(group["ids"]))
    every_row = client.expected_records("calls", "acme")
    first = next(index for index, row in enumerate(every_row) if row["updated_at"] == largest["updated_at"])
    window = {
        "updated_since": every_row[first - page_size + 1]["updated_at"],
        "updated_before": every_row[first + len(largest["ids"]) + 3]["updated_at"],
    }

    if style == "cursor":
        bodies = client.pages_by_cursor("acme", "calls", page_size=page_size, **window)
    else:
        bodies = client.pages_by_number("acme", "calls", page_size=page_size, **window)

    assert client.records_of(bodies) == client.expected_records("calls", "acme", **window)
    pages_with_group = [body for body in bodies if largest["updated_at"] in str(body["data"])]
    assert len(pages_with_group) >= 2
    served_group = [
        r["call_id"] for r in client.records_of(bodies) if r["updated_at"] == largest["updated_at"]
    ]
    assert served_group == largest["ids"]


def test_exact_duplicates_are_both_served_across_a_page_boundary(client):
    duplicate_id = seed.seed_manifest("deals", "acme", "2026-11-01")["duplicates"][0]
    row = next(row for row in seed.seed_rows("deals", "acme", "2026-11-01") if row["deal_id"] == duplicate_id)
    one_second_later = seed.format_timestamp(seed.parse_timestamp(row["updated_at"]) + timedelta(seconds=1))
    window = {"updated_since": row["updated_at"], "updated_before": one_second_later}

    records = client.records_of(client.pages_by_cursor("acme", "deals", page_size=1, **window))

    assert [record["deal_id"] for record in records[:2]] == [duplicate_id, duplicate_id]
    assert records[0] == records[1] == seed.public_record(row)


def test_updated_since_is_inclusive_and_updated_before_exclusive(client):
    moment = client.expected_records("deals", "globex")[50]["updated_at"]

    since = client.records_of(client.pages_by_cursor("globex", "deals", page_size=1000, updated_since=moment))
    before = client.records_of(
        client.pages_by_cursor("globex", "deals", page_size=1000, updated_before=moment)
    )

    assert since[0]["updated_at"] == moment
    assert all(record["updated_at"] >= moment for record in since)
    assert all(record["updated_at"] < moment for record in before)
    assert before + since == client.expected_records("deals", "globex")


def test_time_filters_accept_any_rfc3339_offset(client):
    in_utc = client.listing("acme", "deals", updated_since="2026-11-01T12:00:00Z", page_size=5).json()
    in_paris = client.listing("acme", "deals", updated_since="2026-11-01T13:00:00+01:00", page_size=5).json()

    assert in_paris == in_utc
    assert in_utc["data"][0]["updated_at"] >= "2026-11-01T12:00:00Z"


def test_served_records_have_exactly_the_resource_fields_and_no_hidden_arrival(client):
    for resource in seed.HTTP_RESOURCES:
        records = client.listing("acme", resource, page_size=1000).json()["data"]
        assert {tuple(record) for record in records} == {seed.FIELDS[resource]}


@pytest.mark.parametrize("resource", seed.HTTP_RESOURCES)
def test_day_one_extraction_just_after_midnight_misses_the_late_rows(client, resource):
    day_one = {"updated_since": "2026-11-01T00:00:00Z", "updated_before": "2026-11-02T00:00:00Z"}
    client.admin("POST", "clock", {"now": "2026-11-02T00:05:00Z"})

    served = client.records_of(client.pages_by_cursor("acme", resource, page_size=500, **day_one))

    all_day_one = seed.seed_rows(resource, "acme", "2026-11-01")
    on_time = [seed.public_record(row) for row in all_day_one if row["_arrived_at"] < "2026-11-02T00:00:00Z"]
    pk = seed.PRIMARY_KEYS[resource]
    assert served == on_time
    assert len(all_day_one) - len(on_time) == len(DAY_1_LATE_IDS[resource])
    served_versions = {(record[pk], record["updated_at"]) for record in served}
    for late_row in all_day_one:
        if late_row["_arrived_at"] >= "2026-11-02T00:00:00Z":
            assert (late_row[pk], late_row["updated_at"]) not in served_versions


@pytest.mark.parametrize("resource", seed.HTTP_RESOURCES)
def test_day_two_extraction_with_a_six_hour_overlap_sees_the_late_rows(client, resource):
    client.admin("POST", "clock", {"now": "2026-11-02T06:00:00Z"})
    overlap = {"updated_since": "2026-11-01T18:00:00Z", "updated_before": "2026-11-02T06:00:00Z"}

    served = client.records_of(client.pages_by_cursor("acme", resource, page_size=100, **overlap))

    pk = seed.PRIMARY_KEYS[resource]
    assert DAY_1_LATE_IDS[resource] <= {record[pk] for record in served}
    assert served == client.expected_records(resource, "acme", now="2026-11-02T06:00:00Z", **overlap)
    out_of_order_id = seed.seed_manifest(resource, "acme", "2026-11-01")["out_of_order"][0]
    versions = [record for record in served if record[pk] == out_of_order_id]
    assert len(versions) == 2 and versions[0]["updated_at"] < versions[1]["updated_at"]


def test_clock_can_return_to_real_time(client):
    frozen = client.admin("POST", "clock", {"now": "2026-11-01T00:00:00Z"})
    assert frozen == {"now": "2026-11-01T00:00:00Z", "frozen": True}
    assert client.listing("acme", "deals").json() == {"data": [], "next_cursor": None}

    assert client.admin("POST", "clock", {"now": None})["frozen"] is False
    assert client.admin("GET", "clock")["frozen"] is False


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "2026-11-01"}, "updated_since"),
        ({"updated_before": "2026-11-01T00:00:00"}, "updated_before"),
        ({"updated_before": "2026-11-01T00:00:00 01:00"}, "updated_before"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "ten"}, "page_size"),
        ({"style": "offset"}, "style"),
        ({"style": "page", "page": "0"}, "page"),
        ({"style": "page", "cursor": "abc"}, "cursor"),
        ({"page": "2"}, "page"),
        ({"cursor": "not-a-token"}, "cursor"),
        ({"updated_after": "2026-11-01T00:00:00Z"}, "updated_after"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(client, params, parameter):
    response = client.listing("acme", "deals", **params)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["parameter"] == parameter


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tenants/umbrella/deals",
        "/v1/tenants/acme/invoices",
        "/v1/tenants/acme/product_usage",
        "/v1/tenants/acme",
        "/v2/tenants/acme/deals",
        "/_admin/nope",
    ],
)
def test_unknown_tenants_resources_and_paths_are_404_json(client, path):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json()["error"]


def test_writes_to_data_endpoints_are_405(client):
    response = client.session.post(f"{client.url}/v1/tenants/acme/deals", json={}, timeout=10)

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"
