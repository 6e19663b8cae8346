"""The fake sources serve every day from the first demo day on: deterministic, cheap, the demo days unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import uuid
from collections import Counter
from typing import Any

import pytest
import requests

from dev.embedded import ensure_bucket, recent_days, seed_inbound_files, seed_recent_inbound_files
from dev.fakeapi import events_seed, seed
from dev.fakeapi.__main__ import build_api, parse_args
from dev.fakeapi.app import FakeSourceApi
from dev.fakeapi.server import serve
from salestalk.extract.s3_files import inbound_prefix_segments
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV, TenantS3
from tests.support.moto import kms_key
from tests.support.sources import demo_resource, demo_sources

DAY = dt.timedelta(days=1)
YESTERDAY = dt.datetime.now(dt.UTC).date() - DAY
A_YEAR_ON = seed.FIRST_DAY + 365 * DAY
TOLERANCE = 0.005

# sha256 of demo_day_digest(...) computed with the fake API and seeds as they were before any day was served.
PINNED = {
    "calls/acme/2026-11-01": "5a48988e43e48e1c84997ad9c57debf08f26789276ab3dda18fdc17a1f546323",
    "calls/acme/2026-11-02": "de0297257a7cfd776e4a222ef0d1125aeceb7a03fe52efeeca019c8e6662cf72",
    "calls/globex/2026-11-01": "e42a6d9173dadf410253bd7e8ac1a96db3fd0e6b8a8caf992babadfd4a4fac20",
    "calls/globex/2026-11-02": "7d18b8111db948a34d2e03fb68130e91004219f8afaf3636e8139ea6a275587e",
    "calls/initech/2026-11-01": "e26cf1603ad33ab3145e3618b76a1cdda1fe0068c797900b8209d1bca7f7c4d6",
    "calls/initech/2026-11-02": "92d47b83be23c4838d413fdef99e5a9c10fd88d3cad7f2da1b1b7e5141c3d5aa",
    "classification.performed/acme/2026-11-01": "81538ac99f79eac64a838bcc98867fee72e1426b158a55eb462a568dd396414c",
    "classification.performed/acme/2026-11-02": "2f3afc54a4173418199fbff61812058693d2336cd4099a02847e3a2b7b7d9e47",
    "classification.performed/globex/2026-11-01": "11d5124fdb730c5d7eb4241375f4e1c8412f39d95d144512c26936e3770156c1",
    "classification.performed/globex/2026-11-02": "ee09fc0fc99ca51c3a7d08a3cda310029d9c198ed5e8d8c6a834d273bff18401",
    "classification.performed/initech/2026-11-01": "127d9ca611de3f402dcf57b675480c78512817a69abc766c2f7a1a7e2ab92962",
    "classification.performed/initech/2026-11-02": "5123b0aa286de5f7bc28869ff4472cfd97baa35d7ffdfab41884bca03d405a35",
    "deals/acme/2026-11-01": "e39341b6656d1752af479168577865f1b4757d360b113c84902baa7e35aec516",
    "deals/acme/2026-11-02": "74fb69b26452fe8f9988f57ee16418cbc50ffa8d0bdd28c46bab992f6215e893",
    "deals/globex/2026-11-01": "fc18e6764470e80c5d90e08ad208447314592da6f413d0d0248095e7c71f30ac",
    "deals/globex/2026-11-02": "05a07258187213957fcae5d8475a9902498d5c8ddc72eff00f8bda326dac72d5",
    "deals/initech/2026-11-01": "726dbfa6c2ab0b810e5693af92560bca788ca0f18c1d9d909517cd6a59fcac7f",
    "deals/initech/2026-11-02": "a68a3f27bfa1e50964a181e6be9b3617eb6a25ffbdfb340fbddaf33407221ed0",
    "product_usage/acme/2026-11-01": "be2362536d6c07a10a12ccaae529fb562cde8abfbb53beab8de5f4d315da7d6c",
    "product_usage/acme/2026-11-02": "e70d53edd398efd559648d2eba12670c36166d316b2ab02d9ba19391f5f39c01",
    "product_usage/globex/2026-11-01": "c5d7c310f1b90c0c7e119ce90de9d37a283ba84617e065d529980280e2cc41d7",
    "product_usage/globex/2026-11-02": "cc8c0417ad2d182f28e71d8bd78bedb1238ca8e0f24afbe5ff21fe490549ba8b",
    "product_usage/initech/2026-11-01": "95e6aa35392d59074172207334ae7a99bd30edbff0567457f638f44955119e7d",
    "product_usage/initech/2026-11-02": "7ceba5390b06eb052d7d87fc5f19404d63d1ebfc426a28de29470d4c7ca580b8",
}


def sources_of(*kinds: str) -> list[Any]:
    """The demo sources of these kinds: the ones whose data the fake API and the seeded files serve."""
    return [source for source in demo_sources() if source.extract.kind in kinds]


def pin_key(source: Any, tenant: str, day: dt.date) -> str:
    return f"{demo_resource(source)}/{tenant}/{day}"


REST_CASES = [
    pytest.param(resource, tenant, id=f"{resource}-{tenant}")
    for resource, tenant in sorted(
        {(demo_resource(source), tenant) for source in sources_of("rest_api") for tenant in source.tenants}
    )
]
FILE_SOURCES = sources_of("s3_files", "events")
ALL_CASES = [
    (source, tenant, day) for source in demo_sources() for tenant in source.tenants for day in seed.DEMO_DAYS
]


def stamp(moment: dt.datetime | dt.date) -> str:
    return seed.format_timestamp(moment if isinstance(moment, dt.datetime) else seed.day_start(moment))


def pages(
    api: FakeSourceApi, resource: str, tenant: str, since: Any, before: Any, *, style: str, size: int
) -> list[dict]:
    """Every body of one listing, following the cursor or the page numbers to the end."""
    query = {"page_size": [str(size)], "style": [style]}
    query |= {name: [stamp(at)] for name, at in (("updated_since", since), ("updated_before", before)) if at}
    bodies: list[dict] = []
    while not bodies or bodies[-1].get("next_cursor") or bodies[-1].get("has_more"):
        if style == "page":
            query["page"] = [str(len(bodies) + 1)]
        elif bodies:
            query["cursor"] = [bodies[-1]["next_cursor"]]
        response = api.handle("GET", f"/v1/tenants/{tenant}/{resource}", query, None)
        assert response.status == 200, response.body
        bodies.append(response.json())
    return bodies


def records(bodies: list[dict]) -> list[dict]:
    return [record for body in bodies for record in body["data"]]


def api_at(clock: dt.datetime, **kwargs: Any) -> FakeSourceApi:
    api = FakeSourceApi(rate_limit=None, **kwargs)
    api.set_clock(clock)
    return api


def demo_day_digest(source: Any, tenant: str, day: dt.date) -> str:
    """The seed rows with their hidden arrival and manifest, or the event lines, and for a REST source the
    pages the demo's extraction (6-hour overlap, 5 minutes after the day) and a later rerun see."""
    if source.extract.kind == "events":
        content: Any = [line.decode() for line in events_seed.classification_event_lines(tenant, day)]
    else:
        resource = demo_resource(source)
        content = [seed.seed_rows(resource, tenant, day), seed.seed_manifest(resource, tenant, day)]
    if source.extract.kind == "rest_api":
        start, end = seed.day_start(day), seed.day_start(day) + DAY
        closing = api_at(end + dt.timedelta(minutes=5))
        content.append(
            pages(closing, resource, tenant, start - dt.timedelta(hours=6), end, style="cursor", size=50)
        )
        content.append(pages(api_at(end + DAY), resource, tenant, start, end, style="page", size=100))
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize(
    ("source", "tenant", "day"), ALL_CASES, ids=[f"{s.name}-{t}-{d}" for s, t, d in ALL_CASES]
)
def test_demo_days_serve_exactly_what_they_served_before(source, tenant, day):
    assert demo_day_digest(source, tenant, day) == PINNED[pin_key(source, tenant, day)]


