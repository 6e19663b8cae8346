"""Airflow plugin: the Great Expectations Data Docs at ``/data-docs/``, behind the Airflow login, linked in the UI.

The validate step builds the Data Docs into ``settings.data_docs_dir`` (great_expectations/uncommitted/...).
The api-server serves that folder to a logged-in user only (the UI's ``_token`` cookie or a Bearer token),
because the docs show failing rows' values. The UI's navigation gets a "GX Data Docs" entry.
"""

from __future__ import annotations

from pathlib import Path

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/data-docs"


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


def create_app():
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends, FastAPI, HTTPException
    from fastapi.responses import FileResponse

    app = FastAPI(title="GX Data Docs", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/{path:path}", dependencies=[Depends(get_user)])
    def data_docs(path: str = "") -> FileResponse:
        target = resolve(data_docs_root(), path)
        if target is None:
            raise HTTPException(404, "no such Data Docs page (run a source DAG to build them)")
        return FileResponse(target)

    return app


class SalesTalkDataDocsPlugin(AirflowPlugin):
    name = "salestalk_data_docs"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "GX Data Docs"}]
    external_views = [
        {
            "name": "GX Data Docs",
            "href": f"{URL_PREFIX}/index.html",
            "destination": "nav",
            "category": "browse",
        }
    ]
