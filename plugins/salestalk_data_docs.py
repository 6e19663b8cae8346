"""Airflow plugin: the Great Expectations Data Docs at ``/data-docs/``, behind the Airflow login, linked in the UI.

The validate step builds the Data Docs into ``settings.data_docs_dir`` (great_expectations/uncommitted/...).
The api-server serves that folder to a logged-in user only (the UI's ``_token`` cookie or a Bearer token),
because the docs show failing rows' values. The UI's navigation gets a "GX Data Docs" entry.

GX's pages load Bootstrap, jQuery, Vega and Font Awesome from public CDNs. As it serves a page, the plugin
points those URLs at the copies in ``salestalk_data_docs_static/`` (versions and licenses in its README),
served at ``/data-docs/_static/``, so the pages render with no internet. ``/data-docs/_quarantine`` lists
one batch's quarantined rows: the quarantine task's extra link (salestalk.operators.links).
"""

from __future__ import annotations

import html
import mimetypes
import re
import shlex
from pathlib import Path
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from salestalk.operators.links import DATA_DOCS_URL as URL_PREFIX
from salestalk.operators.links import QUARANTINE_PAGE
from salestalk.plugin_apps import LazyFastAPIApps

STATIC_PAGE = "_static"
STATIC_DIR = Path(__file__).resolve().parent / "salestalk_data_docs_static"
QUARANTINE_ROWS_SHOWN = 200
# GX's logo and its dark-mode background: the site's own copy of GX's images (static/images/).
GX_WEB_ASSETS = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
# Every CDN URL in GX 1.x's page templates -> the vendored file or folder under STATIC_DIR.
CDN_ASSETS = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap@4.3.1/dist/",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/": "bootstrap@4.3.1/dist/",
    "https://unpkg.com/bootstrap-table@1.19.1/": "bootstrap-table@1.19.1/",
    "https://unpkg.com/bootstrap-table@1.19.0/": "bootstrap-table@1.19.0/",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/": "bootstrap-datepicker@1.9.0/dist/",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/": "@fortawesome/fontawesome-free@6.6.0/",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/": "popper.js@1.12.9/dist/",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery@3.7.1/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/": "@forevolve/bootstrap-dark@1.1.0/",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega@5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite@5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed@6.29.0/build/vega-embed.min.js",
}
_CDN_URL = re.compile("|".join(re.escape(url) for url in sorted([*CDN_ASSETS, GX_WEB_ASSETS], key=len)[::-1]))
BOOTSTRAP_CSS = f"{STATIC_PAGE}/bootstrap@4.3.1/dist/css/bootstrap.min.css"


def data_docs_root() -> Path:
    from salestalk.settings import get_settings

    return get_settings().data_docs_dir.resolve()


def resolve(root: Path, path: str) -> Path | None:
    """The file under ``root`` that ``path`` names (a folder means its index.html); None if outside or absent."""
    target = (root / path).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_relative_to(root) or not target.is_file():
        return None
    return target


def rewrite_cdn_urls(text: str, depth: int) -> str:
    """``text`` with each known CDN URL replaced by a link relative to a page ``depth`` folders deep."""
    up = "../" * depth

    def local(match: re.Match[str]) -> str:
        url = match.group(0)
        return f"{up}static/images/" if url == GX_WEB_ASSETS else f"{up}{STATIC_PAGE}/{CDN_ASSETS[url]}"

    return _CDN_URL.sub(local, text)


def cli_commands(source: str, tenant: str, interval: str | None) -> list[str]:
    """The operator commands (docs/runbooks) that show and redrive this batch's quarantined rows."""
    batch = f"--source {shlex.quote(source)} --tenant {shlex.quote(tenant)}"
    if interval:
        batch += f" --interval {shlex.quote(interval)}"
    run = "PYTHONPATH=plugins .venv/bin/python -m salestalk quarantine"
    return [f"{run} show {batch}"] + ([f"{run} redrive {batch}"] if interval else [])


def quarantined_batch(source: str, tenant: str, interval: str | None, limit: int) -> dict[str, Any]:
    """The batch's quarantined rows (at most ``limit``) and its recorded validate and quarantine results."""
    from salestalk.batch import format_utc, parse_utc
    from salestalk.names import QUARANTINE_SCHEMA
    from salestalk.warehouse import open_warehouse
    from salestalk.warehouse.tables import batch_results, table_exists

    warehouse = open_warehouse()
    with warehouse.connect(tag={"source": source, "step": "data_docs"}) as s:
        d, i = s.dialect, s.dialect.ident
        rows = []
        if table_exists(s, QUARANTINE_SCHEMA, source):
            where, params = f"{i('_tenant_id')} = ?", [tenant]
            if interval:
                where += f" AND {i('_interval_start')} = CAST(? AS {d.column_type('timestamp')})"
                params.append(interval)
            rows = [
                (t, format_utc(parse_utc(start)), int(n), d.as_list(reasons), raw)
                for t, start, n, reasons, raw in s.fetchall(
                    f"SELECT {i('_tenant_id')}, {i('_interval_start')}, {i('_record_num')}, {i('_reasons')}, "
                    f"{i('_raw_record')} FROM {d.table(QUARANTINE_SCHEMA, source)} WHERE {where} "
                    f"ORDER BY {i('_interval_start')}, {i('_record_num')} LIMIT {int(limit) + 1}",
                    params,
                )
            ]
    steps = batch_results(warehouse, source, interval).get(tenant, {}) if interval else {}
    return {"rows": rows[:limit], "more": len(rows) > limit, "steps": steps}


