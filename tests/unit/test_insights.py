"""Insight summaries on a small DuckDB warehouse: tenancy, contract, determinism, missing tables, SQL safety."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from salestalk.config.loader import load_sources
from salestalk.contracts import parse_tenant_event
from salestalk.insights import (
    SQL_PATH,
    InsightSummaryInvalid,
    compute_insight_summary,
    metric_name,
    period_of_interval,
    summaries_for_tenants,
    summary_id,
    top_intents,
    validate_summary,
)
from salestalk.tenancy import InvalidTenantId
from salestalk.warehouse import tables

DAY = dt.date(2026, 11, 1)
INTERVAL_END = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
LOADED = "2026-11-02T00:05:00Z"

# (deal_id, stage, amount, currency, updated_at, tenant)
DEALS = [
    ("D-1", "proposal", 1000.10, "USD", "2026-11-01T09:00:00Z", "acme"),
    ("D-2", "negotiation", 2500.00, "USD", "2026-11-01T10:00:00Z", "acme"),
    ("D-3", "closed_won", 4000.25, "EUR", "2026-11-01T11:00:00Z", "acme"),
    ("D-4", "closed_lost", 700.00, "USD", "2026-11-01T12:00:00Z", "acme"),
    ("D-5", "qualified", 300.00, "GBP", "2026-10-30T08:00:00Z", "acme"),  # open, updated before the period
    ("D-6", "proposal", 9999.00, "USD", "2026-11-02T08:00:00Z", "acme"),  # updated after the period
    # Tenant B: the same deal ids, enormous amounts, inside the same period.
    ("D-1", "proposal", 9e12, "USD", "2026-11-01T09:00:00Z", "globex"),
    ("D-3", "closed_won", 9e12, "EUR", "2026-11-01T11:00:00Z", "globex"),
    ("D-7", "closed_won", 9e12, "USD", "2026-11-01T13:00:00Z", "globex"),
]
# (call_id, deal_id, duration_seconds, sentiment, call_date, tenant)
CALLS = [
    ("C-1", "D-1", 600, 0.5, "2026-11-01", "acme"),
    ("C-2", "D-2", 301, -0.25, "2026-11-01", "acme"),
    ("C-3", "D-2", 1200, 0.9, "2026-10-31", "acme"),  # the day before: not in the period
    ("C-1", "D-1", 14_000, -1.0, "2026-11-01", "globex"),
    ("C-9", "D-7", 14_000, -1.0, "2026-11-01", "globex"),
]


@pytest.fixture(scope="module")
def sources():
    return load_sources().configs


def make_warehouse(warehouse, sources, *, with_tables=("deals", "calls")):
    """The curated tables of ``with_tables`` with the rows above, on either backend."""
    with warehouse.connect() as s:
        ts = s.dialect.column_type("timestamp")
        for name in with_tables:
            tables.ensure_tables(s, sources[name])
        if "deals" in with_tables:
            for deal_id, stage, amount, currency, updated_at, tenant in DEALS:
                s.execute(
                    f"INSERT INTO {s.dialect.table('curated', 'deals')} VALUES (?, 'Acme Corp', ?, ?, ?, "
                    f"'rep@example.com', CAST('2026-12-01' AS DATE), CAST(? AS {ts}), ?, CAST(? AS {ts}), "
                    f"CAST('2026-11-01T00:00:00Z' AS {ts}), 'run-1')",
                    [deal_id, stage, amount, currency, updated_at, tenant, LOADED],
                )
        if "calls" in with_tables:
            for call_id, deal_id, seconds, sentiment, call_date, tenant in CALLS:
                s.execute(
                    f"INSERT INTO {s.dialect.table('curated', 'calls')} VALUES (?, ?, 'rep@example.com', ?, ?, "
                    f"CAST(? AS DATE), CAST('2026-11-01T12:00:00Z' AS {ts}), ?, CAST(? AS {ts}), "
                    f"CAST('2026-11-01T00:00:00Z' AS {ts}), 'run-1')",
                    [call_id, deal_id, seconds, sentiment, call_date, tenant, LOADED],
                )
    return warehouse


@pytest.fixture
def warehouse(empty_warehouse, sources):
    """Both backends (tests/support/warehouses.py), with the curated rows above."""
    return make_warehouse(empty_warehouse, sources)


def insert(warehouse, table: str, values: str, params: list) -> None:
    """``INSERT INTO table VALUES (values)``; ``{ts}`` in ``values`` is the backend's timestamp type."""
    with warehouse.connect() as s:
        schema, name = table.split(".")
        ts = s.dialect.column_type("timestamp")
        s.execute(f"INSERT INTO {s.dialect.table(schema, name)} VALUES {values.format(ts=ts)}", params)