def test_every_discovered_demo_day_is_pinned():
    assert ALL_CASES, "no demo source in the config folder"
    assert {pin_key(source, tenant, day) for source, tenant, day in ALL_CASES} <= set(PINNED)


@pytest.mark.parametrize(("resource", "tenant"), REST_CASES)
@pytest.mark.parametrize("day", [YESTERDAY, A_YEAR_ON], ids=["yesterday", "a-year-on"])
def test_a_day_gives_identical_pages_on_two_servers(resource, tenant, day):
    clock = seed.settled_at(day)
    window = (seed.day_start(day) - dt.timedelta(hours=6), seed.day_start(day) + DAY)

    for style, size in (("cursor", 37), ("page", 100)):
        first = pages(api_at(clock), resource, tenant, *window, style=style, size=size)
        second = pages(api_at(clock), resource, tenant, *window, style=style, size=size)
        assert first == second
        assert len(records(first)) >= seed.daily_size(resource, tenant)
        assert {record["updated_at"][:10] for record in records(first)} == {str(day - DAY), str(day)}


WEEK_END = seed.FIRST_DAY + 6 * DAY


@pytest.fixture(scope="module")
def first_week() -> tuple[FakeSourceApi, FakeSourceApi]:
    """The first week served up front, and every day; both 3 hours into the week's last day."""
    clock = seed.day_start(WEEK_END) + dt.timedelta(hours=3)
    return api_at(clock, days=[seed.FIRST_DAY + n * DAY for n in range(7)]), api_at(clock)


