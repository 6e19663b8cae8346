"""The data-quality dashboard's data: per source and tenant, over time. Airflow-free.

Everything comes from the warehouse through the :class:`~salestalk.warehouse.base.Warehouse` interface:

- ``audit.batch_results``, one row per batch and step (salestalk.warehouse.tables), gives per batch:
  - **freshness**: minutes from the interval's end to its publish, against ``freshness_target_minutes``;
  - **completeness**: rows accounted for in curated / rows extracted (salestalk.alerting.dq), against
    ``alerting.data_quality.min_completeness``;
  - **DQ error rate**: validate's failing share, against ``alerting.data_quality.max_error_rate`` (0.1%);
  - **quarantined rows by reason**: the quarantine step's reason counts;
  - **anomalies**: what validate's detectors found (salestalk.quality.anomaly), and the publish hold;
- the freshness diagnosis now (salestalk.freshness.diagnose), per source and tenant;
- cost per day, source and tenant, and the month against its budget (salestalk.cost), when present.

:func:`collect` reads it; :func:`charts` turns it into Vega-Lite specs (data inlined). Links are paths
under the Airflow UI (``ui_base``): a batch's run, its quarantined rows, the Data Docs, and the runbooks
(repository paths; the page renders them with the docs base URL).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from salestalk.batch import as_utc, format_utc
from salestalk.names import AUDIT, BATCH_RESULTS, LOAD, PUBLISH, QUARANTINE, VALIDATE

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Warehouse

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30
MAX_DAYS = 366
DATA_DOCS_PATH = "/data-docs"
QUARANTINE_PAGE = "_quarantine"
NO_ANOMALY = "none"
# Which runbook explains each panel (salestalk.config.alerting.runbook_for names them).
PANEL_RUNBOOKS = {
    "freshness": "freshness",
    "completeness": "completeness",
    "error_rate": "dq_error_rate",
    "quarantine": "quarantine_redrive",
    "anomalies": "anomaly",
    "cost": None,
}


@dataclass(frozen=True)
class Window:
    """The business days shown: intervals starting in ``[since, until)``."""

    since: dt.date
    until: dt.date

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise ValueError(f"empty time range {self.since} .. {self.until}")
        if (self.until - self.since).days > MAX_DAYS:
            raise ValueError(f"time range longer than {MAX_DAYS} days")


@dataclass
class Dashboard:
    window: Window
    sources: list[str]
    tenant: str | None
    batches: list[dict[str, Any]] = field(default_factory=list)
    freshness_now: list[dict[str, Any]] = field(default_factory=list)
    cost_days: list[dict[str, Any]] | None = None
    budget: dict[str, Any] | None = None
    cost_note: str = ""


def run_path(dag_id: str, run_id: str, ui_base: str = "") -> str:
    """The Airflow UI's page of one DAG run (a path under the UI)."""
    return f"{ui_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def quarantine_path(source: str, tenant: str, interval_start: dt.datetime, ui_base: str = "") -> str:
    """The Data Docs plugin's page of one batch's quarantined rows (salestalk.operators.links)."""
    query = urlencode({"source": source, "tenant": tenant, "interval": format_utc(interval_start)})
    return f"{ui_base}{DATA_DOCS_PATH}/{QUARANTINE_PAGE}?{query}"


def default_window(warehouse: Warehouse, sources: list[str], days: int = DEFAULT_DAYS) -> Window:
    """At most ``days`` up to and including the newest recorded interval, starting no earlier than the
    oldest recorded one (so a short history fills the charts); today when nothing is recorded."""
    from salestalk.warehouse.tables import table_exists

    oldest = newest = None
    with warehouse.connect(tag={"step": "dashboard"}) as s:
        d, i = s.dialect, s.dialect.ident
        if sources and table_exists(s, AUDIT, BATCH_RESULTS):
            marks = ", ".join("?" for _ in sources)
            oldest, newest = s.fetchall(
                f"SELECT MIN({i('interval_start')}), MAX({i('interval_start')}) "
                f"FROM {d.table(AUDIT, BATCH_RESULTS)} WHERE {i('source')} IN ({marks})",
                sources,
            )[0]
    last = as_utc(newest).date() if newest else dt.datetime.now(dt.UTC).date()
    first = max(last - dt.timedelta(days=days - 1), as_utc(oldest).date() if oldest else last)
    return Window(first, last + dt.timedelta(days=1))