def late_call(call_id: str, tenant: str) -> list:
    return [call_id, "D-1", 100, 0.0, "2026-11-01", tenant]


CALL_VALUES = (
    "(?, ?, 'rep@example.com', ?, ?, CAST(? AS DATE), CAST('2026-11-01T23:00:00Z' AS {ts}), ?, "
    "CAST(? AS {ts}), CAST('2026-11-02T00:00:00Z' AS {ts}), 'run-2')"
)
RESULT_VALUES = (
    "(?, ?, CAST('2026-11-01T00:00:00Z' AS {ts}), CAST('2026-11-02T00:00:00Z' AS {ts}), 'run-3', ?, '{{}}', "
    "CAST(? AS {ts}))"
)


def compute(warehouse, tenant: str, **kwargs) -> dict:
    with warehouse.connect() as con:
        return compute_insight_summary(con, tenant, DAY, DAY, kwargs.get("computed_at", INTERVAL_END))


def test_a_summary_uses_only_its_own_tenants_rows(warehouse) -> None:
    acme = compute(warehouse, "acme")
    assert acme["tenantId"] == "acme"
    assert acme["summaryId"] == "daily:2026-11-01"
    assert acme["period"] == {"start": "2026-11-01", "end": "2026-11-01"}
    assert acme["metrics"] == {
        "avg_call_duration_seconds": 450.5,  # (600 + 301) / 2
        "avg_sentiment": 0.125,  # (0.5 - 0.25) / 2
        "calls": 2,
        "deals_lost": 1,
        "deals_updated": 4,
        "deals_updated_closed_lost": 1,
        "deals_updated_closed_won": 1,
        "deals_updated_negotiation": 1,
        "deals_updated_proposal": 1,
        "deals_won": 1,
        "open_deals": 3,  # D-1, D-2 and D-5 (D-6 was only updated after the period)
        "open_deals_negotiation": 1,
        "open_deals_proposal": 1,
        "open_deals_qualified": 1,
        "open_pipeline_amount_gbp": 300,
        "open_pipeline_amount_gbp_qualified": 300,
        "open_pipeline_amount_usd": 3500.1,
        "open_pipeline_amount_usd_negotiation": 2500,
        "open_pipeline_amount_usd_proposal": 1000.1,
        "won_amount_eur": 4000.25,
    }
    assert acme["topIntents"] == [
        {"intent": "churn_risk", "count": 1},
        {"intent": "objection", "count": 1},
        {"intent": "other", "count": 1},
        {"intent": "pricing", "count": 1},
    ]
    assert acme["references"] == [
        "warehouse://curated/calls?tenant=acme",
        "warehouse://curated/deals?tenant=acme",
    ]
    # Tenant B's huge amounts and long calls are nowhere in A's summary.
    assert max(acme["metrics"].values()) < 10_000

    globex = compute(warehouse, "globex")
    assert globex["metrics"]["won_amount_usd"] == 9e12
    assert globex["metrics"]["calls"] == 2 and globex["metrics"]["avg_call_duration_seconds"] == 14_000
    assert "open_pipeline_amount_gbp" not in globex["metrics"]


def test_every_summary_validates_against_the_contract(warehouse) -> None:
    for tenant in ("acme", "globex", "initech"):
        summary = compute(warehouse, tenant)
        event = parse_tenant_event(json.dumps(summary), "insight-summary", tenant)
        assert event.accepted, event.quarantine_reason
        assert event.version == 1


