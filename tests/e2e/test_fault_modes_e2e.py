"""One end-to-end run per fault mode of the fake API, through real Airflow, moto and DuckDB.

Faults that should stop a batch target one tenant (the source's second): the others must still publish.
The source is the demo REST source that reads the fake API's deals, found by that property of its config.
"""

from __future__ import annotations

import pytest

from salestalk.names import STEPS
from tests.e2e.seed_oracle import SOURCES, newest_versions, oracle
from tests.support.sources import a_source, demo_resource

pytestmark = pytest.mark.e2e

DAY = "2026-11-01"
LABEL = "20261101T000000Z_20261102T000000Z"
CONFIG = a_source(lambda c: demo_resource(c) == "deals", kind="rest_api", what="reading the fake API's deals")
SOURCE, PK = CONFIG.name, SOURCES[CONFIG.name]
TENANTS = tuple(CONFIG.tenants)
FAULTY = TENANTS[1]  # the tenant a fault that stops a batch targets (map index 1)
HEALTHY = tuple(t for t in TENANTS if t != FAULTY)
LIMIT = f"{CONFIG.quarantine.max_error_rate:.2%}"


def assert_matches_oracle(harness, tenants=TENANTS) -> None:
    summaries = harness.summaries(SOURCE, DAY)
    for tenant in tenants:
        expected = oracle(SOURCE, tenant, DAY)
        got = summaries[tenant]
        assert "problem" not in got, got
        for field in ("extracted", "quarantined", "passed", "duplicates_dropped"):
            assert got[field] == expected[field], (tenant, field)
        assert harness.count(f"staging.{SOURCE}", tenant) == expected["extracted"]
        assert harness.count(f"quarantine.{SOURCE}", tenant) == expected["quarantined"]
        assert harness.count(f"curated.{SOURCE}", tenant) == expected["passed"]
        assert curated_versions(harness, tenant) == newest_versions(SOURCE, tenant, (DAY,))
        assert len(harness.objects(f"tenants/{tenant}/raw/{SOURCE}/interval={LABEL}/")) == 2
        assert len(harness.objects(f"tenants/{tenant}/quarantine/{SOURCE}/interval={LABEL}/")) == 1


def curated_versions(harness, tenant: str) -> dict[str, str]:
    return dict(
        harness.sql(
            f"SELECT {PK}, strftime(updated_at, '%Y-%m-%dT%H:%M:%SZ') FROM curated.{SOURCE} WHERE _tenant_id = ?",
            [tenant],
        )
    )


def held_back(harness, tenant: str) -> str:
    rows = harness.sql(
        "SELECT result->>'held_back' FROM audit.batch_results WHERE source = ? AND tenant = ? "
        "AND step = 'publish'",
        [SOURCE, tenant],
    )
    assert rows and rows[0][0], f"{tenant} should have been held back"
    return rows[0][0]


def assert_held_back_only_the_faulty_tenant(harness, outcome) -> str:
    assert outcome.state == "failed"
    assert any(t.startswith("tenant.publish") for t in outcome.failed_tasks)
    assert "report[-1]" in outcome.failed_tasks
    assert_matches_oracle(harness, HEALTHY)
    assert harness.count(f"curated.{SOURCE}", FAULTY) == 0, "a held-back batch must publish nothing"
    extracted = harness.summaries(SOURCE, DAY)[FAULTY]["extracted"]
    assert harness.count(f"staging.{SOURCE}", FAULTY) == extracted, "held-back rows stay in staging"
    return held_back(harness, FAULTY)


def test_transient_5xx_are_retried(harness) -> None:
    harness.api.set_faults({"mode": "server_error", "status": 503, "count": 3})
    outcome = harness.run(SOURCE, DAY)
    assert outcome.state == "success"
    assert outcome.map_labels == set(TENANTS), "mapped tasks are labelled by tenant in the UI"
    assert harness.api.stats()["by_status"].get("503", 0) == 3
    assert_matches_oracle(harness)


def test_slow_responses_within_the_timeout(harness) -> None:
    harness.api.set_faults({"mode": "slow", "seconds": 0.3})
    assert harness.run(SOURCE, DAY).state == "success"
    assert_matches_oracle(harness)


def test_rate_limited_api_answers_429_and_we_wait(harness) -> None:
    harness.api.set_rate_limit(3)
    assert harness.run(SOURCE, DAY).state == "success"
    assert harness.api.stats()["rate_limited"] > 0
    assert_matches_oracle(harness)


