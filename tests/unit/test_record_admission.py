"""One record-admission policy for every source kind, through the real steps against the fake API and moto.

REST records stamped outside the requested window, or sending a column twice, are quarantined naming the
column; nothing outside the window reaches curated; ``Retry-After`` waits are bounded. The file and event
kinds run the same window check (see also tests/unit/test_poison_records.py, where every kind gets
out-of-window cursors among its poison values).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import requests

from dev.embedded import ensure_bucket
from dev.fakeapi.server import serve
from salestalk import pipeline
from salestalk.batch import Batch, format_utc
from salestalk.config.models import QuarantinePolicy
from salestalk.extract.rest import ExtractError, RestExtractor, RestSpec, retry_after_seconds
from salestalk.names import QUARANTINE_SCHEMA
from salestalk.pii import PII_KEY_ENV
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key
from tests.support.sources import a_source, demo_resource

SOURCE = a_source(
    lambda c: demo_resource(c) is not None, kind="rest_api", what="served by the fake API"
).model_copy(update={"quarantine": QuarantinePolicy(max_error_rate=0.5, on_table_failure="publish_passing")})
RESOURCE = demo_resource(SOURCE)
TENANT, OTHER = SOURCE.tenants[0], SOURCE.tenants[1]
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
END = START + dt.timedelta(days=1)
CURSOR = SOURCE.table_schema.cursor_column


@pytest.fixture(scope="module")
def api():
    with serve() as server:
        yield server


@pytest.fixture
def services(api, moto_server, monkeypatch, tmp_path: Path) -> pipeline.Services:
    key = kms_key(moto_server)
    monkeypatch.setenv(KMS_KEY_ENV, key.key_id)
    monkeypatch.setenv(KMS_ALLOWED_ENV, key.key_id)
    monkeypatch.setenv("GX_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv(PII_KEY_ENV, "record-admission-test-pii-key")
    client = moto_server.client("s3")
    bucket = f"admission-{tmp_path.name[-20:].lower().replace('_', '-')}".rstrip("-")
    ensure_bucket(client, bucket)
    api.api.reset()
    api.api.set_rate_limit(None)
    api.api.set_clock(END + dt.timedelta(minutes=5))
    services = pipeline.Services(client, bucket, DuckDBWarehouse(tmp_path / "w.duckdb"))
    services.http_session, services.api_base_url = requests.Session(), api.url
    yield services
    api.api.reset()


def run_steps(services: pipeline.Services, tenant: str = TENANT) -> dict:
    batch = Batch(SOURCE.name, tenant, START, END, f"admission-{tenant}")
    return {
        "extract": pipeline.extract_and_land(SOURCE, batch, services),
        "load": pipeline.load_to_staging(SOURCE, batch, services),
        "validate": pipeline.validate(SOURCE, batch, services),
        "quarantine": pipeline.quarantine(SOURCE, batch, services),
        "publish": pipeline.publish(SOURCE, batch, services),
    }


def accounted(counts: dict) -> None:
    """rows in = published + quarantined + duplicates dropped, and publish wrote what validate passed."""
    v = counts["validate"]
    assert (
        counts["extract"]["extracted"]
        == v["passed"] + counts["quarantine"]["quarantined"] + v["duplicates_dropped"]
    )
    assert counts["publish"]["published"] == v["passed"]


def sql(services: pipeline.Services, query: str, params: list | None = None) -> list[tuple]:
    with services.warehouse.connect() as s:
        return s.fetchall(query, params or [])


def test_records_stamped_after_the_window_are_quarantined_never_published(api, services) -> None:
    """A broken source clock stamps every 7th record in 2099: quarantined as clock_skew, not pinned."""
    clean = run_steps(services, OTHER)
    api.api.set_faults({"mode": "clock_skew", "at": "2099-01-01T00:00:00Z", "every": 7})

    counts = run_steps(services)

    accounted(counts)
    skewed = counts["validate"]["reasons"].get(f"clock_skew({CURSOR})", 0)
    assert skewed > 0 and counts["quarantine"]["quarantined"] >= skewed
    window_end = END + dt.timedelta(minutes=SOURCE.extract.max_clock_skew_minutes)
    assert sql(
        services,
        f"SELECT COUNT(*) FROM curated.{SOURCE.name} WHERE {CURSOR} > CAST(? AS TIMESTAMPTZ)",
        [format_utc(window_end)],
    ) == [(0,)], "nothing stamped after the window reaches curated"
    assert sql(services, f"SELECT DISTINCT _tenant_id FROM curated.{SOURCE.name} ORDER BY 1") == sorted(
        [(TENANT,), (OTHER,)]
    )
    future = sql(
        services,
        f"SELECT COUNT(*) FROM {QUARANTINE_SCHEMA}.{SOURCE.name} WHERE _tenant_id = ? "
        f"AND list_contains(_reasons, ?)",
        [TENANT, f"clock_skew({CURSOR})"],
    )
    assert future == [(skewed,)], "each skewed record is kept in quarantine with its reason"
    assert clean["validate"]["reasons"].get(f"clock_skew({CURSOR})", 0) == 0


def test_a_record_that_sends_a_column_twice_is_quarantined_naming_the_column(api, services) -> None:
    column = SOURCE.table_schema.primary_key[0]
    other = next(c for c in SOURCE.table_schema.column_names if c not in (column, CURSOR))
    api.api.set_faults({"mode": "duplicate_keys", "column": other, "every": 5})

    counts = run_steps(services)

    accounted(counts)
    doubled = counts["extract"]["rejection_reasons"].get(f"duplicate_key({other})", 0)
    assert doubled > 0
    assert counts["validate"]["reasons"][f"duplicate_key({other})"] == doubled
    published = set(
        sql(
            services,
            f"SELECT {column}, strftime({CURSOR}, '%Y-%m-%dT%H:%M:%SZ') FROM curated.{SOURCE.name}",
        )
    )
    quarantined = sql(
        services,
        f"SELECT _raw_record FROM {QUARANTINE_SCHEMA}.{SOURCE.name} WHERE list_contains(_reasons, ?)",
        [f"duplicate_key({other})"],
    )
    assert len(quarantined) == doubled
    versions = {(json.loads(r)[column], json.loads(r)[CURSOR]) for (r,) in quarantined}
    copied = set(
        sql(
            services,
            f"SELECT {column}, strftime({CURSOR}, '%Y-%m-%dT%H:%M:%SZ') FROM staging.{SOURCE.name} "
            "GROUP BY ALL HAVING COUNT(*) > 1",
        )
    )
    assert versions & published <= copied, "only a clean copy of such a version may be published"
    assert versions - copied, "the fault hit versions that were sent once"


@pytest.mark.parametrize(
    ("header", "named"),
    [
        pytest.param("86400", "'86400'", id="a-day"),
        pytest.param("inf", "'inf'", id="inf"),
        pytest.param("1e308", "'1e308'", id="1e308"),
        pytest.param("NaN", "'NaN'", id="nan"),
        pytest.param("Fri, 31 Dec 2100 23:59:59 GMT", "'Fri, 31 Dec 2100", id="http-date"),
        pytest.param("soon", "'soon'", id="garbage"),
    ],
)
def test_a_retry_after_beyond_the_cap_fails_the_extract_naming_the_header(api, header, named) -> None:
    api.api.reset()
    api.api.set_rate_limit(None)
    api.api.set_faults({"mode": "throttle", "retry_after": header})
    slept: list[float] = []
    spec = RestSpec(api.url, SOURCE.extract.path, "cursor", 100, 1000.0, 5.0, 4, max_retry_after_seconds=300)
    extractor = RestExtractor(requests.Session(), spec, sleep=slept.append)

    with pytest.raises(ExtractError, match=f"Retry-After {named}"):
        list(extractor.pages(TENANT, START, END))

    assert sum(slept) < 1, "no wait is started beyond the cap"
    assert api.api.stats()["by_status"] == {"429": 1}
    api.api.reset()


def test_a_retry_after_within_the_cap_is_waited_out(api) -> None:
    api.api.reset()
    api.api.set_rate_limit(None)
    api.api.set_clock(END + dt.timedelta(minutes=5))
    api.api.set_faults({"mode": "throttle", "retry_after": "2", "count": 1})
    slept: list[float] = []
    spec = RestSpec(api.url, SOURCE.extract.path, "cursor", 100, 1000.0, 5.0, 4, max_retry_after_seconds=3)
    extractor = RestExtractor(requests.Session(), spec, sleep=slept.append)

    records = [r for page in extractor.pages(TENANT, START, END) for r in page]

    assert records and extractor.stats.throttled == 1
    assert any(1.5 <= s <= 2.0 for s in slept), slept
    api.api.reset()


def test_the_retry_after_cap_is_also_the_steps_remaining_time() -> None:
    spec = RestSpec(
        "http://127.0.0.1:9", "/x/{tenant}", "cursor", 10, 10.0, 1.0, 1, max_retry_after_seconds=300
    )
    import time

    extractor = RestExtractor(requests.Session(), spec, deadline=time.monotonic() + 30)
    assert 25 < extractor._retry_after_cap() <= 30
    with pytest.raises(ExtractError, match="'60'"):
        retry_after_seconds("60", extractor._retry_after_cap())
    assert retry_after_seconds("20", extractor._retry_after_cap()) == 20
    assert retry_after_seconds(None, 300) == 1.0
    assert retry_after_seconds("-5", 300) == 0.0


def test_the_cap_comes_from_the_source_config() -> None:
    assert SOURCE.extract.max_retry_after_seconds == 300
    changed = SOURCE.model_validate({**SOURCE.model_dump(by_alias=True), "extract": {
        **SOURCE.extract.model_dump(), "max_retry_after_seconds": 30}})  # fmt: skip
    assert changed.extract.max_retry_after_seconds == 30
