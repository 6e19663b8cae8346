"""App insight summaries: each tenant's daily deal and call metrics, from the warehouse to DynamoDB.

Scheduled by the inputs' asset events (docs/assets.md): one run per tenant and day, once every input source
(salestalk.insights.INPUT_SOURCES) has published that partition, and again when one of them changes it
later. The run computes that tenant's summary for that day (salestalk.insights) and writes it with
put_if_newer on computedAt, so a rerun over unchanged data is a no-op and a recompute after late data
overwrites. A manual run names its partition in its params. Table design and access patterns: docs/dynamodb.md.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import (
    DAG,
    IdentityMapper,
    Param,
    PartitionedAssetTimetable,
    ProductMapper,
    StartOfDayMapper,
    get_parsing_context,
    task,
    task_group,
)

from salestalk.alerting import callbacks as alert_callbacks
from salestalk.assets import (
    DAY_PARAM,
    DELIMITER,
    PARTITION_PARAM,
    TENANTS_PARAM,
    curated_asset,
    emit_summary_event,
    restated_asset,
    summary_asset,
)
from salestalk.config.loader import load_sources
from salestalk.dagfactory import DOCS_BASE_URL
from salestalk.insights import INPUT_SOURCES
from salestalk.operators.tenant_dynamodb import InsightSummaryOperator, TenantDynamoDBWriteOperator

DAG_ID = "app_insight_summaries"
OWNER = "data-platform"
ONCALL_URL = "https://salestalk.example.com/oncall/data-platform"
RUNBOOK = "docs/dynamodb.md"
ENTITY = "insight_summary"
TTL_DAYS = 400

DOC_MD = f"""
# {DAG_ID}
Daily insight summaries for the app: per tenant, deal and call metrics of one UTC day,
computed from `curated.deals` and `curated.calls` and validated against the `insight-summary` v1 contract,
then written to DynamoDB (`SALESTALK_DYNAMODB_TABLE`, default `salestalk-app`) under
`pk = TENANT#{{tenant}}#{ENTITY}#`, `sk = daily:YYYY-MM-DD`.

**Scheduled by assets** ([docs/assets.md]({{assets}})): a run per partition `tenant|YYYY-MM-DD` once every
input's publish (`salestalk.curated.deals` and `salestalk.curated.calls`) has emitted it, and again when a
later publish restates it (`salestalk.insight_summary.inputs_restated`: late data recomputes that day
only). **Manual recompute:** Trigger DAG with `partition_key` = `acme|2026-11-01`, or `day` (and `tenants`).

| | |
|---|---|
| Owner | {OWNER} |
| On-call | {OWNER}: #salestalk-data-oncall ([rota]({ONCALL_URL})) |
| Schedule | partitioned assets: `(curated.deals & curated.calls) \\| inputs_restated`, key `tenant\\|day` |
| Write mode | `put_if_newer` on `computedAt`: a rerun is a duplicate, a recompute after late data overwrites |
| Failure | any dead-lettered item fails the tenant's `write` task; the message names the S3 prefix |
| Runbook | [{RUNBOOK}]({{runbook}}) ("Dead letters and redrive") |
"""


def build_dag() -> DAG:
    base = os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL)
    runbook_url = base + RUNBOOK
    configs = list(load_sources().configs.values())
    # Parse time never asks the tenant registry: pinned tenants only; registry ones are checked at run time.
    tenants = sorted({t for source in configs for t in source.tenants or []})
    registry_sources = sorted(s.name for s in configs if s.tenants is None)
    inputs = [curated_asset(name) for name in INPUT_SOURCES]
    all_inputs = inputs[0]
    for asset in inputs[1:]:
        all_inputs = all_inputs & asset
    with DAG(
        dag_id=DAG_ID,
        description="Per-tenant, per-day insight summaries, warehouse to the app's DynamoDB table.",
        # Every input's key is tenant|YYYY-MM-DD: the tenant as is, the day as the start of that UTC day
        # (which also gives the run its partition_date).
        schedule=PartitionedAssetTimetable(
            assets=all_inputs | restated_asset(),
            default_partition_mapper=ProductMapper(
                IdentityMapper(), StartOfDayMapper(input_format="%Y-%m-%d"), delimiter=DELIMITER
            ),
        ),
        start_date=dt.datetime(2026, 10, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        params={
            PARTITION_PARAM: Param(
                None,
                type=["null", "string"],
                description="Manual runs: the partition to (re)compute, tenant|YYYY-MM-DD.",
            ),
            DAY_PARAM: Param(
                None,
                type=["null", "string"],
                description="Manual runs without partition_key: the UTC day (YYYY-MM-DD) for the tenants below.",
            ),
            TENANTS_PARAM: Param(
                [] if registry_sources else tenants,
                type="array",
                items={"type": "string"} if registry_sources else {"type": "string", "enum": tenants},
                description="Manual runs with day: the tenants (default: all; registry tenants checked at run time).",
            ),
        },
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
        doc_md=DOC_MD.replace("{runbook}", runbook_url).replace("{assets}", base + "docs/assets.md"),
    ) as dag:

        @task(task_id="partition")
        def partition(dag_run=None, params=None) -> list[str]:
            """The tenants this run computes: its partition's, or its params'."""
            import logging

            from salestalk.assets import summary_target
            from salestalk.config.loader import load_sources
            from salestalk.tenant_registry import all_tenants

            known = all_tenants(load_sources().configs.values()) if registry_sources else tenants
            chosen, day = summary_target(
                getattr(dag_run, "partition_key", None),
                params,
                known,
                getattr(dag_run, "logical_date", None),
            )
            logging.getLogger(__name__).info("summary of %s for tenant(s) %s", day, ", ".join(chosen))
            return chosen

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
                outlets=[summary_asset()],
                post_execute=emit_summary_event,
            )

        per_tenant.expand(tenant=partition())
    return dag


# A task process parsing for another DAG skips this file's work (it builds one DAG either way).
if get_parsing_context().dag_id in (None, DAG_ID):
    build_dag()
