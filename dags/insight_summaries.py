"""App insight summaries: each tenant's daily deal and call metrics, from the warehouse to DynamoDB.

Per tenant (the union of the tenants of every source in include/sources/): compute the summary from
curated.deals and curated.calls (salestalk.insights), then write it with put_if_newer on computedAt, so a
rerun over unchanged data is a no-op and a recompute after late data overwrites. Table design and access
patterns: docs/dynamodb.md.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DAG, CronDataIntervalTimetable, get_parsing_context, task_group

from salestalk.alerting import callbacks as alert_callbacks
from salestalk.config.loader import load_sources
from salestalk.dagfactory import DOCS_BASE_URL
from salestalk.operators.tenant_dynamodb import InsightSummaryOperator, TenantDynamoDBWriteOperator

DAG_ID = "app_insight_summaries"
OWNER = "data-platform"
ONCALL_URL = "https://salestalk.example.com/oncall/data-platform"
RUNBOOK = "docs/dynamodb.md"
ENTITY = "insight_summary"
TTL_DAYS = 400

DOC_MD = f"""
# {DAG_ID}
Daily insight summaries for the app: per tenant, deal and call metrics of the UTC day just closed,
computed from `curated.deals` and `curated.calls` and validated against the `insight-summary` v1 contract,
then written to DynamoDB (`SALESTALK_DYNAMODB_TABLE`, default `salestalk-app`) under
`pk = TENANT#{{tenant}}#{ENTITY}#`, `sk = daily:YYYY-MM-DD`.

| | |
|---|---|
| Owner | {OWNER} |
| On-call | {OWNER}: #salestalk-data-oncall ([rota]({ONCALL_URL})) |
| Schedule | `@daily` (UTC data intervals), catchup off |
| Write mode | `put_if_newer` on `computedAt`: a rerun is a duplicate, a recompute after late data overwrites |
| Failure | any dead-lettered item fails the tenant's `write` task; the message names the S3 prefix |
| Runbook | [{RUNBOOK}]({{runbook}}) ("Dead letters and redrive") |
"""


def build_dag() -> DAG:
    runbook_url = os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL) + RUNBOOK
    tenants = sorted({t for source in load_sources().configs.values() for t in source.tenants})
    with DAG(
        dag_id=DAG_ID,
        description="Daily per-tenant insight summaries, warehouse to the app's DynamoDB table.",
        schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": OWNER,
            "retries": 3,
            "retry_delay": dt.timedelta(seconds=30),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": dt.timedelta(minutes=10),
            "execution_timeout": dt.timedelta(minutes=30),
            "on_failure_callback": alert_callbacks.task_failed,
            "on_retry_callback": alert_callbacks.task_retry,
        },
        tags=["crm", "calls", "tier-2", "demo"],
        owner_links={OWNER: ONCALL_URL, "runbook": runbook_url},
        doc_md=DOC_MD.replace("{runbook}", runbook_url),
    ) as dag:

        @task_group(group_id="tenant")
        def per_tenant(tenant: str) -> None:
            summaries = InsightSummaryOperator(
                task_id="compute", tenant=tenant, map_index_template="{{ task.tenant }}"
            )
            TenantDynamoDBWriteOperator(
                task_id="write",
                tenant=tenant,
                entity=ENTITY,
                items=summaries.output,
                id_field="summaryId",
                mode="put_if_newer",
                version_field="computedAt",
                timestamp_field="computedAt",
                ttl_days=TTL_DAYS,
                map_index_template="{{ task.tenant }}",
            )

        per_tenant.expand(tenant=tenants)
    return dag


# A task process parsing for another DAG skips this file's work (it builds one DAG either way).
if get_parsing_context().dag_id in (None, DAG_ID):
    build_dag()
