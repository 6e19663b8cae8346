"""The cost_guardrails DAG under real Airflow (``dag.test()``) on the embedded DuckDB: a month whose spend
crosses 80% of the budget alerts once; the next hour's run finds the month's alert and sends nothing.
The both-backends cases of the logic are in tests/unit/alerting/test_cost.py."""

from __future__ import annotations

import datetime as dt

import pytest

from dev.cost_seed import create_usage_table, insert_usage, pipeline_tag, usage_row
from salestalk.alerting.routes import read_alert_log
from tests.support.sources import configs

DAG_ID = "cost_guardrails"
END = dt.datetime(2026, 11, 20, 12, 17, tzinfo=dt.UTC)


@pytest.fixture
def seeded(tmp_path, monkeypatch):
    from salestalk.config.cost import load_cost_config
    from salestalk.warehouse import open_warehouse

    monkeypatch.setenv("SALESTALK_WAREHOUSE", "duckdb")
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("SALESTALK_ALERT_DIR", str(tmp_path / "alerts"))
    config_file = tmp_path / "cost.yaml"
    config_file.write_text("budget_usd: 500\nprice_per_credit_usd: 2\nalert_threshold: 0.8\n")
    monkeypatch.setenv("SALESTALK_COST_CONFIG", str(config_file))
    config = load_cost_config()
    source, c = sorted(configs().items())[0]
    tenant = sorted(c.tenants)[0]
    warehouse = open_warehouse()
    create_usage_table(warehouse, config)
    rows = [
        usage_row(
            query_id=f"q{day}",
            start_time=dt.datetime(2026, 11, day, 3, tzinfo=dt.UTC),
            credits=10.0,  # $20 a day: $400 (80%) by the 20th
            tag=pipeline_tag(source, tenant, "publish"),
        )
        for day in range(1, 21)
    ]
    insert_usage(warehouse, rows, config)
    return tmp_path / "alerts" / "alerts.jsonl", source, tenant


def test_the_guardrail_dag_alerts_once_a_month(seeded) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from dev.localairflow import ensure_metadata_db
    from salestalk import REPO_ROOT

    ensure_metadata_db()

    log, source, tenant = seeded
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "cost_guardrails.py")).dags[DAG_ID]
    first = dag.test(logical_date=END)
    assert first.state == "success"
    [ti] = first.get_task_instances()
    assert ti.state == "success"
    alerts = [a for a in read_alert_log(log) if a["alert_type"] == "cost"]
    assert len(alerts) == 1
    assert alerts[0]["counts"]["spent_usd"] == 400.0 and alerts[0]["counts"]["top"][0]["tenant"] == tenant
    second = dag.test(logical_date=END + dt.timedelta(hours=1))
    assert second.state == "success"
    assert len([a for a in read_alert_log(log) if a["alert_type"] == "cost"]) == 1
