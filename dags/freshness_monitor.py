"""Freshness monitor: every 30 minutes, classify each source and tenant's curated data and alert.

The logic is in salestalk.freshness (Airflow-free); the decision tree and what to do are in
docs/runbooks/freshness.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable, get_parsing_context, task

from salestalk.assets import curated_asset, restated_asset, summary_asset
from salestalk.dagfactory import monitor_default_args, runbook_url_for
from salestalk.insights import INPUT_SOURCES

DAG_ID = "monitor_freshness"
OWNER = "data-platform"
ONCALL_URL = "https://salestalk.example.com/oncall/data-platform"
RUNBOOK = "docs/runbooks/freshness.md"

DOC_MD = """
# monitor_freshness
Every 30 minutes, per source and tenant: the latest `_loaded_at` and the latest business date of
`curated.<source>`, classified as **healthy**, **source_behind** (fresh load, old business dates),
**timing_mismatch** (the load landed after the downstream job ran) or **extraction_problem** (stale
load). Each unhealthy pair raises one `freshness` alert on the source's routes (sent once per state).

Per tenant and day (`partitions`), from Airflow's asset events (docs/assets.md): **source_not_published**
(an input of the insight summaries has not published that partition), **downstream_not_run** (every input
has, the summary has not run since) or **summarized**.

| | |
|---|---|
| Owner | data-platform |
| On-call | data-platform: #salestalk-data-oncall ([rota]({oncall})) |
| Thresholds | `alerting.freshness` in `include/sources/_defaults.yaml` or the source's file |
| Runbook | [{path}]({runbook}) |
| Command | `PYTHONPATH=plugins .venv/bin/python -m salestalk freshness` |
"""


def build_dag() -> DAG:
    runbook_url = runbook_url_for(RUNBOOK)
    with DAG(
        dag_id=DAG_ID,
        description="Freshness diagnosis per source and tenant, with alerts.",
        schedule=CronDataIntervalTimetable("*/30 * * * *", timezone="UTC"),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=monitor_default_args(OWNER),
        tags=["tier-1"],
        owner_links={OWNER: ONCALL_URL, "runbook": runbook_url},
        doc_md=DOC_MD.format(oncall=ONCALL_URL, path=RUNBOOK, runbook=runbook_url),
    ) as dag:

        @task(task_id="diagnose")
        def diagnose() -> list[dict]:
            from salestalk.freshness import run_monitor

            return run_monitor()

        @task(
            task_id="partitions",
            inlets=[*(curated_asset(s) for s in INPUT_SOURCES), restated_asset(), summary_asset()],
        )
        def partitions(inlet_events=None) -> list[dict]:
            from salestalk.freshness import run_partition_monitor

            return run_partition_monitor(inlet_events)

        diagnose()
        partitions()
    return dag


if get_parsing_context().dag_id in (None, DAG_ID):
    build_dag()
