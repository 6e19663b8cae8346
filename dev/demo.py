"""``make demo``: run every demo source end to end with real Airflow (``dag.test()``) on the embedded defaults."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salestalk import REPO_ROOT
from salestalk.settings import LOCAL_DIR

if TYPE_CHECKING:
    from dev.embedded import EmbeddedStack

DEMO_DAYS = ("2026-11-01", "2026-11-02")
INSIGHTS_DAG_ID = "app_insight_summaries"
EXTRACTION_DELAY = dt.timedelta(minutes=5)


@dataclass
class RunOutcome:
    dag_id: str
    day: str
    state: str
    seconds: float
    failed_tasks: list[str]
    map_labels: set[str]


def prepare(stack: EmbeddedStack, bucket: str, days: tuple[str, ...] = DEMO_DAYS) -> dict[str, Any]:
    """Create the bucket, drop the tenants' inbound files, and make sure the metadata DB exists.

    Returns the sources the demo runs: those whose data the embedded stack serves (``demo_resource``).
    """
    from dev.embedded import (
        apply_env,
        demo_resource,
        ensure_bucket,
        ensure_dynamodb_table,
        seed_inbound_files,
    )
    from dev.localairflow import ensure_metadata_db
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings

    apply_env(stack.connection_env())
    client = stack.s3_client()
    ensure_bucket(client, bucket)
    ensure_dynamodb_table(stack.dynamodb_client(), get_settings().dynamodb_table)
    demo: dict[str, Any] = {}
    for name, source in sorted(load_sources().configs.items()):
        if demo_resource(source) is None:
            print(
                f"skipping source_{name}: the embedded stack serves no demo data for it (see dev/embedded.py)"
            )
            continue
        demo[name] = source
        seed_inbound_files(client, bucket, source, list(days))
    ensure_metadata_db()
    return demo


def run_source_day(dag, stack: EmbeddedStack, day: str) -> RunOutcome:
    """Run the daily interval that starts on ``day``, as the scheduler would just after it closes.

    A manual run's data interval is the one that ends at its logical date, hence ``day + 1``.
    """
    end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    stack.api_server.api.set_clock(end + EXTRACTION_DELAY)
    began = time.monotonic()
    dag_run = dag.test(logical_date=end)
    instances = dag_run.get_task_instances()
    failed = [f"{ti.task_id}[{ti.map_index}]" for ti in instances if ti.state == "failed"]
    labels = {ti.rendered_map_index for ti in instances if ti.map_index >= 0}
    return RunOutcome(dag.dag_id, day, str(dag_run.state), time.monotonic() - began, failed, labels)


def ready_partitions(since: dt.datetime) -> list[dict[str, Any]]:
    """The insight-summary partitions whose inputs all published since ``since`` and that have not been
    summarised since: what the scheduler would run now (read from the asset events in the metadata DB)."""
    from airflow.configuration import conf

    from salestalk.freshness import (
        PartitionState,
        read_asset_events,
        summary_asset_names,
        summary_partition_states,
    )

    events = read_asset_events(conf.get("database", "sql_alchemy_conn"), summary_asset_names(), since)
    rows = summary_partition_states(events)
    return [r for r in rows if r["state"] == PartitionState.DOWNSTREAM_NOT_RUN]


def run_summary_partition(dag, key: str) -> RunOutcome:
    """The summary run the scheduler makes for one partition (``dag.test()`` takes it as a param)."""
    began = time.monotonic()
    dag_run = dag.test(run_conf={"partition_key": key})
    instances = dag_run.get_task_instances()
    failed = [f"{ti.task_id}[{ti.map_index}]" for ti in instances if ti.state == "failed"]
    labels = {ti.rendered_map_index for ti in instances if ti.map_index >= 0}
    return RunOutcome(dag.dag_id, key, str(dag_run.state), time.monotonic() - began, failed, labels)


def load_dags() -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def s3_overview(client, bucket: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            parts = item["Key"].split("/")
            prefix = "/".join(["tenants", "*", parts[2], parts[3], ""]) if len(parts) > 4 else item["Key"]
            counts[prefix] = counts.get(prefix, 0) + 1
    return dict(sorted(counts.items()))


def print_insight_items(stack: EmbeddedStack, table: str, tenants: list[str]) -> None:
    """Each tenant's app items, read with a Query on that tenant's own partition key only."""
    from salestalk.storage.tenant_dynamodb import from_attribute_value, partition_key

    print(f"\n== Insight summaries in DynamoDB table {table} (moto), one Query per tenant ==")
    client = stack.dynamodb_client()
    for tenant in tenants:
        items = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": partition_key(tenant, "insight_summary")}},
            ConsistentRead=True,
        )["Items"]
        for item in items:
            summary = from_attribute_value(item["data"])
            assert summary["tenantId"] == tenant, "a tenant's query returned another tenant's item"
            metrics = summary["metrics"]
            print(
                f"{tenant:<10} {summary['summaryId']:<18} computedAt {summary['computedAt']}  "
                f"deals_updated {metrics['deals_updated']:>4}  calls {metrics['calls']:>4}  "
                f"open_deals {metrics['open_deals']:>4}"
            )


def run_demo() -> int:
    import warnings

    from dev.localairflow import configure

    warnings.filterwarnings("ignore", category=DeprecationWarning)

    configure(LOCAL_DIR / "airflow-demo")
    from dev.cost_seed import seed_demo_usage
    from dev.embedded import start_embedded
    from salestalk.accounting import batch_summaries, format_table
    from salestalk.settings import get_settings
    from salestalk.warehouse import open_warehouse
    from salestalk.warehouse.tables import row_counts

    settings = get_settings()
    from salestalk.alerting.routes import alert_dir, alert_log_path, read_alert_log

    settings.duckdb_path.unlink(missing_ok=True)
    shutil.rmtree(settings.data_docs_dir, ignore_errors=True)
    shutil.rmtree(alert_dir(), ignore_errors=True)
    print("starting moto and the fake source API on loopback ...", flush=True)
    stack = start_embedded()
    outcomes: list[RunOutcome] = []
    try:
        configs = prepare(stack, settings.bucket)
        dags = load_dags()
        began = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        for day in DEMO_DAYS:
            for name in sorted(configs):
                print(f"running source_{name} for {day} ...", flush=True)
                outcomes.append(run_source_day(dags[configs[name].dag_id], stack, day))
            # Scheduled by the inputs' asset events: one run per tenant and day every input has published.
            for ready in ready_partitions(began):
                why = (
                    "recompute: an input changed it after its summary (late data)"
                    if ready["summarized_at"]
                    else f"published by {', '.join(ready['published'])}"
                )
                print(
                    f"running app_insight_summaries for partition {ready['partition_key']} ({why}) ...",
                    flush=True,
                )
                outcomes.append(run_summary_partition(dags[INSIGHTS_DAG_ID], ready["partition_key"]))
        warehouse = open_warehouse(settings)
        print("\n== Runs ==")
        for o in outcomes:
            failed = f"  failed: {', '.join(o.failed_tasks)}" if o.failed_tasks else ""
            print(f"{o.dag_id:<24} {o.day:<18} {o.state:<8} {o.seconds:6.1f}s{failed}")
        print("\n== Rows per source, interval and tenant (extracted = passed + quarantined + duplicates) ==")
        summaries = [
            {"source": name, "interval": day, **summary}
            for day in DEMO_DAYS
            for name in sorted(configs)
            for summary in batch_summaries(warehouse, configs[name], f"{day}T00:00:00Z")
        ]
        print(format_table(summaries, leading=("source", "interval", "tenant")))
        print("\n== Warehouse tables ==")
        for name, count in row_counts(warehouse):
            print(f"{name:<28} {count:>7} rows")
        print(f"\n== S3 objects in s3://{settings.bucket} (moto) ==")
        for prefix, count in s3_overview(stack.s3_client(), settings.bucket).items():
            print(f"{prefix:<48} {count:>5} objects")
        print_insight_items(
            stack, settings.dynamodb_table, sorted({t for c in configs.values() for t in c.tenants or []})
        )
        print(f"\nWarehouse:        {warehouse.location}")
        print(f"Cost:             {seed_demo_usage(warehouse)}")
        docs = settings.data_docs_dir / "index.html"
        print(f"GX Data Docs:     {docs if docs.exists() else '(not built)'}")
        alerts = read_alert_log()
        print(f"Alerts:           {len(alerts)} in {alert_log_path()} (python -m salestalk alerts)")
    finally:
        stack.stop()
        print("stopped moto and the fake source API")
    ok = all(o.state == "success" for o in outcomes)
    print("demo finished: all runs succeeded" if ok else "demo finished: some runs FAILED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(run_demo())
