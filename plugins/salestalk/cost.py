"""Warehouse cost per day, source and tenant, the month's budget status, and the once-a-month cost alert.

Attribution. Every session the pipeline opens carries a query tag naming its source, tenant, step and
run (on Snowflake the ``QUERY_TAG`` session parameter, :func:`salestalk.warehouse.snowflake.query_tag`).
Snowflake attributes credits to each query in ``SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY``
(``credits_attributed_compute`` + ``credits_used_query_acceleration``, hours late: see the view's usage notes); the
attribution SQL sums them per UTC day and the tag's ``source`` and ``tenant``. DuckDB has no query tags
or credits: the embedded warehouse reads a seeded table of the same shape (``audit.query_attribution_history``,
seeded by ``make demo``). The SQL is written once and transpiled with sqlglot; the relation and the UTC
date expression are data (``include/cost.yaml`` and the dialect). Only our own tags count (``app`` is
``salestalk``); a session without a tenant (readers, the CLI) is attributed to tenant ``(shared)``.

Budget. ``include/cost.yaml`` holds the monthly budget in dollars, the price per credit and the alert
threshold (80%). Month to date is the spend from the 1st (UTC) up to and including ``today``. The
projection to month end is, by default (``trailing_7_days``), month to date plus the mean daily spend
of the 7 days before today times the days left after today; ``linear`` scales month to date by days in
the month / days elapsed (today counted).

The alert. When month to date or the projection reaches the threshold, one ``cost`` alert goes to the
configured routes, once per month: a row in ``audit.cost_alerts`` keyed by month is claimed with a
conditional insert before sending and marked sent after, so a rerun or retry of any interval that month
finds it and sends nothing. A send that fails on every route releases the claim (the task's retry
sends); a claim never marked sent (a killed worker) is released after ``stale_claim_minutes``. The
routes' own dedup key (type, DAG and month) guards once more per route.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

from salestalk.batch import as_utc, format_utc
from salestalk.names import AUDIT

if TYPE_CHECKING:
    from salestalk.alerting.payload import Alert
    from salestalk.config.cost import CostConfig
    from salestalk.warehouse.base import Session, Warehouse
    from salestalk.warehouse.dialect import Dialect

log = logging.getLogger(__name__)

DAG_ID = "cost_guardrails"
ALERT_SOURCE = "warehouse"  # the alert's "source": the cost alert is about the whole warehouse
COST_ALERTS = "cost_alerts"
TAG_PREFIX = '{"app":"salestalk"'  # every tag salestalk.warehouse.snowflake.query_tag writes starts so
NO_SOURCE = "(none)"
SHARED_TENANT = "(shared)"
TRAILING_DAYS = 7
RUNBOOK = "docs/runbooks/cost.md"
USAGE_COLUMNS = {
    "query_id": "string",
    "warehouse_name": "string",
    "query_tag": "string",
    "start_time": "timestamp",
    "end_time": "timestamp",
    "credits_attributed_compute": "float",
    "credits_used_query_acceleration": "float",
}
ALERT_COLUMNS = {
    "month": "string",
    "claim_id": "string",
    "claimed_at": "timestamp",
    "sent_at": "timestamp",
    "run_id": "string",
    "crossed_by": "string",
    "spent_usd": "float",
    "projected_usd": "float",
    "budget_usd": "float",
    "dedup_key": "string",
}

# Written once for DuckDB, transpiled for Snowflake; {usage} is the dialect's rows with a UTC day.
ATTRIBUTION_SQL = f"""
SELECT
  utc_day AS day,
  COALESCE(json_extract_string(query_tag, '$.source'), '{NO_SOURCE}') AS source,
  COALESCE(json_extract_string(query_tag, '$.tenant'), '{SHARED_TENANT}') AS tenant,
  SUM(COALESCE(credits_attributed_compute, 0) + COALESCE(credits_used_query_acceleration, 0)) AS credits
FROM usage_rows
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


class CostAlertError(RuntimeError):
    """The cost alert reached no route; the claim was released so a retry sends it."""


