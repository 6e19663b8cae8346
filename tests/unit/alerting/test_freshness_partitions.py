"""Per tenant and day, from the asset events: source not yet published, downstream not yet run, or summarised.

``partition_states`` is pure (salestalk.freshness); the inputs here are named by the config's summary
inputs, never by a shipped source.
"""

from __future__ import annotations

import datetime as dt

import pytest

from salestalk.assets import RESTATED_NAME, SUMMARY_NAME, curated_asset_name
from salestalk.freshness import (
    AssetEventRecord,
    PartitionState,
    format_partition_states,
    partition_states,
    summary_partition_states,
)
from salestalk.insights import INPUT_SOURCES

T0 = dt.datetime(2026, 11, 2, 0, 5, tzinfo=dt.UTC)
KEY = "acme|2026-11-01"


def event(asset: str, minutes: int, key: str = KEY) -> AssetEventRecord:
    return AssetEventRecord(asset, key, T0 + dt.timedelta(minutes=minutes))


def published(*sources: str, minutes: int = 0, key: str = KEY) -> list[AssetEventRecord]:
    return [event(curated_asset_name(s), minutes, key) for s in sources]


def states(events: list[AssetEventRecord]) -> dict[str, dict]:
    return {row["partition_key"]: row for row in summary_partition_states(events)}


def test_inputs_are_at_least_two() -> None:
    assert len(INPUT_SOURCES) >= 2  # the cases below need one input that has and one that has not published


def test_one_input_published_is_source_not_published_naming_the_missing_one() -> None:
    first, *others = INPUT_SOURCES
    (row,) = states(published(first)).values()
    assert row["state"] == PartitionState.SOURCE_NOT_PUBLISHED
    assert (row["tenant"], row["day"]) == ("acme", "2026-11-01")
    assert row["published"][first] == T0.isoformat() and all(row["published"][o] is None for o in others)
    assert all(o in row["reason"] for o in others) and first not in row["reason"]
    # A summary event alone (a manual run) does not make a partition published.
    (row,) = states([*published(first), event(SUMMARY_NAME, 5)]).values()
    assert row["state"] == PartitionState.SOURCE_NOT_PUBLISHED


def test_every_input_published_and_no_summary_is_downstream_not_run() -> None:
    (row,) = states(published(*INPUT_SOURCES, minutes=3)).values()
    assert row["state"] == PartitionState.DOWNSTREAM_NOT_RUN
    assert "never ran" in row["reason"] and row["summarized_at"] is None


def test_a_summary_after_the_last_input_is_summarized_and_a_later_change_waits_again() -> None:
    events = [*published(*INPUT_SOURCES), event(SUMMARY_NAME, 2)]
    (row,) = states(events).values()
    assert (
        row["state"] == PartitionState.SUMMARIZED
        and row["summarized_at"] == event(SUMMARY_NAME, 2).timestamp.isoformat()
    )

    late = [*events, *published(INPUT_SOURCES[0], minutes=9)]  # a late record changed that day again
    (row,) = states(late).values()
    assert row["state"] == PartitionState.DOWNSTREAM_NOT_RUN and "last ran at" in row["reason"]
    (row,) = states([*late, event(SUMMARY_NAME, 12)]).values()
    assert row["state"] == PartitionState.SUMMARIZED


def test_a_restatement_alone_also_makes_the_partition_wait_for_its_recompute() -> None:
    events = [*published(*INPUT_SOURCES), event(SUMMARY_NAME, 2), event(RESTATED_NAME, 7)]
    (row,) = states(events).values()
    assert row["state"] == PartitionState.DOWNSTREAM_NOT_RUN


def test_partitions_are_independent_and_malformed_keys_are_skipped() -> None:
    other = "globex|2026-11-01"
    events = [
        *published(*INPUT_SOURCES),
        event(SUMMARY_NAME, 2),
        *published(INPUT_SOURCES[0], key=other),
        *published(*INPUT_SOURCES, key="not a key"),
    ]
    found = states(events)
    assert {k: r["state"] for k, r in found.items()} == {
        KEY: PartitionState.SUMMARIZED,
        other: PartitionState.SOURCE_NOT_PUBLISHED,
    }
    table = format_partition_states(list(found.values()))
    assert "globex" in table and "source_not_published" in table


@pytest.mark.parametrize("order", [1, -1], ids=["oldest-first", "newest-first"])
def test_the_latest_event_of_each_asset_counts_whatever_the_order(order: int) -> None:
    names = {"a": "asset.a", "b": "asset.b"}
    events = [
        AssetEventRecord("asset.a", KEY, T0),
        AssetEventRecord("asset.b", KEY, T0),
        AssetEventRecord("summary", KEY, T0 + dt.timedelta(minutes=1)),
        AssetEventRecord("asset.a", KEY, T0 + dt.timedelta(minutes=5)),
    ][::order]
    (row,) = partition_states(events, inputs=names, downstream="summary")
    assert row["state"] == PartitionState.DOWNSTREAM_NOT_RUN
    assert row["published"]["a"] == (T0 + dt.timedelta(minutes=5)).isoformat()