def test_a_summary_that_breaks_the_contract_is_refused() -> None:
    summary = {
        "tenantId": "acme",
        "summaryId": "daily#2026-11-01",  # '#' is outside the contract's summaryId pattern
        "period": {"start": "2026-11-01", "end": "2026-11-01"},
        "metrics": {},
        "topIntents": [],
        "references": ["curated.deals"],
        "computedAt": "2026-11-02T00:00:00Z",
    }
    with pytest.raises(InsightSummaryInvalid, match=r"\$\.summaryId"):
        validate_summary(summary, "acme")
    with pytest.raises(InsightSummaryInvalid, match="tenant"):
        validate_summary({**summary, "summaryId": "daily:2026-11-01"}, "globex")


def test_recomputing_unchanged_data_gives_an_identical_item(warehouse, sources) -> None:
    first = compute(warehouse, "acme")
    again = compute(warehouse, "acme")
    with warehouse.connect() as s:
        for name in ("deals", "calls"):
            s.execute(f"DELETE FROM {s.dialect.table('curated', name)}")
    rebuilt = compute(make_warehouse(warehouse, sources), "acme")
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.dumps(first, sort_keys=True) == json.dumps(rebuilt, sort_keys=True)
    # computedAt is the later of the interval end and the inputs' last change, never the wall clock.
    assert first["computedAt"] == "2026-11-02T00:05:00Z"


def test_computed_at_is_the_interval_end_when_the_inputs_are_older(warehouse) -> None:
    summary = compute(
        warehouse,
        "acme",
        computed_at=dt.datetime(2026, 11, 3, tzinfo=dt.UTC),
    )
    assert summary["computedAt"] == "2026-11-03T00:00:00Z"


def test_late_data_makes_a_newer_version(warehouse) -> None:
    before = compute(warehouse, "acme")
    insert(warehouse, "curated.calls", CALL_VALUES, [*late_call("C-LATE", "acme"), "2026-11-02T06:00:00Z"])
    after = compute(warehouse, "acme")
    assert after["metrics"]["calls"] == before["metrics"]["calls"] + 1
    assert after["computedAt"] == "2026-11-02T06:00:00Z" > before["computedAt"]
    assert after["summaryId"] == before["summaryId"]


def test_a_publish_in_the_audit_table_moves_the_version(warehouse) -> None:
    insert(
        warehouse,
        "audit.batch_results",
        RESULT_VALUES,
        ["deals", "acme", "publish", "2026-11-02T07:30:00.75Z"],
    )
    # another tenant's and another step's records do not count
    insert(
        warehouse,
        "audit.batch_results",
        RESULT_VALUES,
        ["deals", "globex", "publish", "2026-11-05T00:00:00Z"],
    )
    insert(
        warehouse, "audit.batch_results", RESULT_VALUES, ["deals", "acme", "validate", "2026-11-05T00:00:00Z"]
    )
    assert compute(warehouse, "acme")["computedAt"] == "2026-11-02T07:30:00Z"


@pytest.mark.parametrize(
    "with_tables",
    [pytest.param((), id="no-curated-tables"), pytest.param(("deals",), id="calls-never-ran")],
)
def test_missing_tables_give_zeros(empty_warehouse, sources, with_tables) -> None:
    warehouse = make_warehouse(empty_warehouse, sources, with_tables=with_tables)
    summary = compute(warehouse, "initech")
    assert summary["metrics"] == {
        "avg_call_duration_seconds": 0,
        "avg_sentiment": 0,
        "calls": 0,
        "deals_lost": 0,
        "deals_updated": 0,
        "deals_won": 0,
        "open_deals": 0,
    }
    assert summary["topIntents"] == []
    assert summary["computedAt"] == "2026-11-02T00:00:00Z"
    assert parse_tenant_event(json.dumps(summary), "insight-summary", "initech").accepted


def test_a_missing_table_does_not_hide_the_other(empty_warehouse, sources) -> None:
    warehouse = make_warehouse(empty_warehouse, sources, with_tables=("calls",))
    metrics = compute(warehouse, "acme")["metrics"]
    assert metrics["calls"] == 2 and metrics["deals_updated"] == 0


def test_an_empty_warehouse_gives_zeros(empty_warehouse) -> None:
    summaries = summaries_for_tenants(empty_warehouse, ["acme", "globex"], DAY, DAY, INTERVAL_END)
    assert sorted(summaries) == ["acme", "globex"]
    assert all(len(items) == 1 and items[0]["metrics"]["calls"] == 0 for items in summaries.values())