def load_config(config: CostConfig | None = None) -> CostConfig:
    from salestalk.config.cost import load_cost_config

    return config or load_cost_config()


def usage_relation(d: Dialect, config: CostConfig) -> str:
    """The per-query credits relation of this backend, each part checked (left unquoted: the account
    usage view's names are upper-case on Snowflake, the seeded table's lower-case on DuckDB)."""
    from salestalk.warehouse.dialect import check_identifier

    name = getattr(config.attribution, d.name)
    return ".".join(check_identifier(part) for part in name.split("."))


def attribution_sql(d: Dialect, relation: str) -> str:
    """The attribution query for ``d``: binds are the UTC start (inclusive) and end (exclusive)."""
    ts = d.column_type("timestamp")
    utc_day = d.utc_date.format(value="start_time")
    # The guard keeps JSON parsing to our own tags: other tools' tags need not be JSON.
    usage_rows = (
        f"SELECT {utc_day} AS utc_day, CASE WHEN query_tag LIKE '{TAG_PREFIX}%' THEN query_tag END AS query_tag, "
        f"credits_attributed_compute, credits_used_query_acceleration FROM {relation} "
        f"WHERE start_time >= CAST(? AS {ts}) AND start_time < CAST(? AS {ts}) "
        f"AND query_tag LIKE '{TAG_PREFIX}%'"
    )
    return f"WITH usage_rows AS ({usage_rows})\n{d.transpile(ATTRIBUTION_SQL.strip())}"


def _usage_present(s: Session, relation: str) -> bool:
    """Whether a ``schema.table`` relation in the session's database exists (the seeded table exists once
    seeded); a ``database.schema.view`` such as the account usage view is taken to exist."""
    from salestalk.warehouse.tables import table_exists

    parts = relation.split(".")
    return len(parts) != 2 or table_exists(s, parts[0], parts[1])


