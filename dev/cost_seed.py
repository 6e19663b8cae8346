"""Seed the usage table the cost guardrail reads, for the embedded demo and for tests.

DuckDB has no query tags or credits, so the embedded warehouse's ``audit.query_attribution_history``
(``attribution.duckdb`` in include/cost.yaml) is filled here with rows shaped like Snowflake's
``ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY``: one query per source, tenant, step and day, tagged exactly
as the pipeline's sessions are (salestalk.warehouse.snowflake.query_tag). On fakesnow the same function
creates a seeded copy of the account usage view itself (``attribution.snowflake``), so the Snowflake SQL
runs against the real name. Deterministic: the same arguments give the same rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.cost import USAGE_COLUMNS, usage_relation
from salestalk.names import WAREHOUSE_STEPS
from salestalk.warehouse.snowflake import query_tag

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from salestalk.config.cost import CostConfig
    from salestalk.warehouse.base import Warehouse

CHUNK = 200
DEMO_DAYS = 40
# The demo's spend: this share of the monthly budget over a 30-day month, split over every source and
# tenant (each day +-30% deterministic wiggle, weekends lighter), so its projection crosses the 80% line.
DEMO_BUDGET_SHARE = 0.9


def usage_row(
    *,
    query_id: str,
    start_time: dt.datetime,
    credits: float,
    tag: str | None,
    acceleration: float | None = None,
    seconds: float = 30.0,
) -> dict[str, Any]:
    return {
        "query_id": query_id,
        "warehouse_name": "TRANSFORMING",
        "query_tag": tag,
        "start_time": start_time,
        "end_time": start_time + dt.timedelta(seconds=seconds),
        "credits_attributed_compute": credits,
        "credits_used_query_acceleration": acceleration,
    }


def pipeline_tag(source: str, tenant: str | None, step: str, run_id: str = "scheduled__seed") -> str:
    fields = {"source": source, "step": step, "run_id": run_id}
    if tenant is not None:
        fields["tenant"] = tenant
    return query_tag(**fields)


def create_usage_table(warehouse: Warehouse, config: CostConfig | None = None) -> str:
    """(Re)create the backend's usage relation, empty; return its name."""
    from salestalk.cost import load_config

    config = load_config(config)
    with warehouse.connect(tag={"step": "cost_seed"}) as s:
        d = s.dialect
        relation = usage_relation(d, config)
        parts = relation.split(".")
        if len(parts) == 3:
            s.execute(f"CREATE DATABASE IF NOT EXISTS {parts[0]}")
        if len(parts) >= 2:
            s.execute(f"CREATE SCHEMA IF NOT EXISTS {'.'.join(parts[:-1])}")
        # The account usage view's timestamps are TIMESTAMP_LTZ; DuckDB has one zoned type.
        zoned = {"snowflake": "TIMESTAMP_LTZ"}.get(d.name, d.column_type("timestamp"))
        columns = ", ".join(
            f"{c} {zoned if t == 'timestamp' else d.column_type(t)}" for c, t in USAGE_COLUMNS.items()
        )
        s.execute(f"CREATE OR REPLACE TABLE {relation} ({columns})")
    return relation


def insert_usage(
    warehouse: Warehouse, rows: Iterable[Mapping[str, Any]], config: CostConfig | None = None
) -> int:
    """Append ``rows`` (dicts with :data:`USAGE_COLUMNS`) to the usage relation; return how many."""
    from salestalk.cost import load_config

    config = load_config(config)
    rows = list(rows)
    with warehouse.connect(tag={"step": "cost_seed"}) as s:
        d = s.dialect
        relation = usage_relation(d, config)
        ts = d.column_type("timestamp")
        one = (
            "("
            + ", ".join(f"CAST(? AS {ts})" if t == "timestamp" else "?" for t in USAGE_COLUMNS.values())
            + ")"
        )
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            values: list[Any] = []
            for row in chunk:
                for column, kind in USAGE_COLUMNS.items():
                    value = row.get(column)
                    values.append(format_utc(value) if kind == "timestamp" and value is not None else value)
            s.execute(
                f"INSERT INTO {relation} ({', '.join(USAGE_COLUMNS)}) VALUES {', '.join(one for _ in chunk)}",
                values,
            )
    return len(rows)


def _wiggle(*parts: str) -> float:
    """A deterministic factor in [0.7, 1.3) from ``parts``."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return 0.7 + 0.6 * int.from_bytes(digest[:4], "big") / 2**32


def demo_usage(
    tenants_by_source: Mapping[str, Iterable[str]],
    *,
    today: dt.date,
    daily_credits: float,
    days: int = DEMO_DAYS,
) -> list[dict[str, Any]]:
    """``days`` days up to and including ``today`` of tagged pipeline queries (one per source, tenant,
    warehouse step and day, ``daily_credits`` a pair and day before the wiggle), one shared reader query a day per source, and one untagged and one other
    tool's query a day (which attribution must leave out)."""
    rows = []
    for back in range(days - 1, -1, -1):
        day = today - dt.timedelta(days=back)
        midnight = dt.datetime(day.year, day.month, day.day, 2, tzinfo=dt.UTC)
        weekday = 0.6 if day.weekday() >= 5 else 1.0
        for source in sorted(tenants_by_source):
            for tenant in sorted(tenants_by_source[source]):
                share = daily_credits * weekday * _wiggle(source, tenant, day.isoformat())
                for n, step in enumerate(WAREHOUSE_STEPS):
                    rows.append(
                        usage_row(
                            query_id=f"seed-{day:%Y%m%d}-{source}-{tenant}-{step}",
                            start_time=midnight + dt.timedelta(minutes=5 * n),
                            credits=round(share / len(WAREHOUSE_STEPS), 6),
                            tag=pipeline_tag(source, tenant, step, f"scheduled__{day.isoformat()}"),
                        )
                    )
            rows.append(
                usage_row(
                    query_id=f"seed-{day:%Y%m%d}-{source}-freshness",
                    start_time=midnight + dt.timedelta(hours=3),
                    credits=0.01,
                    tag=query_tag(source=source, step="freshness"),
                )
            )
        rows.append(
            usage_row(
                query_id=f"seed-{day:%Y%m%d}-bi", start_time=midnight, credits=5.0, tag='{"app":"looker"}'
            )
        )
        rows.append(
            usage_row(
                query_id=f"seed-{day:%Y%m%d}-adhoc", start_time=midnight, credits=2.0, tag="adhoc analysis"
            )
        )
    return rows


def seed_demo_usage(
    warehouse: Warehouse, *, today: dt.date | None = None, config: CostConfig | None = None
) -> str:
    """Replace the usage relation with :func:`demo_usage` for every configured source and tenant; return
    a one-line summary for the demo's output."""
    from salestalk.config.loader import load_sources
    from salestalk.cost import load_config

    config = load_config(config)
    today = today or dt.datetime.now(dt.UTC).date()
    pairs = {name: c.tenants or [] for name, c in load_sources().configs.items()}
    count = max(1, sum(len(t) for t in pairs.values()))
    daily = DEMO_BUDGET_SHARE * config.budget_usd / config.price_per_credit_usd / 30 / count
    rows = demo_usage(pairs, today=today, daily_credits=daily)
    relation = create_usage_table(warehouse, config)
    insert_usage(warehouse, rows, config)
    return f"{len(rows)} seeded usage rows in {relation} (python -m salestalk cost)"
