"""Every reader of the warehouse gives the same answer on DuckDB and on Snowflake (fakesnow's HTTP server).

One deals batch (every kind of bad row, a duplicate, schema drift) runs through the real steps on the
backend under test; then the DQ alerts, the freshness classification, the task-failure callback's payload and
the operator CLI read it back. Each test asserts fixed expected values, so both backends agree.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from salestalk import pipeline
from salestalk.alerting import callbacks, dq
from salestalk.alerting.routes import alert_log_path, read_alert_log
from salestalk.freshness import Classification, diagnose
from tests.unit.warehouse.test_snowflake_pipeline import END, RECORDS, START, _land

# fakesnow 0.12.1's server returns a NULL TIMESTAMP_TZ as 1970-01-01 over the wire (patch mode does not),
# so the record with a null cursor is left out here; tests/unit/warehouse covers it in patch mode.
READER_RECORDS = [r for r in RECORDS if r["updated_at"] is not None]
FAILING = 7  # the bad rows of READER_RECORDS
PUBLISHED = 22  # the newest passing version of each deal
SEEN: dict[str, dict] = {}  # per test, what the first backend saw; the second must see the same


@pytest.fixture(scope="module")
def landed(moto_server):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _land(moto_server, monkeypatch, READER_RECORDS, bucket="readers")


@pytest.fixture
def published(landed, warehouse, monkeypatch, tmp_path):
    """The batch run through every step on the backend under test; returns (source, warehouse, step results)."""
    client, source, batch = landed
    monkeypatch.setenv("SALESTALK_ALERT_DIR", str(tmp_path / "alerts"))
    monkeypatch.setenv("SALESTALK_BUCKET", "readers")
    source = source.model_copy(
        update={"snowflake": source.snowflake.model_copy(update={"stage_kind": "internal"})}
    )
    services = pipeline.Services(client, "readers", warehouse)
    results = {
        step: getattr(pipeline, step)(source, batch, services)
        for step in ("load_to_staging", "validate", "quarantine", "publish")
    }
    return source, warehouse, results


def test_dq_error_rate_alert_fires_the_same(published) -> None:
    source, warehouse, results = published
    recorded = dq.batch_results(warehouse, source, START)
    assert set(recorded) == {"acme"}
    assert set(recorded["acme"]) == {"load_to_staging", "validate", "quarantine", "publish"}
    alerts = dq.quality_alerts(source, recorded, run_id="manual__1")
    assert [a.alert_type for a in alerts] == ["dq_error_rate"]
    breach = alerts[0].counts["by_tenant"]["acme"]
    assert (breach["rows"], breach["failing"], breach["published"]) == (
        len(READER_RECORDS),
        FAILING,
        PUBLISHED,
    )
    assert breach["error_rate"] == round(FAILING / len(READER_RECORDS), 6)
    assert breach["reasons"]["cast_to_float(amount)"] == 1
    same_on_every_backend("dq", [a.to_dict()["counts"] for a in alerts])


def same_on_every_backend(test: str, seen: object) -> None:
    """The first backend records what it saw; each later one must see exactly that."""
    assert SEEN.setdefault(test, {"value": seen})["value"] == seen


def test_freshness_classification_is_the_same(published) -> None:
    source, warehouse, _ = published
    landed_at = dt.datetime.now(dt.UTC)
    now = landed_at + dt.timedelta(minutes=10)
    # The records' business dates are fixed (close_date 2026-12-01) while the load is now: allow their lag
    # as of today, so the verdict is about the fresh load, whatever day the test runs.
    lag = max(0, (now.date() - dt.date(2026, 12, 1)).days) + 2
    freshness = source.alerting.freshness.model_copy(update={"max_business_date_lag_days": lag})
    source = source.model_copy(
        update={"alerting": source.alerting.model_copy(update={"freshness": freshness})}
    )
    found = {d.observation.tenant: d for d in diagnose(warehouse, [source], now)}
    acme = found["acme"]
    assert acme.observation.rows == PUBLISHED
    assert acme.observation.latest_interval_start == START
    assert acme.classification in (Classification.HEALTHY, Classification.TIMING_MISMATCH), acme.reason
    others = [t for t in source.tenants if t != "acme"]
    assert others and all(found[t].classification == Classification.EXTRACTION_PROBLEM for t in others)
    later = {d.observation.tenant: d for d in diagnose(warehouse, [source], now + dt.timedelta(days=2))}
    assert later["acme"].classification == Classification.EXTRACTION_PROBLEM
    same_on_every_backend(
        "freshness",
        {
            t: (d.classification, d.observation.rows, d.observation.latest_business_date)
            for t, d in found.items()
        },
    )


def test_task_failure_callback_payload_is_the_same(published) -> None:
    from types import SimpleNamespace

    source, _, results = published
    outcome = callbacks.task_failed(
        {
            "ti": SimpleNamespace(
                dag_id=source.dag_id, task_id="tenant.publish", map_index=0, try_number=3, max_tries=2
            ),
            "task": SimpleNamespace(tenant="acme", source_name=source.name),
            "run_id": "manual__1",
            "exception": OSError("warehouse connection reset"),
            "data_interval_start": START,
            "data_interval_end": END,
        }
    )
    assert outcome, "the alert was routed"
    (alert,) = [a for a in read_alert_log(alert_log_path()) if a["alert_type"] == "task_failed"]
    counts = alert["counts"]["by_tenant"]["acme"]
    assert counts["published"] == results["publish"]["published"] == PUBLISHED
    assert counts["quarantined"] == results["quarantine"]["quarantined"] == FAILING
    assert counts["extracted"] == len(READER_RECORDS)
    assert alert["tenants"] == ["acme"] and "warehouse connection reset" in alert["what"]


def test_operator_cli_reads_the_same(published, capsys) -> None:
    from salestalk.__main__ import main

    source, warehouse, _ = published
    assert main(["status", "--source", source.name, "--tenant", "acme"]) == 0
    status = capsys.readouterr().out
    assert "interval starting 2026-11-01T00:00:00Z" in status
    assert f"error rate:   {FAILING / len(READER_RECORDS):.4%}" in status
    assert main(["quarantine", "list", "--source", source.name, "--tenant", "acme"]) == 0
    listed = capsys.readouterr().out
    assert "acme       2026-11-01T00:00:00Z      1  cast_to_float(amount)" in listed
    assert (
        listed.strip().splitlines()[-1].startswith(f"{_reason_total(warehouse, source)} quarantine reason(s)")
    )
    assert main(["quarantine", "show", "--source", source.name, "--limit", "3"]) == 0
    shown = capsys.readouterr().out.strip().splitlines()
    assert shown[-1] == "3 row(s) shown (--limit 3)"
    raw = json.loads(shown[1])
    assert raw["deal_id"] and "owner_email" in raw, "the raw record is shown as landed"


def _reason_total(warehouse, source) -> int:
    with warehouse.connect() as s:
        d = s.dialect
        return int(s.fetchall(f"SELECT COUNT(*) FROM {d.table('audit', source.name + '_verdicts')}")[0][0])


def test_the_anomaly_profile_and_history_read_the_same(published) -> None:
    """validate's profile of the batch, and the history the detectors read back, on each backend."""
    import datetime as dt

    from salestalk.names import PUBLISH, VALIDATE
    from salestalk.quality.anomaly import Profile, detect
    from salestalk.warehouse import tables

    source, warehouse, results = published
    profile = results["validate"]["profile"]
    assert profile["rows"] == len(READER_RECORDS)
    assert set(profile["null_rates"]) == set(source.table_schema.column_names)
    assert profile["means"]["amount"] > 0 and results["validate"]["anomalies"] == []
    start = dt.datetime.fromisoformat(START.replace("Z", "+00:00")) if isinstance(START, str) else START
    with warehouse.connect() as s:
        history = tables.tenant_history(
            s,
            source.name,
            "acme",
            start - dt.timedelta(days=1),
            start + dt.timedelta(days=1),
            (VALIDATE, PUBLISH),
        )
    [(interval, steps)] = history.items()
    assert interval == start and set(steps) == {VALIDATE, PUBLISH}
    assert steps[VALIDATE][0]["profile"] == profile
    assert steps[PUBLISH][0]["published"] == PUBLISHED
    # The recorded day, seen from a later day with nothing in it: silent (no history yet), as a detector must be.
    later = Profile(start + dt.timedelta(days=1), 0)
    recorded = Profile(start, profile["rows"], profile["null_rates"], profile["means"], start)
    assert detect(later, [recorded], source.anomalies, now=later.interval_start) == []
    same_on_every_backend("anomaly_profile", profile)
