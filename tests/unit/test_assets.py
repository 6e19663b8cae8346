"""Partition keys, a summary run's partition, and the partitions a publish emits (salestalk.assets).

The warehouse part runs a real batch through the pipeline's steps on both backends (DuckDB and Snowflake
through fakesnow's server) and asks which (tenant, day) partitions its publish changed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from salestalk import pipeline
from salestalk.assets import (
    InvalidPartitionKey,
    SummaryTargetError,
    parse_partition_key,
    partition_key,
    publish_partitions,
    published_days,
    summary_day,
    summary_target,
)
from tests.unit.warehouse.test_snowflake_pipeline import _land, deal

TENANTS = ["acme", "globex", "initech"]


def test_partition_keys_round_trip() -> None:
    key = partition_key("acme", dt.date(2026, 11, 1))
    assert key == "acme|2026-11-01"
    assert parse_partition_key(key) == ("acme", dt.date(2026, 11, 1))


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("acme", id="no-day"),
        pytest.param("acme|2026-11-01|x", id="three-parts"),
        pytest.param("acme|2026-13-01", id="bad-day"),
        pytest.param("Acme Corp|2026-11-01", id="bad-tenant"),
        pytest.param("|2026-11-01", id="empty-tenant"),
    ],
)
def test_malformed_partition_keys_are_refused(key: str) -> None:
    with pytest.raises(InvalidPartitionKey):
        parse_partition_key(key)


def test_an_asset_triggered_run_computes_its_partition_only() -> None:
    # The run's own key wins over any param.
    params = {"partition_key": "globex|2026-11-05", "day": "2026-11-09", "tenants": TENANTS}
    assert summary_target("acme|2026-11-01", params, TENANTS) == (["acme"], dt.date(2026, 11, 1))


@pytest.mark.parametrize(
    ("params", "logical_date", "expected"),
    [
        pytest.param(
            {"partition_key": "globex|2026-11-02"}, None, (["globex"], "2026-11-02"), id="key-param"
        ),
        pytest.param({"day": "2026-11-03"}, None, (TENANTS, "2026-11-03"), id="day-every-tenant"),
        pytest.param(
            {"day": "2026-11-03", "tenants": ["initech", "acme"]},
            None,
            (["acme", "initech"], "2026-11-03"),
            id="day-some-tenants-in-config-order",
        ),
        pytest.param(
            {}, dt.datetime(2026, 11, 2, tzinfo=dt.UTC), (TENANTS, "2026-11-01"), id="logical-date-day-before"
        ),
        pytest.param(
            {"day": None, "partition_key": None},
            dt.datetime(2026, 11, 2, 6, tzinfo=dt.UTC),
            (TENANTS, "2026-11-02"),
            id="logical-date-mid-day",
        ),
    ],
)
def test_a_manual_run_names_its_partition_in_params(params, logical_date, expected) -> None:
    tenants, day = summary_target(None, params, TENANTS, logical_date)
    assert (tenants, day.isoformat()) == expected


@pytest.mark.parametrize(
    ("partition", "params", "message"),
    [
        pytest.param(None, {}, "no partition key", id="nothing"),
        pytest.param(None, {"day": "yesterday"}, "is not a YYYY-MM-DD day", id="bad-day"),
        pytest.param("acme", {}, "is not <tenant>|<YYYY-MM-DD>", id="bad-key"),
        pytest.param("umbrella|2026-11-01", {}, "unknown tenant(s) ['umbrella']", id="unknown-tenant"),
        pytest.param(None, {"day": "2026-11-01", "tenants": ["umbrella"]}, "umbrella", id="unknown-param"),
    ],
)
def test_a_run_without_a_usable_partition_fails_saying_why(partition, params, message) -> None:
    with pytest.raises(SummaryTargetError) as failure:
        summary_target(partition, params, TENANTS)
    assert message in str(failure.value)


def test_summary_day_needs_no_tenant_list() -> None:
    """Each mapped task asks only for the day, whatever tenants the run's params list."""
    assert summary_day(None, {"day": "2026-11-04", "tenants": ["someone-else"]}) == dt.date(2026, 11, 4)


# ---- the partitions a publish emits, on both warehouses --------------------------------------------------

