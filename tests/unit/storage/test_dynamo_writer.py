"""TenantDynamoWriter against moto over HTTP: keys, conditional writes, batches, size, TTL, tenancy."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time

import pytest

from salestalk.storage.tenant_dynamodb import (
    WRITER_CLIENT_CONFIG,
    TenantDynamoWriter,
    build_item_key,
    enable_ttl,
    partition_key,
    payload_hash,
)
from salestalk.tenancy import InvalidTenantId
from tests.support.aws_faults import FaultInjector, RequestRecorder, error_response, first, on_calls
from tests.support.dynamo_env import assert_counts_add_up, deal
from tests.support.moto import make_client

DAY = 86_400


def ids(items: list[dict]) -> list[str]:
    return [item["dealId"] for item in items]


# ---- table and keys -------------------------------------------------------------------------------


def test_table_has_the_gsi_on_demand_billing_and_ttl(env) -> None:
    table = env.dynamodb.describe_table(TableName=env.table)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["gsi1"]
    enable_ttl(env.dynamodb, env.table)  # a second call is a no-op, not an error
    ttl = env.dynamodb.describe_time_to_live(TableName=env.table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")


def test_keys_come_from_one_builder_and_are_terminated() -> None:
    assert build_item_key("t1", "deals", "deal-1") == {"pk": "TENANT#t1#deals#", "sk": "deal-1"}
    assert build_item_key("t1", "deals", 42) == {"pk": "TENANT#t1#deals#", "sk": "42"}
    assert not partition_key("t10", "deals").startswith(partition_key("t1", "deals"))
    assert not partition_key("t1", "deals_x").startswith(partition_key("t1", "deals"))


def test_the_tenant_is_validated_before_anything_else(env) -> None:
    recorder = RequestRecorder(env.dynamodb).attach()
    with pytest.raises(InvalidTenantId):
        env.writer("T1", dead_letter=env.dead_letters("t1"))
    assert recorder.count() == 0


def test_stores_of_another_tenant_are_refused(env) -> None:
    with pytest.raises(ValueError, match="belongs to tenant 't2'"):
        env.writer("t1", dead_letter=env.dead_letters("t2"))
    with pytest.raises(ValueError, match="belongs to tenant 't2'"):
        env.writer("t1", oversize="offload", offload=env.tenant_s3("t2"))


# ---- put_once ---------------------------------------------------------------------------------------


def test_put_once_writes_and_a_rerun_is_all_duplicates(env) -> None:
    writer = env.writer()
    items = [deal(n) for n in range(30)]

    first = writer.put_once(items, "dealId")
    second = writer.put_once(items, "dealId")

    assert first.as_dict() == {
        "attempted": 30,
        "blocked": 0,
        "written": 30,
        "duplicate": 0,
        "stale": 0,
        "conflict": 0,
        "dead_lettered": 0,
        "offloaded": 0,
    }
    assert (second.written, second.duplicate) == (0, 30)
    assert sorted(writer.query("deals"), key=lambda d: d["dealId"]) == items
    env.assert_holds_exactly("t1", "deals", ids(items), others=["t2", "t10"])


def test_put_once_with_changed_content_is_a_conflict_sent_to_dead_letter(env) -> None:
    writer = env.writer()
    original, changed = deal(1), deal(1, amount=1)
    writer.put_once([original], "dealId")

    counts = writer.put_once([changed], "dealId")

    assert (counts.conflict, counts.dead_lettered, counts.written) == (1, 1, 0)
    assert writer.query("deals") == [original]
    (record,) = writer.dead_letter.records("deals")
    assert record.reason == "conflict"
    assert record.details == {"existing_hash": payload_hash(original), "incoming_hash": payload_hash(changed)}
    assert record.key == {"pk": "TENANT#t1#deals#", "sk": "deal-0001"}


# ---- put_if_newer -----------------------------------------------------------------------------------


def test_put_if_newer_classifies_newer_equal_older_and_conflicting(env) -> None:
    writer = env.writer()
    writer.put_if_newer([deal(1, version=5)], "dealId", "version")

    newer = writer.put_if_newer([deal(1, version=6)], "dealId", "version")
    same = writer.put_if_newer([deal(1, version=6)], "dealId", "version")
    older = writer.put_if_newer([deal(1, version=4)], "dealId", "version")
    clash = writer.put_if_newer([deal(1, version=6, stage="lost")], "dealId", "version")

    assert newer.written == 1
    assert same.duplicate == 1
    assert (older.stale, older.dead_lettered) == (1, 0)
    assert (clash.conflict, clash.dead_lettered) == (1, 1)
    assert writer.query("deals") == [deal(1, version=6)]
    assert [r.reason for r in writer.dead_letter.records("deals")] == ["conflict"]


def test_out_of_order_events_never_overwrite_a_newer_version(env) -> None:
    writer = env.writer()
    events = [deal(n % 3, version=v, note=f"v{v}") for n in range(3) for v in range(1, 11)]
    random.Random(3).shuffle(events)

    counts = writer.put_if_newer(events, "dealId", "version")

    assert_counts_add_up(counts)
    assert counts.written + counts.stale == 30 and counts.dead_lettered == 0
    assert {d["dealId"]: d["version"] for d in writer.query("deals")} == {
        "deal-0000": 10,
        "deal-0001": 10,
        "deal-0002": 10,
    }


def test_string_versions_compare_as_timestamps(env) -> None:
    writer = env.writer()
    writer.put_if_newer([deal(1, updatedAt="2025-03-02T10:00:00Z")], "dealId", "updatedAt")

    late = writer.put_if_newer([deal(1, updatedAt="2025-03-01T10:00:00Z")], "dealId", "updatedAt")

    assert late.stale == 1
    assert writer.query("deals")[0]["updatedAt"] == "2025-03-02T10:00:00Z"


# ---- batch_put --------------------------------------------------------------------------------------


def test_batches_never_exceed_25_items(env) -> None:
    writer = env.writer()
    recorder = RequestRecorder(env.dynamodb).attach()

    counts = writer.batch_put([deal(n) for n in range(130)], "dealId")

    assert recorder.batch_sizes() == [25, 25, 25, 25, 25, 5]
    assert counts.written == 130
    env.assert_holds_exactly("t1", "deals", [f"deal-{n:04d}" for n in range(130)])


def test_duplicate_keys_in_one_call_are_removed_keeping_the_last(env) -> None:
    writer = env.writer()
    recorder = RequestRecorder(env.dynamodb).attach()
    items = [deal(1, stage="new"), deal(2), deal(1, stage="won"), deal(1, stage="lost")]

    counts = writer.batch_put(items, "dealId")

    assert (counts.attempted, counts.written, counts.duplicate) == (4, 2, 2)
    assert recorder.batch_sizes() == [2]
    assert {d["dealId"]: d["stage"] for d in writer.query("deals")} == {
        "deal-0001": "lost",
        "deal-0002": "won",
    }


# ---- size -------------------------------------------------------------------------------------------


def test_oversize_items_are_offloaded_to_s3_behind_a_pointer(env) -> None:
    writer = env.writer(oversize="offload", offload=env.tenant_s3("t1"))
    big = deal(1, notes="x" * 360_000)
    small = deal(2)

    counts = writer.put_once([big, small], "dealId")
    again = writer.put_once([big], "dealId")

    assert (counts.written, counts.offloaded, again.duplicate) == (2, 1, 1)
    digest = hashlib.sha256(json.dumps(big, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    offload_key = f"tenants/t1/offload/deals/{digest}.json"
    assert offload_key in env.object_keys()
    pointer = env.dynamodb.get_item(
        TableName=env.table, Key={"pk": {"S": "TENANT#t1#deals#"}, "sk": {"S": "deal-0001"}}
    )
    assert pointer["Item"]["offload_key"] == {"S": offload_key}
    assert "data" not in pointer["Item"] and int(pointer["Item"]["item_size"]["N"]) > 350_000
    assert sorted(writer.query("deals"), key=lambda d: d["dealId"]) == [big, small]


def test_oversize_items_are_rejected_to_dead_letter_with_their_size(env) -> None:
    writer = env.writer(max_item_bytes=2_000)

    counts = writer.put_once([deal(1, notes="x" * 5_000), deal(2)], "dealId")

    assert (counts.written, counts.dead_lettered) == (1, 1)
    (record,) = writer.dead_letter.records("deals")
    assert record.reason == "too_large"
    assert record.details["size"] > 5_000 and record.details["max_item_bytes"] == 2_000
    env.assert_holds_exactly("t1", "deals", ["deal-0002"])


# ---- TTL and reads ----------------------------------------------------------------------------------


def test_reads_filter_out_expired_items_that_moto_keeps(env) -> None:
    now = time.time()
    past = env.writer(ttl_days=1, clock=lambda: now - 3 * DAY, timestamp_field="computedAt")
    present = env.writer(ttl_days=1, clock=lambda: now, timestamp_field="computedAt")
    past.batch_put([deal(1, computedAt="2025-01-01T00:00:00Z")], "dealId")
    present.batch_put([deal(2, computedAt="2024-01-01T00:00:00Z")], "dealId")

    assert len(env.scan()) == 2  # expired, still stored
    assert ids(present.query("deals")) == ["deal-0002"]
    assert ids(present.latest("deals", 5)) == ["deal-0002"]


def test_latest_reads_the_gsi_newest_first_and_never_scans(env) -> None:
    writer = env.writer(timestamp_field="computedAt")
    items = [deal(n, computedAt=f"2025-02-{n + 1:02d}T08:00:00Z") for n in range(12)]
    writer.put_once([*items, deal(99)], "dealId")  # deal 99 has no timestamp: not in the index
    recorder = RequestRecorder(env.dynamodb).attach()

    latest = writer.latest("deals", 3)
    everything = writer.query("deals")

    assert ids(latest) == ["deal-0011", "deal-0010", "deal-0009"]
    assert len(everything) == 13
    assert set(recorder.operations()) == {"Query"}
    assert recorder.sent[0].body["IndexName"] == "gsi1"


# ---- tenancy ----------------------------------------------------------------------------------------


def test_cross_tenant_payloads_are_blocked_counted_and_filed_under_the_writers_tenant(env) -> None:
    writer = env.writer("t1")
    items = [deal(1, "t1"), deal(2, "t2"), deal(3, "t10"), {"dealId": "deal-0004", "amount": 4}]

    counts = writer.batch_put(items, "dealId")

    assert (counts.attempted, counts.blocked, counts.written, counts.dead_lettered) == (4, 2, 2, 0)
    env.assert_holds_exactly("t1", "deals", ["deal-0001", "deal-0004"], others=["t2", "t10"])
    records = writer.dead_letter.records("deals")
    assert sorted(r.key["sk"] for r in records) == ["deal-0002", "deal-0003"]
    assert {r.reason for r in records} == {"cross_tenant"}
    assert all(key.startswith("tenants/t1/") for key in env.object_keys())
    assert env.dead_letters("t2").records("deals") == []


def test_t1_and_t10_never_see_each_other(env) -> None:
    t1, t10 = env.writer("t1"), env.writer("t10")
    t1.batch_put([deal(n, "t1") for n in range(3)], "dealId")
    t10.batch_put([deal(n, "t10") for n in range(5)], "dealId")

    assert {d["tenantId"] for d in t1.query("deals")} == {"t1"}
    assert len(t1.query("deals")) == 3 and len(t10.query("deals")) == 5
    # Test-only scans: an unterminated prefix would leak t10 into t1; the terminated pk does not.
    leaky = env.dynamodb.scan(
        TableName=env.table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "TENANT#t1"}},
    )
    safe = env.dynamodb.scan(
        TableName=env.table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "TENANT#t1#"}},
    )
    assert leaky["Count"] == 8 and safe["Count"] == 3


def test_invalid_item_ids_are_dead_lettered_without_a_dynamodb_request(env) -> None:
    writer = env.writer()
    recorder = RequestRecorder(env.dynamodb).attach()
    bad = [{"dealId": ""}, {"dealId": "a\nb"}, {"dealId": "x" * 513}, {"dealId": "cafe\u0301"}, {"other": 1}]

    counts = writer.put_once(bad, "dealId")

    assert (counts.attempted, counts.dead_lettered) == (5, 5)
    assert recorder.count() == 0
    records = writer.dead_letter.records("deals")
    assert {r.reason for r in records} == {"invalid_key"}
    assert all("a\nb" not in str(r.details) and "xxxx" not in str(r.details) for r in records)


@pytest.mark.parametrize("method", ["put_once", "put_if_newer", "batch_put"])
def test_an_unrepresentable_value_dead_letters_that_item_by_id_and_field_and_the_rest_are_written(
    env, caplog, method
) -> None:
    writer = env.writer()
    caplog.set_level(logging.WARNING, logger="salestalk")
    items = [
        deal(1),
        deal(2, score=float("nan")),
        deal(3, history=[{"at": dt.datetime(2025, 1, 1)}]),
        deal(4, amount=1e200),
        deal(5),
    ]
    args = ("dealId", "version") if method == "put_if_newer" else ("dealId",)
    items = [{**item, "version": 1} for item in items] if method == "put_if_newer" else items

    counts = getattr(writer, method)(items, *args)

    assert (counts.attempted, counts.written, counts.dead_lettered) == (5, 2, 3)
    assert sorted(i["dealId"] for i in writer.query("deals")) == ["deal-0001", "deal-0005"]
    records = {r.key["sk"]: r for r in writer.dead_letter.records("deals")}
    assert {sk: (r.reason, r.details["id"], r.details["field"]) for sk, r in records.items()} == {
        "deal-0002": ("unrepresentable_value", "deal-0002", "score"),
        "deal-0003": ("unrepresentable_value", "deal-0003", "history[0].at"),
        "deal-0004": ("unrepresentable_value", "deal-0004", "amount"),
    }
    assert "NaN" in records["deal-0002"].details["problem"]
    assert not any(r.replayable for r in records.values()), "fix the source; a replay would fail again"
    assert "sk=deal-0002 reason=unrepresentable_value field=score" in caplog.text


def test_logs_carry_keys_and_counts_never_payload_values(env, caplog) -> None:
    writer = env.writer()
    secret = "jane.doe@example.com"
    caplog.set_level(logging.DEBUG, logger="salestalk")

    writer.put_once([deal(1, email=secret), deal(2, "t2", email=secret)], "dealId")
    writer.put_once([deal(1, email=secret, amount=7)], "dealId")

    assert "deal-0002" in caplog.text and "cross_tenant" in caplog.text
    assert secret not in caplog.text and "'stage'" not in caplog.text


def test_botocore_retries_are_accounted_for(env, caplog) -> None:
    default_client = make_client("dynamodb", env.server.endpoint_url, retries={"mode": "standard"})
    quiet_client = make_client("dynamodb", env.server.endpoint_url, retries=WRITER_CLIENT_CONFIG.retries)
    caplog.set_level(logging.WARNING, logger="salestalk")

    noisy = env.writer(client=default_client)
    quiet = env.writer(client=quiet_client)

    assert (noisy.sdk_attempts_per_call, quiet.sdk_attempts_per_call) == (3, 1)
    assert "up to 24 times" in caplog.text
    assert isinstance(quiet, TenantDynamoWriter)


def test_without_all_old_on_condition_failure_the_writer_reads_the_item_consistently(env) -> None:
    writer = env.writer()
    writer.put_once([deal(1)], "dealId")

    def drop_returned_item(parsed: dict, **_: object) -> None:
        parsed.pop("Item", None)

    env.dynamodb.meta.events.register("after-call.dynamodb.PutItem", drop_returned_item)
    recorder = RequestRecorder(env.dynamodb).attach()
    counts = writer.put_once([deal(1), deal(1, amount=3)], "dealId")

    assert (counts.duplicate, counts.conflict) == (1, 1)
    gets = [r.body for r in recorder.sent if r.operation == "GetItem"]
    assert len(gets) == 2 and all(body["ConsistentRead"] for body in gets)


def test_latest_pages_past_expired_items(env) -> None:
    now = time.time()
    expired = env.writer(clock=lambda: now - 60 * DAY, timestamp_field="computedAt")
    live = env.writer(clock=lambda: now, timestamp_field="computedAt")
    expired.put_once([deal(n, computedAt=f"2025-05-{n:02d}") for n in range(10, 20)], "dealId")
    live.put_once([deal(n, computedAt=f"2025-04-{n:02d}") for n in range(1, 4)], "dealId")
    recorder = RequestRecorder(env.dynamodb).attach()

    latest = live.latest("deals", 2)

    assert ids(latest) == ["deal-0003", "deal-0002"]
    assert recorder.count("Query") > 1  # the first pages held only expired items


def test_a_batch_rejected_for_its_content_is_retried_item_by_item(env) -> None:
    FaultInjector(
        env.dynamodb, error_response(400, "ValidationException"), first(1), operation="BatchWriteItem"
    ).attach()
    FaultInjector(
        env.dynamodb, error_response(400, "ValidationException"), on_calls(2), operation="PutItem"
    ).attach()
    writer = env.writer()

    counts = writer.batch_put([deal(n) for n in range(5)], "dealId")

    assert (counts.written, counts.dead_lettered) == (4, 1)
    (record,) = writer.dead_letter.records("deals")
    assert (record.reason, record.details, record.key["sk"]) == (
        "rejected",
        {"error": "ValidationException"},
        "deal-0001",
    )
    env.assert_holds_exactly("t1", "deals", ["deal-0000", "deal-0002", "deal-0003", "deal-0004"])


def test_errors_about_the_table_or_credentials_are_raised_not_dead_lettered(env) -> None:
    writer = env.writer()
    writer.table = "no-such-table"

    with pytest.raises(env.dynamodb.exceptions.ResourceNotFoundException):
        writer.batch_put([deal(1)], "dealId")
    with pytest.raises(env.dynamodb.exceptions.ResourceNotFoundException):
        writer.put_once([deal(1)], "dealId")
    assert writer.dead_letter.records("deals") == []