def read_steps(
    warehouse: Warehouse, sources: list[str], window: Window, tenant: str | None = None
) -> dict[tuple[str, str, dt.datetime], dict[str, Any]]:
    """``{(source, tenant, interval_start): {"end", "steps": {step: (result, recorded_at, run_id)}}}``."""
    from salestalk.warehouse.tables import table_exists

    found: dict[tuple[str, str, dt.datetime], dict[str, Any]] = {}
    if not sources:
        return found
    with warehouse.connect(tag={"step": "dashboard"}) as s:
        d, i = s.dialect, s.dialect.ident
        if not table_exists(s, AUDIT, BATCH_RESULTS):
            return found
        ts = d.column_type("timestamp")
        where = (
            f"{i('source')} IN ({', '.join('?' for _ in sources)}) AND {i('interval_start')} >= CAST(? AS {ts}) "
            f"AND {i('interval_start')} < CAST(? AS {ts})"
        )
        params: list[Any] = [*sources, f"{window.since}T00:00:00Z", f"{window.until}T00:00:00Z"]
        if tenant:
            where += f" AND {i('tenant')} = ?"
            params.append(tenant)
        rows = s.fetchall(
            f"SELECT {i('source')}, {i('tenant')}, {i('interval_start')}, {i('interval_end')}, {i('run_id')}, "
            f"{i('step')}, {i('result')}, {i('recorded_at')} FROM {d.table(AUDIT, BATCH_RESULTS)} WHERE {where}",
            params,
        )
    for source, tenant_id, start, end, run_id, step, result, recorded in rows:
        batch = found.setdefault((source, tenant_id, as_utc(start)), {"end": as_utc(end), "steps": {}})
        batch["steps"][step] = (json.loads(result), as_utc(recorded), run_id)
    return found


def batch_row(source: SourceConfig, tenant: str, start: dt.datetime, found: dict[str, Any]) -> dict[str, Any]:
    """One batch's dashboard figures from its recorded steps (pure)."""
    from salestalk.alerting.dq import completeness

    steps = found["steps"]
    results = {step: value[0] for step, value in steps.items()}
    validation, publish = results.get(VALIDATE, {}), results.get(PUBLISH)
    latest_step = max(steps.values(), key=lambda v: v[1] or dt.datetime.min.replace(tzinfo=dt.UTC))
    run_id = steps[PUBLISH][2] if PUBLISH in steps else latest_step[2]
    freshness = None
    if publish is not None and publish.get("published") is not None and not publish.get("held_back"):
        published_at = steps[PUBLISH][1]
        freshness = round(max((published_at - found["end"]).total_seconds() / 60, 0.1), 1)
    error_rate = validation.get("error_rate")
    if publish is None:
        status = "unfinished"
    elif publish.get("held_back"):
        status = "held back"
    else:
        status = "published"
    quality = source.alerting.data_quality
    share = completeness(results)
    return {
        "source": source.name,
        "tenant": tenant,
        "series": f"{source.name} / {tenant}",
        "interval_start": format_utc(start),
        "day": start.date().isoformat(),
        "dag_id": source.dag_id,
        "run_id": run_id,
        "status": status,
        "held_back": (publish or {}).get("held_back"),
        "extracted": results.get(LOAD, {}).get("landed"),
        "published": (publish or {}).get("published"),
        "freshness_minutes": freshness,
        "freshness_target_minutes": source.freshness_target_minutes,
        "completeness": None if share is None else round(share, 6),
        "min_completeness": quality.min_completeness,
        "error_rate": None if error_rate is None else round(float(error_rate), 6),
        "max_error_rate": quality.max_error_rate,
        "quarantined": int(results.get(QUARANTINE, {}).get("quarantined") or 0),
        "reasons": dict(results.get(QUARANTINE, {}).get("reasons") or validation.get("reasons") or {}),
        "anomalies": [
            {"detector": a["detector"], "mode": a["mode"], "what": a["what"]}
            for a in validation.get("anomalies") or []
        ],
    }