def _utc_midnight(day: dt.date) -> str:
    return format_utc(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def cost_by_day(
    warehouse: Warehouse, *, since: dt.date, until: dt.date, config: CostConfig | None = None
) -> list[dict]:
    """Credits and dollars per UTC day, source and tenant, ``since`` to ``until`` (both included),
    sorted by day, source, tenant: ``{"day", "source", "tenant", "credits", "cost_usd"}``."""
    config = load_config(config)
    with warehouse.connect(tag={"step": "cost_attribution"}) as s:
        relation = usage_relation(s.dialect, config)
        if not _usage_present(s, relation):
            log.info("no usage table %s in %s yet: no cost recorded", relation, warehouse.location)
            return []
        rows = s.fetchall(
            attribution_sql(s.dialect, relation),
            [_utc_midnight(since), _utc_midnight(until + dt.timedelta(days=1))],
        )
    out = []
    for day, source, tenant, credits in rows:
        credits = float(credits or 0)
        out.append(
            {
                "day": day if type(day) is dt.date else as_utc(day).date(),
                "source": str(source),
                "tenant": str(tenant),
                "credits": round(credits, 6),
                "cost_usd": round(credits * config.price_per_credit_usd, 4),
            }
        )
    return sorted(out, key=lambda r: (r["day"], r["source"], r["tenant"]))


def top_spenders(rows: list[dict], n: int) -> list[dict]:
    """The ``n`` (source, tenant) pairs that spent most in ``rows``, most first."""
    totals: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        pair = totals.setdefault((row["source"], row["tenant"]), [0.0, 0.0])
        pair[0] += row["credits"]
        pair[1] += row["cost_usd"]
    ranked = sorted(totals.items(), key=lambda item: (-item[1][1], item[0]))[:n]
    return [
        {"source": s, "tenant": t, "credits": round(c, 6), "cost_usd": round(usd, 2)}
        for (s, t), (c, usd) in ranked
    ]


def month_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of ``today``'s month."""
    return today.replace(day=1), today.replace(day=calendar.monthrange(today.year, today.month)[1])


def project(spent: float, daily: dict[dt.date, float], today: dt.date, method: str) -> float:
    """Month-end spend from month to date ``spent`` (up to and including ``today``) and ``daily`` costs."""
    first, last = month_bounds(today)
    if method == "linear":
        return spent / today.day * last.day
    window = [today - dt.timedelta(days=n) for n in range(1, TRAILING_DAYS + 1)]
    rate = sum(daily.get(day, 0.0) for day in window) / TRAILING_DAYS
    return spent + rate * (last - today).days


def _ensure_alert_table(s: Session) -> str:
    d = s.dialect
    s.execute(f"CREATE SCHEMA IF NOT EXISTS {d.ident(AUDIT)}")
    columns = ", ".join(f"{d.ident(c)} {d.column_type(t)}" for c, t in ALERT_COLUMNS.items())
    table = d.table(AUDIT, COST_ALERTS)
    s.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    return table


def _alert_rows(s: Session, month: str) -> list[tuple]:
    """(claim_id, claimed_at, sent_at or None) of ``month``'s claims, the winning (earliest) first.

    Whether a row was sent is tested in SQL: fakesnow's server returns a NULL TIMESTAMP_TZ as 1970-01-01.
    """
    from salestalk.warehouse.tables import table_exists

    d = s.dialect
    if not table_exists(s, AUDIT, COST_ALERTS):
        return []
    i = d.ident
    rows = s.fetchall(
        f"SELECT {i('claim_id')}, {i('claimed_at')}, {i('sent_at')}, {i('sent_at')} IS NOT NULL "
        f"FROM {d.table(AUDIT, COST_ALERTS)} WHERE {i('month')} = ? ORDER BY {i('claimed_at')}, {i('claim_id')}",
        [month],
    )
    return [(claim, claimed, sent if is_sent else None) for claim, claimed, sent, is_sent in rows]


def alerted_at(warehouse: Warehouse, month: str) -> str | None:
    """When ``month``'s cost alert was sent (ISO, UTC), or None."""
    with warehouse.connect(tag={"step": "cost_status"}) as s:
        sent = [as_utc(row[2]) for row in _alert_rows(s, month) if row[2] is not None]
    return format_utc(min(sent)) if sent else None


def budget_status(
    warehouse: Warehouse, *, today: dt.date, config: CostConfig | None = None
) -> dict[str, Any]:
    """The month of ``today``: budget, month-to-date spend, projection to month end, and whether either
    reached the threshold; ``alerted_at`` is when this month's alert was sent (None if not)."""
    config = load_config(config)
    first, _ = month_bounds(today)
    rows = cost_by_day(
        warehouse, since=min(first, today - dt.timedelta(days=TRAILING_DAYS)), until=today, config=config
    )
    daily: dict[dt.date, float] = {}
    for row in rows:
        daily[row["day"]] = daily.get(row["day"], 0.0) + row["cost_usd"]
    month_rows = [r for r in rows if r["day"] >= first]
    spent = sum(r["cost_usd"] for r in month_rows)
    projected = project(spent, daily, today, config.projection)
    threshold_usd = config.alert_threshold * config.budget_usd
    crossed_by = "spent" if spent >= threshold_usd else "projection" if projected >= threshold_usd else None
    month = first.strftime("%Y-%m")
    return {
        "month": month,
        "today": today.isoformat(),
        "budget_usd": config.budget_usd,
        "spent_usd": round(spent, 2),
        "projected_usd": round(projected, 2),
        "projection": config.projection,
        "alert_threshold": config.alert_threshold,
        "threshold_usd": round(threshold_usd, 2),
        "crossed": crossed_by is not None,
        "crossed_by": crossed_by,
        "alerted_at": alerted_at(warehouse, month),
        "top": top_spenders(month_rows, config.top_n),
    }


def cost_alert(status: dict[str, Any], *, run_id: str | None) -> Alert:
    """The month's one cost alert; its dedup key is the same for every run of the month."""
    from salestalk.alerting.payload import Alert

    budget = status["budget_usd"]
    top = status["top"]
    named = ", ".join(f"{t['source']}/{t['tenant']} ${t['cost_usd']:,.2f}" for t in top) or "none tagged"
    if status["crossed_by"] == "spent":
        reached = f"month-to-date spend ${status['spent_usd']:,.2f} is {status['spent_usd'] / budget:.0%}"
    else:
        reached = (
            f"projected month-end spend ${status['projected_usd']:,.2f} ({status['projection']}) is "
            f"{status['projected_usd'] / budget:.0%}"
        )
    what = (
        f"{status['month']}: {reached} of the ${budget:,.2f} monthly warehouse budget "
        f"(alert at {status['alert_threshold']:.0%}; spent ${status['spent_usd']:,.2f}, projected "
        f"${status['projected_usd']:,.2f}). Top spenders: {named}. Next: find what grew with "
        f"`python -m salestalk cost --month {status['month']}`, then follow {RUNBOOK}."
    )
    return Alert(
        alert_type="cost",
        source=ALERT_SOURCE,
        dag_id=DAG_ID,
        run_id=None,  # one incident per month, whichever run sees it first
        tenants=(),
        what=what,
        counts={
            "month": status["month"],
            "spent_usd": status["spent_usd"],
            "projected_usd": status["projected_usd"],
            "budget_usd": budget,
            "threshold_usd": status["threshold_usd"],
            "top": top,
        },
        incident=f"cost:{status['month']}",
        severity="error" if status["spent_usd"] >= budget else "warning",
        source_runbook=RUNBOOK,
        details={"crossed_by": status["crossed_by"], "projection": status["projection"], "run_id": run_id},
    )


def _claim(
    s: Session,
    status: dict[str, Any],
    claim_id: str,
    run_id: str | None,
    now: dt.datetime,
    stale_minutes: int,
) -> bool:
    """Claim the month's alert; True if this claim is the month's (earliest) unsent one."""
    d = s.dialect
    i = d.ident
    ts = d.column_type("timestamp")
    table = _ensure_alert_table(s)
    month = status["month"]
    # A claim never marked sent (its worker died) is released after stale_minutes.
    s.execute(
        f"DELETE FROM {table} WHERE {i('month')} = ? AND {i('sent_at')} IS NULL "
        f"AND {i('claimed_at')} < CAST(? AS {ts})",
        [month, format_utc(now - dt.timedelta(minutes=stale_minutes))],
    )
    columns = (
        "month",
        "claim_id",
        "claimed_at",
        "run_id",
        "crossed_by",
        "spent_usd",
        "projected_usd",
        "budget_usd",
    )
    s.execute(
        f"INSERT INTO {table} ({', '.join(i(c) for c in columns)}) "
        f"SELECT ?, ?, CAST(? AS {ts}), ?, ?, ?, ?, ? "
        f"WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE {i('month')} = ?)",
        [
            month,
            claim_id,
            format_utc(now),
            run_id,
            status["crossed_by"],
            status["spent_usd"],
            status["projected_usd"],
            status["budget_usd"],
            month,
        ],
    )
    rows = _alert_rows(s, month)
    won = bool(rows) and rows[0][0] == claim_id and rows[0][2] is None
    if not won:  # two claims raced in (Snowflake INSERTs do not serialise): the earliest wins
        _release(s, month, claim_id)
    return won


def _release(s: Session, month: str, claim_id: str) -> None:
    d = s.dialect
    s.execute(
        f"DELETE FROM {d.table(AUDIT, COST_ALERTS)} WHERE {d.ident('month')} = ? AND {d.ident('claim_id')} = ? "
        f"AND {d.ident('sent_at')} IS NULL",
        [month, claim_id],
    )


def _mark_sent(s: Session, month: str, claim_id: str, dedup_key: str, now: dt.datetime) -> None:
    d = s.dialect
    i = d.ident
    s.execute(
        f"UPDATE {d.table(AUDIT, COST_ALERTS)} SET {i('sent_at')} = CAST(? AS {d.column_type('timestamp')}), "
        f"{i('dedup_key')} = ? WHERE {i('month')} = ? AND {i('claim_id')} = ?",
        [format_utc(now), dedup_key, month, claim_id],
    )


def check_budget(
    warehouse: Warehouse,
    *,
    today: dt.date,
    run_id: str | None = None,
    now: dt.datetime | None = None,
    config: CostConfig | None = None,
    send: bool = True,
) -> dict[str, Any]:
    """The guardrail: the month's budget status, and its one alert when crossed and not yet sent.

    Returns the status with ``alert``: ``sent`` (with the routes' outcome), ``already_sent``,
    ``claimed_elsewhere``, ``not_crossed`` or ``not_sent`` (``send=False``). Raises CostAlertError when
    no route took the alert (the claim is released first, so the retry sends it).
    """
    from salestalk.alerting.routes import deliver

    config = load_config(config)
    now = now or dt.datetime.now(dt.UTC)
    status = budget_status(warehouse, today=today, config=config)
    if not status["crossed"]:
        return {**status, "alert": "not_crossed"}
    if status["alerted_at"]:
        log.info(
            "cost alert for %s already sent at %s; not sending again", status["month"], status["alerted_at"]
        )
        return {**status, "alert": "already_sent"}
    if not send:
        return {**status, "alert": "not_sent"}
    claim_id = uuid.uuid4().hex
    with warehouse.connect(tag={"step": "cost_alert"}) as s:
        if not _claim(s, status, claim_id, run_id, now, config.stale_claim_minutes):
            log.info("cost alert for %s claimed by another run; not sending", status["month"])
            return {**status, "alert": "claimed_elsewhere"}
    alert = cost_alert(status, run_id=run_id)
    outcome = deliver(alert, config.routes)
    with warehouse.connect(tag={"step": "cost_alert"}) as s:
        if all(result.startswith("error") for result in outcome.values()):
            _release(s, status["month"], claim_id)
            raise CostAlertError(
                f"the cost alert for {status['month']} reached no route ({outcome}); the retry sends it again"
            )
        _mark_sent(s, status["month"], claim_id, alert.dedup_key, now)
    return {
        **status,
        "alert": "sent",
        "alerted_at": format_utc(now),
        "dedup_key": alert.dedup_key,
        "routes": outcome,
    }


def render(status: dict[str, Any]) -> str:
    """The status as a short aligned table for the task log and the CLI."""
    budget = status["budget_usd"]
    lines = [
        f"warehouse cost {status['month']} (as of {status['today']})",
        f"  month to date  ${status['spent_usd']:>12,.2f}  {status['spent_usd'] / budget:6.1%} of budget",
        f"  projected      ${status['projected_usd']:>12,.2f}  {status['projected_usd'] / budget:6.1%}  ({status['projection']})",
        f"  budget         ${budget:>12,.2f}  alert at {status['alert_threshold']:.0%} = ${status['threshold_usd']:,.2f}",
        f"  crossed        {('yes, by ' + status['crossed_by']) if status['crossed'] else 'no'}"
        f"; alert sent {status['alerted_at'] or 'never'}",
        "  top spenders (source / tenant, month to date):",
    ]
    for row in status["top"] or []:
        lines.append(
            f"    {row['source']:<24} {row['tenant']:<16} ${row['cost_usd']:>10,.2f}  {row['credits']:>10.3f} credits"
        )
    if not status["top"]:
        lines.append("    none: no tagged usage this month")
    if status.get("alert") and status["alert"] != "not_crossed":
        lines.append(
            f"  alert: {status['alert']}" + (f" -> {status['routes']}" if status.get("routes") else "")
        )
    if status["crossed"]:
        lines.append(f"  next: follow {RUNBOOK}")
    return "\n".join(lines)


def run_guardrail(interval_end: dt.datetime, run_id: str | None) -> dict[str, Any]:
    """The DAG's task: check the budget as of the day the run's interval ends in (UTC), log the table."""
    from salestalk.warehouse import open_warehouse

    today = (interval_end.astimezone(dt.UTC) - dt.timedelta(microseconds=1)).date()
    result = check_budget(open_warehouse(), today=today, run_id=run_id)
    (log.warning if result["crossed"] else log.info)("%s", render(result))
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in result.items()}