def render_quarantine(source: str, tenant: str, interval: str | None, found: dict[str, Any]) -> str:
    """The quarantine page: reasons with counts, the CLI commands, then the rows."""
    e = html.escape
    validation = found["steps"].get("validate", {})
    quarantine = found["steps"].get("quarantine", {})
    reasons = validation.get("reasons")
    if reasons is None:
        reasons = {}
        for *_, row_reasons, _ in found["rows"]:
            for reason in row_reasons:
                reasons[reason] = reasons.get(reason, 0) + 1
    summary = f"{quarantine['quarantined']} row(s) quarantined" if "quarantined" in quarantine else ""
    if quarantine.get("quarantine_key"):
        summary += f", copied to <code>{e(quarantine['quarantine_key'])}</code>"
    reason_rows = "".join(
        f"<tr><td>{e(r)}</td><td class='text-right'>{n}</td></tr>" for r, n in sorted(reasons.items())
    )
    row_cells = "".join(
        f"<tr><td>{e(t)}</td><td>{e(i)}</td><td>{n}</td><td>{e(', '.join(rs))}</td><td><code>{e(str(raw))}</code></td></tr>"
        for t, i, n, rs, raw in found["rows"]
    )
    more = (
        f"<p>Only the first {len(found['rows'])} rows are shown; the CLI's <code>--limit</code> shows more.</p>"
        if found["more"]
        else ""
    )
    commands = "\n".join(e(c) for c in cli_commands(source, tenant, interval))
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Quarantined rows: {e(source)} / {e(tenant)}</title>
<link rel="stylesheet" href="{BOOTSTRAP_CSS}"></head>
<body><main class="container-fluid p-4">
<h1 class="h3">Quarantined rows</h1>
<p>Source <b>{e(source)}</b>, tenant <b>{e(tenant)}</b>, interval <b>{e(interval or "every interval")}</b>,
table <code>quarantine.{e(source)}</code>. {summary}</p>
<h2 class="h5">Failing rules</h2>
<table class="table table-sm w-auto"><thead><tr><th>reason</th><th>rows</th></tr></thead>
<tbody>{reason_rows or "<tr><td colspan='2'>none</td></tr>"}</tbody></table>
<h2 class="h5">Inspect and redrive (docs/runbooks)</h2>
<pre class="bg-light p-2">{commands}</pre>
<h2 class="h5">Rows</h2>{more}
<table class="table table-sm table-striped"><thead><tr><th>tenant</th><th>interval</th><th>record</th>
<th>reasons</th><th>raw record</th></tr></thead>
<tbody>{row_cells or "<tr><td colspan='5'>no quarantined rows</td></tr>"}</tbody></table>
<p><a href="index.html">GX Data Docs</a></p>
</main></body></html>
"""


def create_app():
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

    app = FastAPI(title="GX Data Docs", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get(f"/{STATIC_PAGE}/{{path:path}}", dependencies=[Depends(get_user)])
    def static_asset(path: str) -> FileResponse:
        target = resolve(STATIC_DIR, path)
        if target is None or target.suffix not in (".css", ".js", ".woff2"):
            raise HTTPException(404, "no such Data Docs asset")
        return FileResponse(target, headers={"Cache-Control": "private, max-age=86400"})

    @app.get(f"/{QUARANTINE_PAGE}", dependencies=[Depends(get_user)])
    def quarantined(source: str, tenant: str, interval: str | None = None) -> HTMLResponse:
        from salestalk.batch import format_utc, parse_utc
        from salestalk.config.loader import load_sources
        from salestalk.config.models import SOURCE_NAME
        from salestalk.tenancy import validate_tenant_id

        if not SOURCE_NAME.fullmatch(source) or source not in load_sources(only=source).configs:
            raise HTTPException(404, f"no source config {source!r}")
        try:
            validate_tenant_id(tenant)
            interval = format_utc(parse_utc(interval)) if interval else None
        except ValueError as error:
            raise HTTPException(400, str(error)) from error
        found = quarantined_batch(source, tenant, interval, QUARANTINE_ROWS_SHOWN)
        return HTMLResponse(render_quarantine(source, tenant, interval, found))

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def data_docs(path: str = "") -> Response:
        root = data_docs_root()
        target = resolve(root, path)
        if target is None:
            raise HTTPException(404, "no such Data Docs page (run a source DAG to build them)")
        if path and not path.endswith("/") and (root / path).is_dir():
            return RedirectResponse(f"{path.rsplit('/', 1)[-1]}/")
        if target.suffix not in (".html", ".css"):
            return FileResponse(target)
        depth = len(target.relative_to(root).parts) - 1
        media_type = mimetypes.guess_type(target.name)[0] or "text/html"
        return Response(rewrite_cdn_urls(target.read_text(encoding="utf-8"), depth), media_type=media_type)

    return app


class SalesTalkDataDocsPlugin(AirflowPlugin):
    name = "salestalk_data_docs"
    fastapi_apps = LazyFastAPIApps(create_app, URL_PREFIX, "GX Data Docs")
    external_views = [
        {
            "name": "GX Data Docs",
            "href": f"{URL_PREFIX}/index.html",
            "destination": "nav",
            "category": "browse",
        }
    ]
