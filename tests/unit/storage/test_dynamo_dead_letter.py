"""The per-tenant dead-letter store: where records live, what they hold, and how redrive settles them."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from salestalk.storage.tenant_dynamodb import WriteMode, payload_hash
from tests.support.aws_faults import FaultInjector, first, throttling
from tests.support.dynamo_env import deal

RECORD_KEY = re.compile(r"tenants/t1/dead_letter/deals/\d{4}-\d{2}-\d{2}/[0-9a-f]{64}\.json")


def fixed_clock(day: int):
    return lambda: dt.datetime(2025, 6, day, 12, 0, tzinfo=dt.UTC)


def test_records_are_filed_once_per_item_and_day_under_the_tenant(env) -> None:
    store = env.dead_letters("t1", clock=fixed_clock(3))
    item = deal(1)
    mode = WriteMode("put_once", "dealId")

    first_key = store.record(entity="deals", item=item, key=None, reason="too_large", attempts=0, mode=mode)
    second_key = store.record(entity="deals", item=item, key=None, reason="conflict", attempts=2, mode=mode)

    assert first_key == second_key == f"tenants/t1/dead_letter/deals/2025-06-03/{payload_hash(item)}.json"
    assert RECORD_KEY.fullmatch(first_key)
    (record,) = store.records("deals")
    assert (record.reason, record.attempts, record.payload) == ("too_large", 0, item)
    assert record.first_seen == "2025-06-03T12:00:00+00:00"
    assert env.object_keys() == [first_key]


def test_pii_fields_are_removed_at_any_depth_and_never_in_reasons(env) -> None:
    store = env.dead_letters("t1", pii_fields={"email", "phone"})
    item = deal(1, email="jane@example.com", contact={"phone": "+1 555 0100", "role": "buyer"})
    writer = env.writer(dead_letter=store, max_item_bytes=200)

    counts = writer.put_once([item], "dealId")

    assert counts.dead_lettered == 1
    (record,) = store.records("deals")
    assert record.redacted_fields == ("email", "phone")
    assert record.payload == deal(1, contact={"role": "buyer"})
    raw = env.s3.get_object(Bucket=env.bucket, Key=record.s3_key)["Body"].read().decode()
    assert "jane@example.com" not in raw and "555" not in raw
    assert record.reason == "too_large" and set(record.details) == {"size", "max_item_bytes"}


def test_a_redacted_record_is_kept_for_a_replay_from_source(env) -> None:
    store = env.dead_letters("t1", pii_fields={"email"})
    writer = env.writer(dead_letter=store, max_item_bytes=200)
    writer.put_once([deal(1, email="jane@example.com", notes="n" * 300)], "dealId")

    counts = store.redrive(env.writer(dead_letter=store), "deals")

    assert (counts.attempted, counts.dead_lettered, counts.written) == (1, 1, 0)
    assert len(store.records("deals")) == 1 and env.scan() == []


def test_redrive_deletes_only_records_whose_items_are_settled(env) -> None:
    writer = env.writer(max_attempts=2)
    writer.put_once([deal(1)], "dealId")
    writer.put_once([deal(1, amount=5)], "dealId")  # conflict: stays dead-lettered
    writer.put_once([deal(2, "t2")], "dealId")  # cross-tenant: stays blocked
    with FaultInjector(env.dynamodb, throttling(), first(2), operation="PutItem"):
        writer.put_once([deal(3)], "dealId")  # retries exhausted: redrive writes it
    assert len(writer.dead_letter.records("deals")) == 3

    counts = writer.dead_letter.redrive(writer, "deals")

    assert counts.as_dict() == {
        "attempted": 3,
        "blocked": 1,
        "written": 1,
        "duplicate": 0,
        "stale": 0,
        "conflict": 1,
        "dead_lettered": 1,
        "offloaded": 0,
    }
    remaining = {r.reason: r for r in writer.dead_letter.records("deals")}
    assert set(remaining) == {"conflict", "cross_tenant"}
    assert remaining["conflict"].attempts == 2 and remaining["conflict"].last_attempt is not None
    env.assert_holds_exactly("t1", "deals", ["deal-0001", "deal-0003"], others=["t2"])


def test_redriving_twice_writes_nothing_new(env) -> None:
    writer = env.writer(max_attempts=1)
    with FaultInjector(env.dynamodb, throttling(), first(30), operation="BatchWriteItem"):
        writer.batch_put([deal(n) for n in range(30)], "dealId")

    once = writer.dead_letter.redrive(writer, "deals")
    table_after_once = env.scan()
    twice = writer.dead_letter.redrive(writer, "deals")

    assert (once.attempted, once.written) == (30, 30)
    assert twice.attempted == 0 and env.scan() == table_after_once
    env.assert_holds_exactly("t1", "deals", [f"deal-{n:04d}" for n in range(30)])


def test_stale_redrives_are_settled_without_overwriting(env) -> None:
    writer = env.writer(max_attempts=1)
    with FaultInjector(env.dynamodb, throttling(), first(1), operation="PutItem"):
        writer.put_if_newer([deal(1, version=1)], "dealId", "version")
    writer.put_if_newer([deal(1, version=2)], "dealId", "version")

    counts = writer.dead_letter.redrive(writer, "deals")

    assert (counts.stale, counts.written) == (1, 0)
    assert writer.query("deals") == [deal(1, version=2)]
    assert writer.dead_letter.records("deals") == []


def test_redrive_needs_a_writer_of_the_same_tenant_and_entity(env) -> None:
    store = env.dead_letters("t1")
    with pytest.raises(ValueError, match="cannot redrive"):
        store.redrive(env.writer("t2"), "deals")
    with pytest.raises(ValueError, match="cannot redrive"):
        store.redrive(env.writer("t1", "contacts", dead_letter=store), "deals")


def test_record_json_holds_the_documented_fields(env) -> None:
    store = env.dead_letters("t1")
    key = store.record(
        entity="deals",
        item=deal(1),
        key={"pk": "TENANT#t1#deals#", "sk": "deal-0001"},
        reason="retries_exhausted",
        attempts=8,
        mode=WriteMode("batch_put", "dealId"),
        details={"last_error": "ThrottlingException"},
    )

    body = json.loads(env.s3.get_object(Bucket=env.bucket, Key=key)["Body"].read())

    assert {"entity", "key", "reason", "attempts", "payload", "first_seen"} <= set(body)
    assert body["mode"] == {"method": "batch_put", "id_field": "dealId", "version_field": None}
