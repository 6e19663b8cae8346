"""Freshness diagnosis: the decision tree, and the observation from a curated table."""

from __future__ import annotations

import datetime as dt

import pytest

from salestalk.freshness import (
    Classification,
    Observation,
    classify,
    diagnose,
    freshness_alert,
    previous_fire,
)

NOW = dt.datetime(2026, 11, 3, 6, 0, tzinfo=dt.UTC)


def obs(
    loaded: str | None,
    business: str | None,
    interval: str | None = "2026-11-02T00:00:00+00:00",
    *,
    source_ran: bool = True,
):
    return Observation(
        "deals",
        "acme",
        dt.datetime.fromisoformat(loaded) if loaded else None,
        dt.date.fromisoformat(business) if business else None,
        dt.datetime.fromisoformat(interval) if interval else None,
        source_ran=source_ran,
    )


def run(observation: Observation, downstream: str | None = "2026-11-03T00:00:00+00:00"):
    return classify(
        observation,
        NOW,
        source_schedule="@daily",
        max_load_age_minutes=36 * 60,
        max_business_date_lag_days=2,
        downstream_ran_at=dt.datetime.fromisoformat(downstream) if downstream else None,
    )


@pytest.mark.parametrize(
    ("observation", "downstream", "expected"),
    [
        pytest.param(obs("2026-11-02T23:50:00+00:00", "2026-11-02"), None, "healthy", id="fresh-and-current"),
        pytest.param(
            obs("2026-11-02T23:50:00+00:00", "2026-11-02", "2026-11-01T00:00:00+00:00"),
            "2026-11-03T00:00:00+00:00",
            "healthy",
            id="downstream-ran-after-the-load",
        ),
        pytest.param(
            obs("2026-11-03T00:05:00+00:00", "2026-10-20"), None, "source_behind", id="old-business-dates"
        ),
        pytest.param(
            obs("2026-11-03T00:05:00+00:00", "2026-11-02"),
            "2026-11-03T00:00:00+00:00",
            "timing_mismatch",
            id="load-landed-after-downstream",
        ),
        pytest.param(
            obs("2026-11-01T00:05:00+00:00", "2026-11-01"), None, "extraction_problem", id="stale-load"
        ),
        pytest.param(obs(None, None, None), None, "extraction_problem", id="never-loaded"),
        pytest.param(
            obs(None, None, None, source_ran=False), "2026-11-03T00:00:00+00:00", "never_run", id="never-run"
        ),
    ],
)
def test_decision_tree(observation, downstream, expected) -> None:
    diagnosis = run(observation, downstream)
    assert diagnosis.classification == Classification(expected)
    assert diagnosis.classification.is_problem == (expected not in ("healthy", "never_run"))


def test_stale_load_wins_over_everything_else() -> None:
    diagnosis = run(obs("2026-10-01T00:05:00+00:00", "2026-09-01"))
    assert diagnosis.classification == Classification.EXTRACTION_PROBLEM
    assert "older than the 2160 min limit" in diagnosis.reason


def test_downstream_time_comes_from_its_schedule() -> None:
    assert previous_fire("@daily", NOW) == dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
    assert previous_fire("30 1 * * *", NOW) == dt.datetime(2026, 11, 3, 1, 30, tzinfo=dt.UTC)


def _curated(path, table: str, rows: list[tuple]) -> None:
    """A hand-made curated deals table with the columns the freshness observation reads."""
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA curated")
    con.execute(
        f"CREATE TABLE curated.{table} (deal_id VARCHAR, close_date DATE, _tenant_id VARCHAR, "
        "_loaded_at TIMESTAMPTZ, _interval_start TIMESTAMPTZ)"
    )
    con.executemany(f"INSERT INTO curated.{table} VALUES (?, ?, ?, ?, ?)", rows)
    con.close()


def test_observes_a_curated_table_and_alerts_once_per_state(tmp_path, deals) -> None:
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    path = tmp_path / "w.duckdb"
    _curated(
        path,
        deals.name,
        [
            ("d1", "2026-11-02", "acme", "2026-11-02T23:50:00Z", "2026-11-02T00:00:00Z"),
            ("d2", "2026-11-01", "acme", "2026-11-01T23:50:00Z", "2026-11-01T00:00:00Z"),
            ("d3", "2026-10-01", "globex", "2026-11-03T05:00:00Z", "2026-11-02T00:00:00Z"),
        ],
    )
    found = {d.observation.tenant: d for d in diagnose(DuckDBWarehouse(path), [deals], NOW)}
    assert found["acme"].classification == Classification.HEALTHY
    assert found["acme"].observation.latest_business_date == dt.date(2026, 11, 2)
    assert found["globex"].classification == Classification.TIMING_MISMATCH
    assert found["initech"].classification == Classification.EXTRACTION_PROBLEM
    alert = freshness_alert(deals, found["initech"])
    assert alert.alert_type == "freshness" and alert.tenants == ("initech",) and alert.severity == "error"
    assert alert.to_dict()["links"]["runbook_path"] == "docs/runbooks/freshness.md"
    assert freshness_alert(deals, found["initech"]).dedup_key == alert.dedup_key


def test_a_downstream_job_that_never_ran_is_no_timing_mismatch(tmp_path, deals) -> None:
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    path = tmp_path / "w.duckdb"
    _curated(path, deals.name, [("d1", "2026-11-02", "acme", "2026-11-03T05:00:00Z", "2026-11-02T00:00:00Z")])
    warehouse = DuckDBWarehouse(path)
    assumed = {d.observation.tenant: d for d in diagnose(warehouse, [deals], NOW)}
    assert assumed["acme"].classification == Classification.TIMING_MISMATCH
    never = {
        d.observation.tenant: d for d in diagnose(warehouse, [deals], NOW, downstream_ran_at=lambda *_: None)
    }
    assert never["acme"].classification == Classification.HEALTHY
    assert never["acme"].downstream_ran_at is None
    later = dt.datetime(2026, 11, 3, 5, 30, tzinfo=dt.UTC)
    after = diagnose(warehouse, [deals], NOW, downstream_ran_at=lambda source, now: later)
    assert after[0].classification == Classification.HEALTHY and after[0].downstream_ran_at == later
