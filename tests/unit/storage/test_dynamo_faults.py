"""The fault battery: throttling, 5xx, timeouts, resets, partial batches and lost responses, over HTTP.

Faults are injected at the botocore boundary (event hooks) or on the wire (a dropping proxy); nothing of
ours is mocked. Every scenario checks that the counts add up, that the table holds exactly the expected
items (by Query and by a test-only Scan), and that nothing landed under another tenant.
"""

from __future__ import annotations

import pytest

from salestalk.storage.tenant_dynamodb import WRITER_CLIENT_CONFIG
from tests.support.aws_faults import (
    FaultInjector,
    PartialBatchFault,
    RequestRecorder,
    connection_reset,
    every,
    first,
    hold_back_every_other,
    on_calls,
    read_timeout,
    server_error,
    throttling,
)
from tests.support.dropping_proxy import DroppingProxy, amz_target
from tests.support.dynamo_env import assert_counts_add_up, deal
from tests.support.moto import make_client

OTHERS = ["t2", "t10"]

FAULTS = {
    "throttled-first-3": (throttling(), first(3)),
    "throttling-exception-every-2nd": (throttling("ThrottlingException"), every(2, limit=5)),
    "request-limit-exceeded": (throttling("RequestLimitExceeded"), first(2)),
    "500-first-3": (server_error(500), first(3)),
    "503-on-calls-2-and-3": (server_error(503, "ServiceUnavailable"), on_calls(2, 3)),
    "read-timeout-first-2": (read_timeout(), first(2)),
    "connection-reset-every-2nd": (connection_reset(), every(2, limit=3)),
}
OPERATIONS = {"put_once": "PutItem", "put_if_newer": "PutItem", "batch_put": "BatchWriteItem"}


def write(writer, method: str, items: list[dict]):
    if method == "put_if_newer":
        return writer.put_if_newer(items, "dealId", "version")
    return getattr(writer, method)(items, "dealId")


def run_ids(count: int) -> list[str]:
    return [f"deal-{n:04d}" for n in range(count)]


def items_with_intruders(count: int) -> list[dict]:
    """``count`` items of t1 and two payloads that claim other tenants."""
    return [deal(n, version=1) for n in range(count)] + [
        deal(900, "t2", version=1),
        deal(901, "t10", version=1),
    ]


@pytest.mark.parametrize("method", sorted(OPERATIONS))
@pytest.mark.parametrize("scenario", sorted(FAULTS))
def test_transient_faults_are_retried_and_nothing_is_lost(env, scenario: str, method: str) -> None:
    fault, schedule = FAULTS[scenario]
    injector = FaultInjector(env.dynamodb, fault, schedule, operation=OPERATIONS[method]).attach()
    writer = env.writer(max_attempts=8)

    counts = write(writer, method, items_with_intruders(30))

    assert_counts_add_up(counts)
    assert counts.as_dict() == {
        "attempted": 32,
        "blocked": 2,
        "written": 30,
        "duplicate": 0,
        "stale": 0,
        "conflict": 0,
        "dead_lettered": 0,
        "offloaded": 0,
    }
    assert injector.injected > 0
    assert len(env.sleeps) == injector.injected  # one full-jitter pause per failed attempt
    env.assert_holds_exactly("t1", "deals", run_ids(30), others=OTHERS)


def test_backoff_is_full_jitter_capped_and_exponential(env) -> None:
    FaultInjector(env.dynamodb, throttling(), first(7), operation="PutItem").attach()
    writer = env.writer(max_attempts=8, base_delay=0.05, max_delay=0.5)

    writer.put_once([deal(1)], "dealId")

    assert len(env.sleeps) == 7
    caps = [min(0.5, 0.05 * 2**n) for n in range(7)]
    assert all(0 <= delay <= cap for delay, cap in zip(env.sleeps, caps, strict=True))
    assert len(set(env.sleeps)) == 7  # jittered, not a fixed schedule


# ---- partial batches ----------------------------------------------------------------------------------


def naive_ids(count: int) -> list[str]:
    return [f"n-{n:02d}" for n in range(count)]


def naive_batch_loop(client, table: str, items: list[dict]) -> None:
    """What not to do: send each chunk once and ignore UnprocessedItems."""
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        client.batch_write_item(RequestItems={table: requests})


def test_partial_batches_lose_items_in_a_naive_loop_and_none_in_the_writer(env) -> None:
    naive_items = [
        {"pk": {"S": "TENANT#t1#naive#"}, "sk": {"S": sk}, "data": {"M": {}}} for sk in naive_ids(25)
    ]
    with PartialBatchFault(env.dynamodb, leave=7, schedule=first(2)):
        naive_batch_loop(env.dynamodb, env.table, naive_items)
    naive_lost = 25 - len(env.keys_by_partition()["TENANT#t1#naive#"])

    fault = PartialBatchFault(env.dynamodb, leave=7, schedule=first(2)).attach()
    counts = env.writer().batch_put([deal(n) for n in range(25)], "dealId")

    assert naive_lost == 7
    assert_counts_add_up(counts)
    assert fault.held_back == [7, 7]  # the second call had only those 7 left: it was throttled as a whole
    assert (counts.written, counts.dead_lettered) == (25, 0)
    assert env.keys_by_partition() == {"TENANT#t1#naive#": naive_ids(18), "TENANT#t1#deals#": run_ids(25)}
    env.assert_only_tenant("t1")