@pytest.mark.parametrize(("resource", "tenant"), REST_CASES)
def test_built_on_demand_equals_built_up_front(first_week, resource, tenant):
    """Serving every day gives the same bodies, cursors included, as serving a fixed run of days."""
    fixed, every_day = first_week
    windows = [(None, None), (seed.day_start(WEEK_END) - dt.timedelta(hours=30), None), (None, WEEK_END)]

    for since, before in windows:
        for style, size in (("cursor", 250), ("page", 333)):
            expected = pages(fixed, resource, tenant, since, before, style=style, size=size)
            assert pages(every_day, resource, tenant, since, before, style=style, size=size) == expected


def anomalies(resource: str, tenant: str, day: dt.date) -> dict[str, float]:
    """Shares of bad, duplicate and late rows in the day's window, as a client of the API sees them."""
    start, end = seed.day_start(day), seed.day_start(day) + DAY
    at_close = records(
        pages(api_at(end + dt.timedelta(minutes=5)), resource, tenant, start, end, style="page", size=1000)
    )
    settled = records(
        pages(api_at(seed.settled_at(day)), resource, tenant, start, end, style="page", size=1000)
    )
    copies = Counter(json.dumps(record, sort_keys=True) for record in settled)

    def bad(record: dict) -> bool:
        for column, broken in seed.BAD_VALUE_KINDS[resource]:
            value = record[column]
            if (
                value is None
                or (broken == "negative" and value < 0)
                or (broken is not None and value == broken)
            ):
                return True
        return False

    return {
        "bad": sum(map(bad, settled)) / len(settled),
        "duplicate": sum(count - 1 for count in copies.values()) / len(settled),
        "late": (len(settled) - len(at_close)) / len(settled),
    }


@pytest.mark.parametrize(("resource", "tenant"), REST_CASES)
def test_a_current_day_has_the_demo_days_mix_of_bad_duplicate_and_late_rows(resource, tenant):
    demo = [anomalies(resource, tenant, day) for day in seed.DEMO_DAYS]
    current = anomalies(resource, tenant, YESTERDAY)

    for kind, share in current.items():
        assert share > 0, kind
        assert share == pytest.approx(sum(day[kind] for day in demo) / len(demo), abs=TOLERANCE), kind


def test_a_window_builds_only_the_days_it_reaches(monkeypatch):
    built: list[tuple[str, str, dt.date]] = []
    original = seed.seed_rows
    monkeypatch.setattr(seed, "seed_rows", lambda *args: built.append(args) or original(*args))
    resource, tenant = REST_CASES[0].values
    api = api_at(seed.settled_at(A_YEAR_ON))

    pages(
        api,
        resource,
        tenant,
        seed.day_start(A_YEAR_ON) - dt.timedelta(hours=6),
        A_YEAR_ON + DAY,
        style="cursor",
        size=1000,
    )
    assert sorted(day for *_, day in built) == [A_YEAR_ON - DAY, A_YEAR_ON]

    built.clear()
    skip_days = 200
    query = {
        "style": ["page"],
        "page": [str(skip_days + 1)],
        "page_size": [str(seed.daily_size(resource, tenant))],
    }
    response = api.handle("GET", f"/v1/tenants/{tenant}/{resource}", query, None)
    wanted = seed.FIRST_DAY + skip_days * DAY
    assert response.json()["data"][0]["updated_at"].startswith(str(wanted))
    assert [day for *_, day in built] == [wanted, wanted + DAY], "the page and the first row of the next"


