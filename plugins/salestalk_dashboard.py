"""Airflow plugin: the data-quality dashboard at ``/dq-dashboard/``, behind the Airflow login, in the UI's nav.

One page, per source and tenant over a time range: freshness against the target, completeness, the DQ
error rate against its 0.1% line, quarantined rows by reason, anomalies, and cost against the monthly
budget. The figures come from the warehouse (salestalk.dashboard, Airflow-free); the charts are
Vega-Lite specs drawn by the vendored Vega, Vega-Lite and Vega-Embed of ``salestalk_data_docs_static/``
(served here at ``/dq-dashboard/_static/``), so the page works with no internet. Each chart's marks, and
the table under them, link to the batch's run in the Airflow UI and its quarantined rows
(``/data-docs/_quarantine``); each panel links its runbook, and the page the GX Data Docs.

Query parameters, all optional: ``source`` (one source), ``tenant``, ``since`` and ``until`` (business
days, ``until`` exclusive; default the 30 days up to the newest recorded interval).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.plugins_manager import AirflowPlugin

from salestalk.plugin_apps import LazyFastAPIApps

if TYPE_CHECKING:
    from salestalk.dashboard import Dashboard

URL_PREFIX = "/dq-dashboard"
STATIC_PAGE = "_static"
# The Data Docs plugin's vendored assets: the dashboard reuses them instead of keeping copies.
STATIC_DIR = Path(__file__).resolve().parent / "salestalk_data_docs_static"
SCRIPTS = (
    "vega@5.33.1/build/vega.min.js",
    "vega-lite@5.23.0/build/vega-lite.min.js",
    "vega-embed@6.29.0/build/vega-embed.min.js",
)
STYLESHEET = "bootstrap@4.3.1/dist/css/bootstrap.min.css"
ASSETS = frozenset((*SCRIPTS, STYLESHEET))
PANELS = (
    (
        "freshness",
        "Freshness",
        "Minutes from each interval's end until its rows were published, per source "
        "and tenant; the dashed line is the source's freshness target. Click a point for its run.",
    ),
    (
        "completeness",
        "Completeness",
        "Rows accounted for in the curated table (published, stale versions "
        "skipped, exact duplicates) over rows extracted; the dashed line is the alert threshold.",
    ),
    (
        "error_rate",
        "DQ error rate",
        "Failing rows over validated rows per batch; the dashed line is the "
        "0.1% limit above which the batch is alerted and its publish held back.",
    ),
    (
        "quarantine",
        "Quarantined rows by reason",
        "Rows set aside by the rules, by failing rule; click a bar for the batch's quarantined rows.",
    ),
    (
        "anomalies",
        "Anomalies",
        "What the volume, null, drift and freshness detectors found before publish, "
        "per batch (shape: warn or hold).",
    ),
    ("cost", "Cost", "Warehouse cost per day, attributed to source and tenant from the query tags."),
    ("budget", "Budget", "Month-to-date spend and its projection to month end against the monthly budget."),
)
RUNBOOKS = {
    "freshness": "freshness",
    "completeness": "completeness",
    "error_rate": "dq_error_rate",
    "quarantine": "quarantine_redrive",
    "anomalies": "anomaly",
}


def ui_base() -> str:
    """The path of the api-server's ``[api] base_url`` ("" at the root)."""
    from airflow.configuration import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def parse_filters(
    source: str | None, tenant: str | None, since: str | None, until: str | None, configs: dict
) -> tuple[list[Any], str | None, Any]:
    """The sources, tenant and window the query asks for; ValueError (HTTP 400) naming a bad value."""
    from salestalk.dashboard import DEFAULT_DAYS, Window
    from salestalk.tenancy import validate_tenant_id

    if source and source not in configs:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(sorted(configs))}")
    sources = [configs[source]] if source else [configs[n] for n in sorted(configs)]
    if tenant:
        validate_tenant_id(tenant)
    window = None
    if since or until:
        last = dt.date.fromisoformat(until) if until else None
        first = dt.date.fromisoformat(since) if since else None
        if last is None:
            last = first + dt.timedelta(days=DEFAULT_DAYS)
        if first is None:
            first = last - dt.timedelta(days=DEFAULT_DAYS)
        window = Window(first, last)
    return sources, tenant or None, window


def _runbook_link(kind: str) -> str:
    from salestalk.config.alerting import runbook_for
    from salestalk.dagfactory import runbook_url_for

    return f'<a class="runbook" href="{html.escape(runbook_url_for(runbook_for(kind)))}">runbook</a>'