def test_partial_batches_on_every_call_still_converge(env) -> None:
    PartialBatchFault(env.dynamodb, leave=7, schedule=first(6), choose=hold_back_every_other).attach()
    recorder = RequestRecorder(env.dynamodb).attach()

    counts = env.writer().batch_put(items_with_intruders(100), "dealId")

    assert_counts_add_up(counts)
    assert (counts.attempted, counts.blocked, counts.written, counts.dead_lettered) == (102, 2, 100, 0)
    assert max(recorder.batch_sizes()) <= 25
    env.assert_holds_exactly("t1", "deals", run_ids(100), others=OTHERS)


# ---- retries exhausted -> dead letter -> redrive ------------------------------------------------------


@pytest.mark.parametrize("method", ["batch_put", "put_once", "put_if_newer"])
def test_exhausted_retries_go_to_dead_letter_and_redrive_writes_them_once(env, method: str) -> None:
    injector = FaultInjector(env.dynamodb, throttling(), first(3), operation=OPERATIONS[method]).attach()
    writer = env.writer(max_attempts=3)
    items = [deal(n, version=1) for n in range(30)]

    counts = write(writer, method, items)
    injector.detach()
    records = writer.dead_letter.records("deals")
    redriven = writer.dead_letter.redrive(writer, "deals")
    again = writer.dead_letter.redrive(writer, "deals")

    lost_to_faults = 25 if method == "batch_put" else 1  # the first chunk, or the first item
    assert_counts_add_up(counts)
    assert_counts_add_up(redriven)
    assert (counts.written, counts.dead_lettered) == (30 - lost_to_faults, lost_to_faults)
    assert {r.reason for r in records} == {"retries_exhausted"}
    assert {r.details["last_error"] for r in records} == {"ProvisionedThroughputExceededException"}
    assert {r.attempts for r in records} == {3}
    assert (redriven.attempted, redriven.written, redriven.dead_lettered) == (
        lost_to_faults,
        lost_to_faults,
        0,
    )
    assert again.attempted == 0 and writer.dead_letter.records("deals") == []
    env.assert_holds_exactly("t1", "deals", run_ids(30), others=OTHERS)


# ---- lost responses -----------------------------------------------------------------------------------


def proxied_writer(env, proxy: DroppingProxy, **overrides):
    client = make_client("dynamodb", proxy.endpoint_url, retries=WRITER_CLIENT_CONFIG.retries)
    return env.writer(client=client, **overrides)


@pytest.mark.parametrize("method", ["put_once", "put_if_newer"])
def test_a_committed_write_whose_response_is_lost_is_a_duplicate_on_retry(env, method: str) -> None:
    with DroppingProxy(env.server.endpoint_url, matches=amz_target("PutItem"), drop_on={3, 7}) as proxy:
        counts = write(proxied_writer(env, proxy), method, items_with_intruders(10))

    assert proxy.dropped == 2
    assert_counts_add_up(counts)
    assert counts.as_dict() == {
        "attempted": 12,
        "blocked": 2,
        "written": 8,
        "duplicate": 2,
        "stale": 0,
        "conflict": 0,
        "dead_lettered": 0,
        "offloaded": 0,
    }
    env.assert_holds_exactly("t1", "deals", run_ids(10), others=OTHERS)


def test_a_lost_batch_response_is_rewritten_idempotently(env) -> None:
    with DroppingProxy(env.server.endpoint_url, matches=amz_target("BatchWriteItem"), drop_on={1}) as proxy:
        counts = proxied_writer(env, proxy).batch_put(items_with_intruders(40), "dealId")

    assert proxy.dropped == 1 and proxy.matched == 3  # chunk 1 sent twice, chunk 2 once
    assert_counts_add_up(counts)
    assert (counts.attempted, counts.blocked, counts.written, counts.dead_lettered) == (42, 2, 40, 0)
    env.assert_holds_exactly("t1", "deals", run_ids(40), others=OTHERS)


def test_a_lost_response_with_no_retries_left_is_dead_lettered_then_redriven_as_duplicate(env) -> None:
    with DroppingProxy(env.server.endpoint_url, matches=amz_target("PutItem"), drop_on={1}) as proxy:
        writer = proxied_writer(env, proxy, max_attempts=1)
        counts = writer.put_once([deal(1), deal(2)], "dealId")
    (record,) = writer.dead_letter.records("deals")

    redriven = writer.dead_letter.redrive(env.writer(), "deals")

    assert_counts_add_up(counts)
    assert (counts.written, counts.dead_lettered) == (1, 1)
    assert record.details == {"last_error": "ConnectionClosedError"}
    assert (redriven.attempted, redriven.duplicate, redriven.written) == (1, 1, 0)
    assert writer.dead_letter.records("deals") == []
    env.assert_holds_exactly("t1", "deals", ["deal-0001", "deal-0002"], others=OTHERS)


# ---- everything at once -------------------------------------------------------------------------------


def test_mixed_faults_across_a_large_run(env) -> None:
    FaultInjector(env.dynamodb, throttling(), every(2, limit=6), operation="BatchWriteItem").attach()
    FaultInjector(env.dynamodb, connection_reset(), every(5, limit=2), operation="BatchWriteItem").attach()
    PartialBatchFault(env.dynamodb, leave=4, schedule=every(3, limit=4)).attach()
    recorder = RequestRecorder(env.dynamodb).attach()
    writer = env.writer(max_attempts=8)
    items = items_with_intruders(200) + [deal(5, version=1), deal(6, version=1)]  # two in-call duplicates

    counts = writer.batch_put(items, "dealId")

    assert_counts_add_up(counts)
    assert (counts.attempted, counts.blocked, counts.written, counts.duplicate) == (204, 2, 200, 2)
    assert max(recorder.batch_sizes()) <= 25
    env.assert_holds_exactly("t1", "deals", run_ids(200), others=OTHERS)