def test_repeated_page_is_refetched_not_duplicated(harness) -> None:
    harness.api.set_faults({"mode": "repeated_page"})
    assert harness.run(SOURCE, DAY).state == "success"
    assert_matches_oracle(harness)


def test_late_records_are_extracted_and_published(harness) -> None:
    tenant = HEALTHY[0]
    harness.api.set_faults({"mode": "late_records", "count": 5, "tenant": tenant})
    assert harness.run(SOURCE, DAY).state == "success"
    late = harness.sql(
        f"SELECT count(*) FROM curated.{SOURCE} WHERE _tenant_id = ? AND {PK} LIKE 'LATE-%'", [tenant]
    )
    assert late == [(5,)]
    assert harness.summaries(SOURCE, DAY)[tenant]["extracted"] == oracle(SOURCE, tenant, DAY)["extracted"] + 5
    assert_matches_oracle(harness, HEALTHY[1:])


def test_duplicates_collapse(harness) -> None:
    harness.api.set_faults({"mode": "duplicates"})
    assert harness.run(SOURCE, DAY).state == "success"
    summaries = harness.summaries(SOURCE, DAY)
    for tenant in TENANTS:
        expected = oracle(SOURCE, tenant, DAY)
        got = summaries[tenant]
        assert got["extracted"] > expected["extracted"]
        assert got["passed"] == expected["passed"]
        assert got["duplicates_dropped"] > expected["duplicates_dropped"]
        assert got["extracted"] == got["passed"] + got["quarantined"] + got["duplicates_dropped"]
        assert curated_versions(harness, tenant) == newest_versions(SOURCE, tenant, (DAY,))


def test_a_new_column_is_schema_drift_and_holds_back_that_tenant(harness) -> None:
    harness.api.set_faults({"mode": "new_column", "tenant": FAULTY})
    reason = assert_held_back_only_the_faulty_tenant(harness, harness.run(SOURCE, DAY))
    assert "expect_table_columns_to_match_set" in reason and "region" in reason


def test_a_removed_column_holds_back_that_tenant(harness) -> None:
    harness.api.set_faults({"mode": "removed_column", "column": "currency", "tenant": FAULTY})
    reason = assert_held_back_only_the_faulty_tenant(harness, harness.run(SOURCE, DAY))
    assert "expect_table_columns_to_match_set" in reason


def test_unknown_enum_values_are_quarantined_with_the_reason(harness) -> None:
    harness.api.set_faults({"mode": "unknown_enum", "column": "stage", "tenant": FAULTY})
    reason = assert_held_back_only_the_faulty_tenant(harness, harness.run(SOURCE, DAY))
    assert "error rate" in reason
    mystery = harness.sql(
        f"SELECT count(*) FROM quarantine.{SOURCE} WHERE _tenant_id = ? AND stage = 'mystery' "
        "AND list_contains(_reasons, 'expect_column_values_to_be_in_set(stage)')",
        [FAULTY],
    )[0][0]
    assert mystery >= 15


def test_bad_rows_above_the_threshold_hold_back_that_tenant(harness) -> None:
    harness.api.set_faults({"mode": "bad_rows", "fraction": 0.2, "tenant": FAULTY})
    reason = assert_held_back_only_the_faulty_tenant(harness, harness.run(SOURCE, DAY))
    assert f"is above the {LIMIT} limit" in reason
    summary = harness.summaries(SOURCE, DAY)[FAULTY]
    assert summary["quarantined"] >= 0.2 * summary["extracted"]
    assert summary["extracted"] == summary["passed"] + summary["quarantined"] + summary["duplicates_dropped"]


def test_a_failing_source_for_one_tenant_blocks_no_other(harness) -> None:
    harness.api.set_faults({"mode": "server_error", "status": 500, "count": 1000, "tenant": FAULTY})
    outcome = harness.run(SOURCE, DAY)
    assert outcome.state == "failed"
    # the tenant's later steps fail as "waiting on upstream" (so clearing failed tasks redoes them), unpaged
    assert sorted(t for t in outcome.failed_tasks if t.startswith("tenant.")) == sorted(
        f"tenant.{s}[1]" for s in STEPS
    )
    assert_matches_oracle(harness, HEALTHY)
    assert harness.objects(f"tenants/{FAULTY}/raw/") == {}
    assert harness.objects(f"tenants/{FAULTY}/state/") == {}, (
        "the cursor must not advance without landed data"
    )