def batches(
    warehouse: Warehouse,
    sources: list[SourceConfig],
    window: Window,
    tenant: str | None = None,
    ui_base: str = "",
) -> list[dict[str, Any]]:
    """Every recorded batch of ``sources`` in ``window`` (of ``tenant`` only, if given), oldest first,
    with the paths of its run and (when it has any) its quarantined rows under ``ui_base``."""
    by_name = {s.name: s for s in sources}
    found = read_steps(warehouse, sorted(by_name), window, tenant)
    rows = []
    for source, tenant_id, start in sorted(found, key=lambda k: (k[2], k[0], k[1])):
        row = batch_row(by_name[source], tenant_id, start, found[(source, tenant_id, start)])
        row["run_url"] = run_path(row["dag_id"], row["run_id"], ui_base)
        row["quarantine_url"] = (
            quarantine_path(source, tenant_id, start, ui_base) if row["quarantined"] else ""
        )
        rows.append(row)
    return rows


def freshness_now(
    warehouse: Warehouse,
    sources: list[SourceConfig],
    now: dt.datetime,
    tenant: str | None = None,
    downstream_ran_at: Any = None,
) -> list[dict[str, Any]]:
    """The freshness monitor's diagnosis per source and tenant as of ``now`` (salestalk.freshness);
    ``downstream_ran_at`` as :func:`salestalk.freshness.diagnose` takes it."""
    from salestalk.freshness import diagnose

    rows = []
    for diagnosis in diagnose(warehouse, sources, now, downstream_ran_at=downstream_ran_at):
        if tenant and diagnosis.observation.tenant != tenant:
            continue
        row = diagnosis.as_row()
        row["problem"] = diagnosis.classification.is_problem
        rows.append(row)
    return rows


def cost(
    warehouse: Warehouse,
    window: Window,
    today: dt.date,
    sources: list[str],
    tenant: str | None,
    *,
    every_source: bool = False,
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None, str]:
    """Cost per day, source and tenant in ``window``, and this month's budget status (salestalk.cost).
    ``every_source`` keeps spend no source is named for (shared readers), as the budget counts it."""
    try:
        from salestalk import cost as cost_module
    except ImportError:
        return None, None, "cost attribution is not installed (salestalk.cost)"
    try:
        last = window.until - dt.timedelta(days=1)  # cost_by_day includes its ``until``
        days = cost_module.cost_by_day(warehouse, since=window.since, until=last)
        budget = cost_module.budget_status(warehouse, today=today)
    except Exception as error:  # the other panels must still render
        log.warning("dashboard: cost data unavailable: %s", error)
        return None, None, f"cost data unavailable: {error}"
    kept = [
        {**row, "day": str(row["day"]), "series": f"{row['source']} / {row['tenant']}"}
        for row in days
        if (every_source or row.get("source") in sources) and (not tenant or row.get("tenant") == tenant)
    ]
    return kept, budget, "" if kept else "no warehouse cost recorded in this range (salestalk.cost)"


