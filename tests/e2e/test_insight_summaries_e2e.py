"""app_insight_summaries end to end: deals and calls through real Airflow, then summaries into DynamoDB (moto).

The summary DAG is scheduled by the inputs' partitioned asset events (docs/assets.md). ``dag.test()`` has no
scheduler, so these tests read the events the source runs recorded in the metadata DB, take the partitions
that are ready (every input published, no summary since) as the scheduler would, and run the summary DAG for
each with its ``partition_key`` param; tests/e2e/test_asset_scheduling_real_scheduler.py lets the real
scheduler do it. A manual run for a whole day (the ``day`` param) covers every tenant.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from salestalk.contracts import parse_tenant_event
from salestalk.insights import INPUT_SOURCES, summaries_for_tenants
from salestalk.storage.tenant_dynamodb import (
    GSI_NAME,
    enable_ttl,
    from_attribute_value,
    partition_key,
    payload_hash,
    sdk_attempts_per_call,
    table_definition,
)
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.e2e.seed_oracle import insight_tenants, tenants_of

pytestmark = pytest.mark.e2e

DAY = "2026-11-01"
DAG_ID = "app_insight_summaries"
ENTITY = "insight_summary"
DAY_END = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # the computedAt floor of DAY's summary


@pytest.fixture
def dynamodb(harness, monkeypatch):
    import boto3

    client = boto3.client(
        "dynamodb",
        endpoint_url=harness.stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    table = f"salestalk-app-{uuid.uuid4().hex[:12]}"
    client.create_table(**table_definition(table))
    enable_ttl(client, table)
    monkeypatch.setenv("SALESTALK_DYNAMODB_TABLE", table)
    yield client, table
    client.delete_table(TableName=table)


def query(client, table: str, pk: str, *, index: str | None = None) -> list[dict]:
    key = "gsi1pk" if index else "pk"
    kwargs = {
        "TableName": table,
        "KeyConditionExpression": "#k = :pk",
        "ExpressionAttributeNames": {"#k": key},
        "ExpressionAttributeValues": {":pk": {"S": pk}},
    }
    if index:
        kwargs |= {"IndexName": index, "ScanIndexForward": False}
    else:
        kwargs["ConsistentRead"] = True
    return client.query(**kwargs)["Items"]


def scan(client, table: str) -> list[dict]:
    """Tests only: the pipelines never scan."""
    return client.scan(TableName=table, ConsistentRead=True)["Items"]


def xcom(dag_run, dag_id: str, task_id: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        (row,) = session.execute(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=dag_id, task_ids=task_id, key="return_value"
            ).with_only_columns(XComModel.value)
        ).all()
    return XComModel.deserialize_value(row)


def write_counts(dag_run) -> dict[str, dict]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            XComModel.get_many(
                run_id=dag_run.run_id, dag_ids=DAG_ID, task_ids="tenant.write", key="return_value"
            ).with_only_columns(XComModel.value)
        ).all()
    results = [XComModel.deserialize_value(row) for row in rows]
    return {result["tenant"]: result for result in results}


def run_summaries(harness, **conf):
    dag_run = harness.dags[DAG_ID].test(run_conf=conf)
    failed = [f"{ti.task_id}[{ti.map_index}]" for ti in dag_run.get_task_instances() if ti.state != "success"]
    assert str(dag_run.state) == "success", failed
    return dag_run


def partition_states(since: dt.datetime) -> dict[str, dict]:
    """Each tenant|day's state from the asset events recorded since ``since`` (salestalk.freshness)."""
    from airflow.configuration import conf

    from salestalk.freshness import read_asset_events, summary_asset_names, summary_partition_states

    events = read_asset_events(conf.get("database", "sql_alchemy_conn"), summary_asset_names(), since)
    return {row["partition_key"]: row for row in summary_partition_states(events)}