@pytest.mark.parametrize(
    "tenant",
    [
        pytest.param("acme' OR '1'='1", id="quote-injection"),
        pytest.param("acme'; DROP TABLE curated.deals; --", id="statement-injection"),
        pytest.param("ACME", id="upper-case"),
        pytest.param("", id="empty"),
    ],
)
def test_a_tenant_id_that_looks_like_injection_is_rejected_before_any_sql(warehouse, tenant) -> None:
    class NoSql:
        def execute(self, *args, **kwargs):
            raise AssertionError("no SQL may run for an invalid tenant id")

    with pytest.raises(InvalidTenantId):
        compute_insight_summary(NoSql(), tenant, DAY, DAY, INTERVAL_END)
    with pytest.raises(InvalidTenantId):
        summaries_for_tenants(warehouse, ["acme", tenant], DAY, DAY, INTERVAL_END)
    with warehouse.connect() as s:
        assert s.fetchall(f"SELECT COUNT(*) FROM {s.dialect.table('curated', 'deals')}")[0][0] == len(DEALS)


def test_the_sql_binds_every_value() -> None:
    sql = SQL_PATH.read_text()
    code = "\n".join(line.split("--")[0] for line in sql.splitlines())
    assert code.count("?") == 5 and "$" not in code, "five positional binds, in the params CTE only"
    assert "{" not in code and "%s" not in code  # nothing is formatted into it
    # The only literals are fixed stage names, metric labels and types: no tenant, date or number.
    literals = set(re.findall(r"'([^']*)'", code))
    assert not {lit for lit in literals if re.search(r"\d{4}-\d\d|acme|globex|initech", lit)}


def test_the_tenant_is_a_bound_parameter_not_text(warehouse) -> None:
    """A tenant id is compared as a value: 'acme' never matches rows of 'acme-eu' or a LIKE pattern."""
    insert(warehouse, "curated.calls", CALL_VALUES, [*late_call("C-X", "acme-eu"), LOADED])
    assert compute(warehouse, "acme")["metrics"]["calls"] == 2
    assert compute(warehouse, "acme-eu")["metrics"]["calls"] == 1


def test_period_and_ids() -> None:
    assert period_of_interval(dt.datetime(2026, 11, 1, tzinfo=dt.UTC), INTERVAL_END) == (DAY, DAY)
    with pytest.raises(ValueError, match="timezone"):
        period_of_interval(dt.datetime(2026, 11, 1), INTERVAL_END)
    assert summary_id(DAY, DAY) == "daily:2026-11-01"
    assert summary_id(dt.date(2026, 10, 26), DAY) == "range:2026-10-26..2026-11-01"
    assert metric_name("open_deals", "Closed Won!") == "open_deals_closed_won"
    assert metric_name("won_amount", "") == "won_amount_unknown"
    assert len(metric_name("open_pipeline_amount", "usd", "x" * 100)) == 64


def test_top_intents_are_derived_from_stages_most_frequent_first() -> None:
    assert top_intents({"proposal": 3, "prospecting": 1, "qualified": 4, "closed_won": 0, "odd": 2}) == [
        {"intent": "scheduling", "count": 5},
        {"intent": "pricing", "count": 3},
        {"intent": "other", "count": 2},
    ]


def test_a_one_tenant_summary_session_is_tagged_with_its_tenant(empty_warehouse, monkeypatch) -> None:
    """Cost attribution: a partition's run (one tenant) tags its session with it; several tenants share."""
    tags: list[dict] = []
    connect = type(empty_warehouse).connect

    def recording_connect(self, *, tag=None):
        tags.append(dict(tag or {}))
        return connect(self, tag=tag)

    monkeypatch.setattr(type(empty_warehouse), "connect", recording_connect)
    summaries_for_tenants(empty_warehouse, ["acme"], DAY, DAY, INTERVAL_END)
    summaries_for_tenants(empty_warehouse, ["acme", "globex"], DAY, DAY, INTERVAL_END)
    assert [t.get("tenant") for t in tags] == ["acme", None]
    assert {t["step"] for t in tags} == {"insight_summary"}