def test_days_before_the_first_demo_day_are_empty():
    api = api_at(seed.settled_at(seed.FIRST_DAY))
    resource, tenant = REST_CASES[0].values
    before = seed.day_start(seed.FIRST_DAY)

    assert records(pages(api, resource, tenant, before - 30 * DAY, before, style="cursor", size=100)) == []


def test_the_cli_serves_every_day_unless_told_how_many():
    resource, tenant = REST_CASES[0].values
    day = seed.FIRST_DAY + 5 * DAY
    clock = stamp(seed.settled_at(day))
    every_day = build_api(parse_args(["--clock", clock]))
    three_days = build_api(parse_args(["--clock", clock, "--days", "3"]))

    def served(api: FakeSourceApi, since: Any, before: Any) -> list[dict]:
        return records(pages(api, resource, tenant, since, before, style="cursor", size=1000))

    assert len(served(every_day, day, day + DAY)) == seed.daily_size(resource, tenant)
    assert served(three_days, day, day + DAY) == []
    assert served(three_days, None, None) == served(every_day, None, seed.FIRST_DAY + 3 * DAY)


def test_a_fresh_server_answers_yesterday_over_http():
    resource, tenant = REST_CASES[0].values
    params = {"updated_since": stamp(YESTERDAY), "updated_before": stamp(YESTERDAY + DAY), "page_size": 1000}

    with serve() as server:
        body = requests.get(f"{server.url}/v1/tenants/{tenant}/{resource}", params=params, timeout=30).json()

    assert (
        len(body["data"]) >= seed.daily_size(resource, tenant) - seed.anomaly_counts(resource, tenant)["late"]
    )
    assert {record["updated_at"][:10] for record in body["data"]} == {str(YESTERDAY)}


def test_recent_days_end_today_and_start_no_earlier_than_the_first_demo_day():
    today = dt.datetime.now(dt.UTC).date()
    assert recent_days() == [str(today - 2 * DAY), str(today - DAY), str(today)]
    assert recent_days(2, A_YEAR_ON) == [str(A_YEAR_ON - DAY), str(A_YEAR_ON)]
    assert recent_days(3, seed.FIRST_DAY + DAY) == [str(seed.FIRST_DAY), str(seed.FIRST_DAY + DAY)]


@pytest.fixture
def inbound(moto_server, monkeypatch):
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    client = moto_server.client("s3")
    bucket = f"inbound-{uuid.uuid4().hex[:12]}"
    ensure_bucket(client, bucket)
    return client, bucket


def file_mix(body: bytes, kind: str) -> dict[str, float]:
    """Shares of exact duplicates and of lines that are not a valid row, from the bytes alone."""
    if kind == "events":
        lines = body.decode().splitlines()
        broken = sum(1 for line in lines if not _json_object(line) or "NaN" in line)
    else:
        lines = [tuple(row) for row in csv.reader(io.StringIO(body.decode()))][1:]
        broken = sum(1 for line in lines if any(cell == "" or cell.startswith("-") for cell in line))
    copies = Counter(lines)
    return {"duplicate": sum(n - 1 for n in copies.values()) / len(lines), "broken": broken / len(lines)}


def _json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def day_files(client: Any, bucket: str, source: Any, tenant: str, day: str) -> list[bytes]:
    s3 = TenantS3(client, bucket, tenant)
    keys = s3.list_keys(*inbound_prefix_segments(source.extract.prefix_pattern, day))
    return [s3.get_bytes(key) for key in sorted(keys)]


@pytest.mark.parametrize("source", FILE_SOURCES, ids=[source.name for source in FILE_SOURCES])
def test_recent_inbound_files_have_the_demo_days_mix(inbound, source):
    client, bucket = inbound
    assert seed_recent_inbound_files(client, bucket, source) > 0
    seed_inbound_files(client, bucket, source, [str(day) for day in seed.DEMO_DAYS])

    for tenant in source.tenants:
        demo = [
            file_mix(b"".join(day_files(client, bucket, source, tenant, str(day))), source.extract.kind)
            for day in seed.DEMO_DAYS
        ]
        for day in recent_days():
            files = day_files(client, bucket, source, tenant, day)
            assert len(files) == 1, (tenant, day)
            for kind, share in file_mix(files[0], source.extract.kind).items():
                assert share > 0, (tenant, day, kind)
                expected = sum(mix[kind] for mix in demo) / len(demo)
                assert share == pytest.approx(expected, abs=0.02), (tenant, day, kind)