def test_summaries_land_per_tenant_and_a_rerun_writes_nothing(harness, dynamodb) -> None:
    client, table = dynamodb
    began = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    tenants = insight_tenants()  # every tenant of every source; those of the inputs have data
    with_data = set(tenants_of(INPUT_SOURCES[0])) & set(tenants_of(INPUT_SOURCES[1]))
    assert with_data
    for number, source in enumerate(INPUT_SOURCES):  # the curated tables the summaries read
        outcome = harness.run(source, DAY)
        assert outcome.state == "success", (source, outcome.failed_tasks)
        states = partition_states(began)
        ready = {k for k, row in states.items() if row["state"] == "downstream_not_run"}
        if number < len(INPUT_SOURCES) - 1:  # a summary never runs before every input has published
            assert ready == set(), states
    # Every input published each tenant's day: exactly those partitions are ready for the summary.
    assert ready == {f"{t}|{DAY}" for t in with_data}, states

    first_run = run_summaries(harness, day=DAY)  # a manual run for the whole day: every tenant
    labels = {ti.rendered_map_index for ti in first_run.get_task_instances() if ti.map_index >= 0}
    assert labels == set(tenants)

    items = scan(client, table)
    assert len(items) == len(tenants)
    assert sorted(item["pk"]["S"] for item in items) == sorted(partition_key(t, ENTITY) for t in tenants)

    day = dt.date.fromisoformat(DAY)
    expected = summaries_for_tenants(DuckDBWarehouse(harness.duckdb_path), tenants, day, day, DAY_END)
    stored = {}
    for tenant in tenants:
        pk = f"TENANT#{tenant}#insight_summary#"
        (record,) = query(client, table, pk)
        (latest,) = query(client, table, pk, index=GSI_NAME)
        assert latest == record
        assert record["sk"]["S"] == "daily:2026-11-01"
        summary = from_attribute_value(record["data"])
        assert summary == expected[tenant][0]
        assert summary["tenantId"] == tenant
        assert record["payload_hash"]["S"] == payload_hash(summary)
        assert record["item_version"] == {"S": summary["computedAt"]} == record["gsi1sk"]
        event = parse_tenant_event(json.dumps(summary), "insight-summary", tenant)
        assert event.accepted, event.quarantine_reason
        if tenant in with_data:
            assert summary["metrics"]["deals_updated"] > 0 and summary["metrics"]["calls"] > 0
        stored[tenant] = record
    # Different tenants, different data: no summary is another's copy.
    assert len({json.dumps(r["data"], sort_keys=True) for r in stored.values()}) == len(tenants)
    assert write_counts(first_run) == {
        t: {
            "tenant": t,
            "entity": ENTITY,
            "table": table,
            "attempted": 1,
            "written": 1,
            "blocked": 0,
            "duplicate": 0,
            "stale": 0,
            "conflict": 0,
            "dead_lettered": 0,
            "offloaded": 0,
        }
        for t in tenants
    }

    # Each summary recorded its own asset event: no partition is waiting any more.
    assert {k: row["state"] for k, row in partition_states(began).items()} == {
        f"{t}|{DAY}": "summarized" for t in with_data
    }
    # The freshness monitor's partitions task reads the same events through its inlets (the Task SDK).
    monitor = harness.dags["monitor_freshness"].test()
    seen = {row["partition_key"]: row["state"] for row in xcom(monitor, "monitor_freshness", "partitions")}
    assert {k: seen.get(k) for k in ready} == dict.fromkeys(ready, "summarized")

    # The runs the scheduler would make, one per ready partition, compute the same items: duplicates.
    counts = {}
    for key in sorted(ready):
        rerun = run_summaries(harness, partition_key=key)
        labels = {ti.rendered_map_index for ti in rerun.get_task_instances() if ti.map_index >= 0}
        assert labels == {key.split("|")[0]}, "a partition's run computes its tenant only"
        counts |= write_counts(rerun)
    counts |= write_counts(run_summaries(harness, day=DAY, tenants=sorted(set(tenants) - with_data)))
    assert {t: (c["written"], c["duplicate"], c["dead_lettered"]) for t, c in counts.items()} == {
        t: (0, 1, 0) for t in tenants
    }
    after = {item["pk"]["S"]: item for item in scan(client, table)}
    assert after == {r["pk"]["S"]: r for r in stored.values()}, "a rerun must leave every item as it was"
    assert [key for key in harness.objects("tenants/") if "/dead_letter/" in key] == []


def test_a_conflicting_item_is_dead_lettered_and_fails_the_task(harness, dynamodb) -> None:
    """Same version, other content: the operator files a dead letter and fails with where it is."""
    from airflow.sdk.exceptions import AirflowFailException

    from salestalk.operators.tenant_dynamodb import TenantDynamoDBWriteOperator

    client, table = dynamodb
    item = {
        "tenantId": "acme",
        "summaryId": "daily:2026-11-01",
        "period": {"start": "2026-11-01", "end": "2026-11-01"},
        "metrics": {"calls": 1},
        "topIntents": [],
        "references": ["warehouse://curated/calls?tenant=acme"],
        "computedAt": "2026-11-02T00:00:00Z",
    }
    pushed = {}

    class TaskInstance:
        def xcom_push(self, key, value):
            pushed[key] = value

    def operator(items, tenant="acme"):
        return TenantDynamoDBWriteOperator(
            task_id="write",
            tenant=tenant,
            entity=ENTITY,
            items=items,
            id_field="summaryId",
            mode="put_if_newer",
            version_field="computedAt",
            timestamp_field="computedAt",
            ttl_days=30,
        )

    first = operator([item]).execute({"ti": TaskInstance()})
    assert (first["written"], first["table"]) == (1, table)

    conflicting = {**item, "metrics": {"calls": 2}}
    foreign = {**item, "tenantId": "globex", "summaryId": "daily:2026-11-02"}
    with pytest.raises(AirflowFailException) as failure:
        operator([conflicting, foreign]).execute({"ti": TaskInstance()})
    message = str(failure.value)
    assert "tenant acme" in message and "'conflict': 1" in message and "'blocked': 1" in message
    assert f"s3://{harness.bucket}/tenants/acme/dead_letter/{ENTITY}/" in message
    assert pushed["counts"]["dead_lettered"] == 1 and pushed["counts"]["blocked"] == 1

    letters = harness.objects(f"tenants/acme/dead_letter/{ENTITY}/")
    assert len(letters) == 2, "the conflict and the blocked cross-tenant item are both filed under acme"
    assert harness.objects("tenants/globex/dead_letter/") == {}
    (record,) = query(client, table, partition_key("acme", ENTITY))
    assert from_attribute_value(record["data"]) == item, "a conflict never overwrites"
    assert query(client, table, partition_key("globex", ENTITY)) == []


def test_the_writer_client_is_low_level_with_botocore_retries_off(harness, dynamodb) -> None:
    from salestalk.operators.tenant_dynamodb import dynamodb_client

    _, table = dynamodb
    client = dynamodb_client("aws_default")
    assert sdk_attempts_per_call(client) == 1
    assert client.meta.endpoint_url == harness.stack.moto_url
    # Attribute values go through as they are (a resource's client would turn {"S": ...} into a map).
    client.put_item(TableName=table, Item={"pk": {"S": "TENANT#acme#probe#"}, "sk": {"S": "1"}})