def collect(
    warehouse: Warehouse,
    sources: list[SourceConfig],
    *,
    window: Window | None = None,
    tenant: str | None = None,
    now: dt.datetime | None = None,
    ui_base: str = "",
    every_source: bool = True,
    downstream_ran_at: Any = None,
) -> Dashboard:
    """Everything the dashboard shows, for ``sources`` (and ``tenant``) over ``window``; links are paths
    under ``ui_base`` (the Airflow UI's path prefix, "" at the root). ``every_source``: no source filter
    was asked for, so cost not attributed to one of ``sources`` is shown too. ``downstream_ran_at``: when
    the downstream job really ran (salestalk.ops.downstream_runs), else assumed from its schedule."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    names = sorted(s.name for s in sources)
    window = window or default_window(warehouse, names)
    board = Dashboard(window=window, sources=names, tenant=tenant)
    board.batches = batches(warehouse, sources, window, tenant, ui_base)
    board.freshness_now = freshness_now(warehouse, sources, now, tenant, downstream_ran_at)
    board.cost_days, board.budget, board.cost_note = cost(
        warehouse, window, now.date(), names, tenant, every_source=every_source
    )
    return board


# -- charts ------------------------------------------------------------------------------------------


def _base(title: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": "container",
        "height": 180,
        "data": {"values": values},
    }


def _day(board: Dashboard) -> dict[str, Any]:
    return {
        "field": "day",
        "type": "temporal",
        "timeUnit": "utcyearmonthdate",
        "title": "business day (UTC)",
        # Half a day either side: each day's mark sits in the middle of its slot, also for a single day.
        "scale": {
            "domain": [
                f"{board.window.since - dt.timedelta(days=1)}T12:00:00Z",
                f"{board.window.until - dt.timedelta(days=1)}T12:00:00Z",
            ]
        },
    }


def _series() -> dict[str, Any]:
    return {"field": "series", "type": "nominal", "title": "source / tenant"}


def _against_line(
    board: Dashboard, name: str, title: str, field_name: str, line_field: str, axis: dict[str, Any]
) -> dict[str, Any]:
    """Each series over time, with the target or limit as a dashed rule."""
    values = [b for b in board.batches if b[field_name] is not None]
    lines = sorted({b[line_field] for b in board.batches})
    tooltip = [
        {"field": "series", "title": "source / tenant"},
        {"field": "interval_start", "title": "interval"},
        {"field": field_name, "title": title, **({"format": axis["format"]} if "format" in axis else {})},
        {"field": "status"},
        {"field": "run_id", "title": "run"},
    ]
    spec = _base(title, values)
    spec["layer"] = [
        {
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": _day(board),
                "y": {"field": field_name, "type": "quantitative", **axis},
                "color": _series(),
                "tooltip": tooltip,
                "href": {"field": "run_url"},
            },
        },
        {
            "data": {"values": [{line_field: v} for v in lines]},
            "mark": {"type": "rule", "color": "#c0392b", "strokeDash": [6, 4]},
            "encoding": {"y": {"field": line_field, "type": "quantitative"}},
        },
    ]
    spec["usermeta"] = {"panel": name}
    return spec


def charts(board: Dashboard) -> dict[str, Any]:
    """The Vega-Lite spec of each panel, data inlined; a mark links to its batch's run or quarantined rows."""
    specs = {
        "freshness": _against_line(
            board,
            "freshness",
            "Minutes from interval end to publish (log scale; dashed: target)",
            "freshness_minutes",
            "freshness_target_minutes",
            {"title": "minutes", "scale": {"type": "log"}},
        ),
        "completeness": _against_line(
            board,
            "completeness",
            "Completeness: rows accounted for / extracted (dashed: alert line)",
            "completeness",
            "min_completeness",
            {"title": "completeness", "format": ".2%", "axis": {"format": ".1%"}},
        ),
        "error_rate": _against_line(
            board,
            "error_rate",
            "DQ error rate: failing / validated rows (dashed: the limit)",
            "error_rate",
            "max_error_rate",
            {"title": "error rate", "format": ".3%", "axis": {"format": ".2%"}},
        ),
    }
    quarantined = [
        {
            "day": b["day"],
            "series": b["series"],
            "reason": reason,
            "rows": int(n),
            "interval_start": b["interval_start"],
            "quarantine_url": b["quarantine_url"],
        }
        for b in board.batches
        for reason, n in sorted(b["reasons"].items())
        if n
    ]
    spec = _base("Quarantined rows by reason", quarantined)
    spec.update(
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": {**_day(board), "bandPosition": 0},
                "y": {"aggregate": "sum", "field": "rows", "type": "quantitative", "title": "rows"},
                "color": {"field": "reason", "type": "nominal", "legend": {"labelLimit": 320}},
                "href": {"field": "quarantine_url"},
                "tooltip": [
                    {"field": "series", "title": "source / tenant"},
                    {"field": "reason"},
                    {"aggregate": "sum", "field": "rows", "title": "rows"},
                ],
            },
            "usermeta": {"panel": "quarantine"},
        }
    )
    specs["quarantine"] = spec
    checked = []
    for b in board.batches:
        found = b["anomalies"] or [{"detector": NO_ANOMALY, "mode": "", "what": "no anomaly"}]
        checked.extend(
            {
                "day": b["day"],
                "series": b["series"],
                "detector": a["detector"],
                "mode": a["mode"],
                "what": a["what"],
                "run_url": b["run_url"],
            }
            for a in found
        )
    spec = _base("Anomaly checks per batch (grey: none found)", checked)
    spec["height"] = {"step": 24}
    spec.update(
        {
            "mark": {"type": "point", "filled": True, "size": 120},
            "encoding": {
                "x": _day(board),
                "y": _series(),
                "color": {
                    "field": "detector",
                    "type": "nominal",
                    "scale": {
                        "domain": [NO_ANOMALY, "volume", "nulls", "drift", "freshness"],
                        "range": ["#bbbbbb", "#e67e22", "#8e44ad", "#2980b9", "#c0392b"],
                    },
                },
                "shape": {"field": "mode", "type": "nominal", "title": "mode"},
                "href": {"field": "run_url"},
                "tooltip": [{"field": "series"}, {"field": "detector"}, {"field": "mode"}, {"field": "what"}],
            },
            "usermeta": {"panel": "anomalies"},
        }
    )
    specs["anomalies"] = spec
    if board.cost_days:
        spec = _base("Warehouse cost per day (USD)", board.cost_days)
        spec.update(
            {
                "mark": {"type": "bar", "tooltip": True},
                "encoding": {
                    "x": {**_day(board), "bandPosition": 0},
                    "y": {"aggregate": "sum", "field": "cost_usd", "type": "quantitative", "title": "USD"},
                    "color": _series(),
                    "tooltip": [
                        {"field": "series", "title": "source / tenant"},
                        {"aggregate": "sum", "field": "cost_usd", "title": "USD", "format": ".2f"},
                        {"aggregate": "sum", "field": "credits", "title": "credits", "format": ".3f"},
                    ],
                },
                "usermeta": {"panel": "cost"},
            }
        )
        specs["cost"] = spec
    if board.budget:
        specs["budget"] = budget_chart(board.budget)
    return specs


