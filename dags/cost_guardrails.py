"""Cost guardrails: every hour, the month's warehouse spend and projection against the budget; one alert a month.

The logic is in salestalk.cost (Airflow-free); the budget is include/cost.yaml; what to do is
docs/runbooks/cost.md.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable, get_parsing_context, task

from salestalk.dagfactory import monitor_default_args, runbook_url_for

DAG_ID = "cost_guardrails"
OWNER = "data-platform"
ONCALL_URL = "https://salestalk.example.com/oncall/data-platform"
RUNBOOK = "docs/runbooks/cost.md"

DOC_MD = """
# cost_guardrails
Every hour: warehouse credits per day, source and tenant from the query tags (Snowflake
`ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY`; the embedded DuckDB reads a seeded usage table), priced per
credit, summed month to date and projected to month end (month to date + the trailing 7 days' mean daily
spend x days left). When either reaches the alert threshold (80% of the monthly budget) one `cost` alert
goes to the routes, once per month: reruns and retries find the month's row in `audit.cost_alerts`.

| | |
|---|---|
| Owner | data-platform |
| On-call | data-platform: #salestalk-data-oncall ([rota]({oncall})) |
| Budget | `include/cost.yaml` (budget, price per credit, threshold, routes) |
| Runbook | [{path}]({runbook}) |
| Command | `PYTHONPATH=plugins .venv/bin/python -m salestalk cost` |
"""


def build_dag() -> DAG:
    runbook_url = runbook_url_for(RUNBOOK)
    with DAG(
        dag_id=DAG_ID,
        description="Warehouse cost per source and tenant against the monthly budget, alerting once a month.",
        schedule=CronDataIntervalTimetable("17 * * * *", timezone="UTC"),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=monitor_default_args(OWNER),
        tags=["tier-1"],
        owner_links={OWNER: ONCALL_URL, "runbook": runbook_url},
        doc_md=DOC_MD.format(oncall=ONCALL_URL, path=RUNBOOK, runbook=runbook_url),
    ) as dag:

        @task(task_id="check_budget", multiple_outputs=False)
        def check_budget(data_interval_end=None, run_id=None) -> dict:
            from salestalk.cost import run_guardrail

            return run_guardrail(data_interval_end, run_id)

        check_budget()
    return dag


if get_parsing_context().dag_id in (None, DAG_ID):
    build_dag()