LATE_DAY = "2026-10-31"
RECORDS = [
    *(deal(n) for n in range(1, 6)),  # 2026-11-01
    deal(6, updated_at=f"{LATE_DAY}T22:00:00Z"),  # inside the extraction overlap: the day before
    deal(7, updated_at=f"{LATE_DAY}T19:00:00Z"),
    deal(8, owner_email="not an email"),  # rejected before landing (the helper expects one)
]
PUBLISHED = RECORDS[:-1]


@pytest.fixture(scope="module")
def landed(moto_server):
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _land(moto_server, monkeypatch, RECORDS, bucket="assets")


def _day(value) -> dt.date:
    return dt.date.fromisoformat(str(value)[:10])


def test_a_publish_emits_one_partition_per_day_it_changed_and_none_when_nothing_changed(
    landed, warehouse, monkeypatch, tmp_path
) -> None:
    client, source, batch = landed
    monkeypatch.setenv("SALESTALK_ALERT_DIR", str(tmp_path / "alerts"))
    source = source.model_copy(
        update={"snowflake": source.snowflake.model_copy(update={"stage_kind": "internal"})}
    )
    services = pipeline.Services(client, "assets", warehouse)
    for step in ("load_to_staging", "validate", "quarantine"):
        getattr(pipeline, step)(source, batch, services)
    assert published_days(warehouse, source, batch.tenant) == set()  # what the pre_execute hook notes
    published = pipeline.publish(source, batch, services)["published"]
    assert published == len(PUBLISHED)

    column = source.table_schema.partition_column
    expected = sorted({_day(r[column]) for r in PUBLISHED})
    emitted = publish_partitions(warehouse, source, batch.tenant, batch.run_id, published)
    assert emitted.changed == expected and emitted.restated == []
    assert emitted.keys == [f"{batch.tenant}|{d.isoformat()}" for d in expected]
    if column == "updated_at":  # the deals source's config partitions by the update day
        assert [d.isoformat() for d in emitted.changed] == [LATE_DAY, "2026-11-01"]

    assert published_days(warehouse, source, batch.tenant) == set(expected)

    # Restated: a day this source had before the publish, which every other input also has.
    twin = {source.name: source, "twin": source}  # another input that has every one of those days

    def restated(inputs, before):
        return publish_partitions(
            warehouse, source, batch.tenant, batch.run_id, published, inputs, before=before
        ).restated

    assert restated(twin, set(expected)) == expected
    assert restated(twin, {expected[0]}) == [expected[0]]
    assert restated(twin, set()) == [] and restated(twin, None) == []  # a first publish restates nothing
    absent = {source.name: source, "other": source.model_copy(update={"name": "never_published"})}
    assert restated(absent, set(expected)) == []  # the other input never published those days
    assert restated(None, set(expected)) == []  # not a summary input
    # Another run published nothing of this tenant; another tenant has no rows at all.
    assert publish_partitions(warehouse, source, batch.tenant, "manual__other", 1).changed == []
    assert publish_partitions(warehouse, source, "globex", batch.run_id, 1).changed == []

    # The same batch published again changes nothing, so it emits nothing.
    again = pipeline.publish(source, batch, services)["published"]
    assert again == 0
    nothing = publish_partitions(
        warehouse, source, batch.tenant, batch.run_id, again, twin, before=set(expected)
    )
    assert (nothing.changed, nothing.restated, nothing.keys) == ([], [], [])


def test_an_input_without_a_valid_config_only_drops_the_restatement(tmp_path, monkeypatch, caplog) -> None:
    """A publish never fails because another input source's config is missing or broken."""
    import shutil

    from salestalk.assets import _input_configs, input_source_names
    from salestalk.config.loader import SOURCES_DIR, SOURCES_DIR_ENV, load_sources

    first, *others = input_source_names()
    shutil.copytree(SOURCES_DIR, tmp_path, dirs_exist_ok=True)
    for other in others:
        (tmp_path / f"{other}.yaml").write_text("name: [broken\n")
    monkeypatch.setenv(SOURCES_DIR_ENV, str(tmp_path))
    source = load_sources(only=first).configs[first]
    with caplog.at_level("WARNING", logger="salestalk.assets"):
        assert _input_configs(source) == {}
    assert f"input source {others[0]!r}" in caplog.text