def budget_chart(budget: dict[str, Any]) -> dict[str, Any]:
    """Month-to-date spend and its projection against the budget and the alert threshold."""
    limit = float(budget["budget_usd"])
    threshold = float(budget.get("alert_threshold") or 0.8)
    values = [
        {"measure": "spent so far", "usd": float(budget["spent_usd"])},
        {"measure": "projected to month end", "usd": float(budget["projected_usd"])},
    ]
    spec = _base(f"Budget {budget['month']}: {limit:,.2f} USD (dashed: {threshold:.0%} alert)", values)
    spec["height"] = 90
    spec["layer"] = [
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "measure", "type": "nominal", "title": None},
                "x": {
                    "field": "usd",
                    "type": "quantitative",
                    "title": "USD",
                    "scale": {"domainMin": 0, "domainMax": max(limit, *(v["usd"] for v in values)) * 1.05},
                },
                "color": {
                    "condition": {"test": f"datum.usd >= {threshold * limit}", "value": "#c0392b"},
                    "value": "#2c7fb8",
                },
            },
        },
        {
            "data": {
                "values": [{"usd": limit, "line": "budget"}, {"usd": threshold * limit, "line": "alert"}]
            },
            "mark": {"type": "rule", "strokeDash": [6, 4]},
            "encoding": {
                "x": {"field": "usd", "type": "quantitative"},
                "color": {"value": "#7f8c8d"},
                "tooltip": [{"field": "line"}, {"field": "usd", "format": ",.2f"}],
            },
        },
    ]
    spec["usermeta"] = {"panel": "budget"}
    return spec