def _cost_runbook(panel: str) -> str:
    """The cost runbook's link for the cost and budget panels, when the cost guardrail is installed."""
    if panel not in ("cost", "budget"):
        return ""
    try:
        from salestalk.cost import RUNBOOK
    except ImportError:
        return ""
    from salestalk.dagfactory import runbook_url_for

    return f' · <a class="runbook" href="{html.escape(runbook_url_for(RUNBOOK))}">runbook</a>'


def _pct(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}%}"


def render(
    board: Dashboard, specs: dict[str, Any], configs: dict, base: str, freshness_note: str = ""
) -> str:
    """The dashboard page: filters, one chart per panel with its runbook, then the batches with links."""
    from salestalk.dagfactory import runbook_url

    e = html.escape
    here = f"{base}{URL_PREFIX}/"
    static = f"{here}{STATIC_PAGE}/"
    from salestalk.tenant_registry import all_tenants

    tenants = all_tenants(configs.values(), any_status=True)

    def options(values: list[str], chosen: str | None, every: str) -> str:
        items = [f'<option value="">{every}</option>']
        items += [f"<option{' selected' if v == chosen else ''}>{e(v)}</option>" for v in values]
        return "".join(items)

    chosen_source = board.sources[0] if len(board.sources) == 1 and len(configs) > 1 else None
    panels = []
    for name, title, what in PANELS:
        if name not in specs:
            if name == "cost":
                panels.append(
                    f'<section id="panel-cost"><h2 class="h5">{title}</h2><p>{e(board.cost_note)}</p></section>'
                )
            continue
        runbook = f" · {_runbook_link(RUNBOOKS[name])}" if name in RUNBOOKS else _cost_runbook(name)
        panels.append(
            f'<section id="panel-{name}" class="mb-3"><h2 class="h5">{title}</h2>'
            f'<p class="text-muted small mb-1">{e(what)}{runbook}</p>'
            f'<div class="chart" id="chart-{name}" data-panel="{name}"></div></section>'
        )
    budget = ""
    if board.budget:
        b = board.budget
        crossed = "crossed" if b.get("crossed") else "not crossed"
        alerted = f", alerted at {e(str(b['alerted_at']))}" if b.get("alerted_at") else ""
        budget = (
            f"<p>Month {e(str(b['month']))}: spent {float(b['spent_usd']):,.2f} USD, projected "
            f"{float(b['projected_usd']):,.2f} USD of {float(b['budget_usd']):,.2f} USD; the "
            f"{float(b['alert_threshold']):.0%} alert line is {crossed}{alerted}.</p>"
        )
    fresh_rows = "".join(
        f"<tr class='{'table-warning' if r['problem'] else ''}'><td>{e(r['source'])}</td><td>{e(r['tenant'])}</td>"
        f"<td>{e(r['classification'])}</td><td>{'' if r['load_age_minutes'] is None else r['load_age_minutes']}</td>"
        f"<td>{e(str(r['latest_business_date'] or ''))}</td><td>{e(r['reason'])}</td></tr>"
        for r in board.freshness_now
    )
    batch_rows = "".join(
        f"<tr><td>{e(b['interval_start'])}</td><td>{e(b['source'])}</td><td>{e(b['tenant'])}</td>"
        f"<td>{e(b['status'])}</td><td class='text-right'>{b['extracted'] if b['extracted'] is not None else ''}</td>"
        f"<td class='text-right'>{_pct(b['error_rate'], 3)}</td><td class='text-right'>{_pct(b['completeness'])}</td>"
        f"<td class='text-right'>{b['quarantined']}</td>"
        f"<td>{e('; '.join(a['detector'] + ' (' + a['mode'] + ')' for a in b['anomalies']))}</td>"
        f"<td><a class='run-link' href='{e(b['run_url'])}'>run</a>"
        + (
            f" · <a class='quarantine-link' href='{e(b['quarantine_url'])}'>quarantined rows</a>"
            if b["quarantine_url"]
            else ""
        )
        + "</td></tr>"
        for b in reversed(board.batches)
    )
    source_runbooks = " · ".join(
        f'<a class="runbook" href="{e(runbook_url(configs[n]))}">{e(n)}</a>' for n in board.sources
    )
    embedded = json.dumps(specs, default=str).replace("</", "<\\/")
    scripts = "".join(f'<script src="{static}{s}"></script>' for s in SCRIPTS)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SalesTalk data quality</title>
