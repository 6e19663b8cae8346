"""The events source kind end to end: contract events dropped per tenant, through real Airflow and DuckDB."""

from __future__ import annotations

import pytest

from dev.fakeapi.events_seed import BROKEN_KINDS, FIRST_DAY, expected_counts, good_events
from tests.e2e.conftest import DAYS
from tests.support.sources import a_source, demo_resource

pytestmark = pytest.mark.e2e

# The events source whose demo events dev/fakeapi/events_seed.py writes, found by that property of its config.
SOURCE_CONFIG = a_source(lambda c: demo_resource(c) is not None, kind="events", what="with demo events")
SOURCE = SOURCE_CONFIG.name
TENANTS = tuple(SOURCE_CONFIG.tenants)


@pytest.fixture
def events_harness(harness):
    from dev.embedded import seed_inbound_files

    seed_inbound_files(harness.stack.s3_client(), harness.bucket, SOURCE_CONFIG, list(DAYS))
    return harness


def snapshot(harness) -> dict:
    return {
        "curated": harness.curated(SOURCE),
        "quarantine": harness.sql(
            f"SELECT * EXCLUDE (_run_id, _load_id, _quarantined_run_id) FROM quarantine.{SOURCE} ORDER BY ALL"
        ),
        "objects": sorted(harness.objects().items()),
    }


def test_events_are_validated_deduplicated_and_quarantined_with_reasons(events_harness) -> None:
    harness = events_harness
    for day in DAYS:
        outcome = harness.run(SOURCE, day)
        assert outcome.state == "success", (day, outcome.failed_tasks)

    for day in DAYS:
        summaries = harness.summaries(SOURCE, day)
        for tenant in TENANTS:
            expected, got = expected_counts(tenant, day), summaries[tenant]
            assert {k: got[k] for k in expected} == expected, (tenant, day)
            assert got["extracted"] == got["passed"] + got["quarantined"] + got["duplicates_dropped"]

    reasons = dict(
        harness.sql(
            f"SELECT reason, count(*) FROM (SELECT unnest(_reasons) AS reason FROM quarantine.{SOURCE}) GROUP BY 1"
        )
    )
    per_run = len(TENANTS) * len(DAYS)
    assert reasons["clock_skew(classified_at)"] == per_run
    assert reasons["contract_tenant_mismatch($.tenantId)"] == per_run
    assert reasons["contract_duplicate_key($.tenantId)"] == per_run
    assert reasons["contract_non_finite($.confidence.overall)"] == per_run
    assert reasons["contract_type($.confidence.overall)"] == per_run
    assert reasons["contract_format($.time)"] == per_run
    assert reasons["contract_unknown_enum($.intent)"] == per_run
    assert reasons["contract_malformed_json($)"] == per_run
    assert harness.count(f"quarantine.{SOURCE}") == per_run * (1 + len(BROKEN_KINDS))

    for tenant in TENANTS:
        rows = dict(
            harness.sql(
                f"SELECT request_id, strftime(classified_at, '%Y-%m-%dT%H:%M:%SZ') FROM curated.{SOURCE} "
                "WHERE _tenant_id = ?",
                [tenant],
            )
        )
        assert not [r for r in rows if r.startswith("X-") or r.endswith("skew-bad")]
        assert all(r.endswith("skew-ok") or r.startswith("R-") for r in rows)
        first = FIRST_DAY.strftime("%Y%m%d")
        late_newer, late_older = f"R-{first}-0006", f"R-{first}-0007"
        day1 = {r[0]: r[1] for r in _day_events(tenant, FIRST_DAY)}
        assert rows[late_newer] > day1[late_newer], "a late newer version wins"
        assert rows[late_older] == day1[late_older], "a late older version never overwrites a newer one"
        for day in DAYS:
            seeded = dict(_day_events(tenant, day))
            out_of_order = f"R-{day.replace('-', '')}-0004"
            assert rows[out_of_order] > seeded[out_of_order], "the newer of an out-of-order pair wins"
        other = "globex" if tenant == "acme" else "acme"
        assert not harness.sql(
            f"SELECT 1 FROM curated.{SOURCE} WHERE _tenant_id = ? AND request_id LIKE 'X-%other_tenant'",
            [other],
        ), "an event naming another tenant is never re-homed to it"

    before = snapshot(harness)
    for day in reversed(DAYS):
        assert harness.run(SOURCE, day).state == "success"
    after = snapshot(harness)
    for part in before:
        changed = set(map(repr, after[part])) ^ set(map(repr, before[part]))  # repr: NaN != NaN
        assert changed == set(), f"a rerun must change no {part}"


def _day_events(tenant: str, day) -> list[tuple[str, str]]:
    return [(e["requestId"], e["time"]) for e in good_events(tenant, day)]