<link rel="stylesheet" href="{static}{STYLESHEET}">
<style>.chart{{width:100%;min-height:120px}} .vega-embed{{width:100%}} body{{font-size:.9rem}}</style>
</head><body><main class="container-fluid p-3">
<h1 class="h3">SalesTalk data quality</h1>
<form class="form-inline mb-2" method="get" action="{here}">
<label class="mr-1">source</label><select class="form-control form-control-sm mr-2" name="source">{options(sorted(configs), chosen_source, "every source")}</select>
<label class="mr-1">tenant</label><select class="form-control form-control-sm mr-2" name="tenant">{options(tenants, board.tenant, "every tenant")}</select>
<label class="mr-1">from</label><input class="form-control form-control-sm mr-2" type="date" name="since" value="{board.window.since}">
<label class="mr-1">until (exclusive)</label><input class="form-control form-control-sm mr-2" type="date" name="until" value="{board.window.until}">
<button class="btn btn-sm btn-primary" type="submit">Show</button></form>
<p class="small">Business days {board.window.since} to {board.window.until - dt.timedelta(days=1)}, {len(board.batches)} batch(es).
Links: <a id="data-docs" href="{base}/data-docs/index.html">GX Data Docs</a> ·
source runbooks: {source_runbooks} · <a class="runbook" href="{e(runbook_url_for_index())}">all runbooks</a></p>
{budget}
{"".join(panels)}
<h2 class="h5">Freshness now {_runbook_link("freshness")}</h2>
<table class="table table-sm w-auto"><thead><tr><th>source</th><th>tenant</th><th>diagnosis</th>
<th>load age (min)</th><th>newest business date</th><th>why</th></tr></thead><tbody>{fresh_rows}</tbody></table>
<p class="small text-muted">{e(freshness_note)}</p>
<h2 class="h5">Batches</h2>
<table class="table table-sm table-striped" id="batches"><thead><tr><th>interval</th><th>source</th><th>tenant</th>
<th>status</th><th>extracted</th><th>error rate</th><th>completeness</th><th>quarantined</th><th>anomalies</th>
<th>links</th></tr></thead><tbody>{batch_rows or "<tr><td colspan='10'>no batch recorded in this range</td></tr>"}</tbody></table>
</main>
{scripts}
<script id="dashboard-specs" type="application/json">{embedded}</script>
<script>
window.dashboardViews = {{}};
window.dashboardReady = Promise.all(Object.entries(JSON.parse(
    document.getElementById("dashboard-specs").textContent)).map(([name, spec]) =>
  vegaEmbed("#chart-" + name, spec, {{renderer: "svg", actions: false}})
    .then(result => {{ window.dashboardViews[name] = result.view; }})));
</script>
</body></html>
"""


def runbook_url_for_index() -> str:
    from salestalk.dagfactory import runbook_url_for

    return runbook_url_for("docs/runbooks/README.md")


def create_app():
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse

    app = FastAPI(title="SalesTalk data quality", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(f"/{STATIC_PAGE}/{{path:path}}", dependencies=[Depends(get_user)])
    def static_asset(path: str) -> FileResponse:
        if path not in ASSETS:
            raise HTTPException(404, "no such dashboard asset")
        return FileResponse(STATIC_DIR / path, headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/", dependencies=[Depends(get_user)])
    def dashboard(
        source: str | None = None,
        tenant: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> HTMLResponse:
        from salestalk.config.loader import load_sources
        from salestalk.dashboard import charts, collect
        from salestalk.warehouse import open_warehouse

        configs = load_sources().configs
        try:
            sources, tenant, window = parse_filters(source, tenant, since, until, configs)
        except ValueError as error:
            raise HTTPException(400, str(error)) from error
        from salestalk.ops import downstream_runs

        base = ui_base()
        lookup, how = downstream_runs()  # the api-server has Airflow's metadata DB: the real runs
        board = collect(
            open_warehouse(),
            sources,
            window=window,
            tenant=tenant,
            ui_base=base,
            every_source=not source,
            downstream_ran_at=lookup,
        )
        return HTMLResponse(render(board, charts(board), configs, base, freshness_note=how))

    return app


class SalesTalkDashboardPlugin(AirflowPlugin):
    name = "salestalk_dashboard"
    fastapi_apps = LazyFastAPIApps(create_app, URL_PREFIX, "Data quality dashboard")
    external_views = [
        {
            "name": "Data quality",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
        }
    ]
