"""Extra links of a source step's task: validate to its GX validation page, quarantine to its quarantined rows.
A shard of several tenants links to the first tenant with failing (quarantined) rows, else its first tenant.

Airflow 3 calls ``get_link`` on the worker when the task ends and keeps the URL in XCom
(``_link_<class name>``, per map index); the api-server reads that XCom back and never calls these
classes, so no plugin has to register them. The pages are served by ``plugins/salestalk_data_docs.py``.
Every other step gets "", which the UI leaves out.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.sdk import BaseOperatorLink

from salestalk.batch import format_utc, parse_utc
from salestalk.names import QUARANTINE, VALIDATE

if TYPE_CHECKING:
    import datetime as dt

    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

DATA_DOCS_URL = "/data-docs"
QUARANTINE_PAGE = "_quarantine"


def docs_base_url() -> str:
    """``/data-docs`` under the api-server's path (the path of ``[api] base_url``, if any)."""
    from airflow.sdk import conf

    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/") + DATA_DOCS_URL


def validation_page_url(result: Any, docs_root: Path, base: str = DATA_DOCS_URL) -> str:
    """The URL of the page a validate result points at (its own page, else the index); "" if none."""
    if not isinstance(result, dict):
        return ""
    page = result.get("data_docs_page") or result.get("data_docs")
    if not page:
        return ""
    try:
        relative = Path(page).resolve().relative_to(Path(docs_root).resolve())
    except ValueError:
        return ""
    return f"{base}/{quote(relative.as_posix())}"


def quarantine_url(
    source: str, tenant: str, interval_start: dt.datetime | str | None, base: str = DATA_DOCS_URL
) -> str:
    """The URL of the page that lists one batch's quarantined rows (every interval's without a start)."""
    query = {"source": source, "tenant": tenant}
    if interval_start is not None:
        query["interval"] = format_utc(parse_utc(interval_start))
    return f"{base}/{QUARANTINE_PAGE}?{urlencode(query)}"


class ValidationPageLink(BaseOperatorLink):
    """The validate task's own page in the GX Data Docs."""

    name = "GX validation page"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if getattr(operator, "step", None) != VALIDATE:
            return ""
        from airflow.sdk.execution_time.xcom import XCom

        from salestalk.settings import get_settings

        results = XCom.get_value(ti_key=ti_key, key=XCom.XCOM_RETURN_KEY)
        tenant = shown_tenant(operator.tenants, results, "failing")
        result = results.get(tenant) if isinstance(results, dict) else None
        return validation_page_url(result, get_settings().data_docs_dir, docs_base_url())


class QuarantineLink(BaseOperatorLink):
    """The quarantine task's batch: its quarantined rows, their reasons and the CLI commands."""

    name = "Quarantined rows"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if getattr(operator, "step", None) != QUARANTINE:
            return ""
        from airflow.sdk.execution_time.xcom import XCom

        results = XCom.get_value(ti_key=ti_key, key=XCom.XCOM_RETURN_KEY)
        tenant = shown_tenant(operator.tenants, results, "quarantined")
        return quarantine_url(operator.source_name, tenant, _interval_start(ti_key), docs_base_url())


def shown_tenant(tenants: list[str], results: Any, count: str) -> str:
    """The tenant of a shard whose page a link opens: the first with a non-zero ``count``, else the first."""
    results = results if isinstance(results, dict) else {}
    return next((t for t in tenants if (results.get(t) or {}).get(count)), tenants[0])


def _interval_start(ti: Any) -> Any:
    """The run's data interval start: known to the worker's task instance, None for a bare key."""
    get_context = getattr(ti, "get_template_context", None)
    return get_context().get("data_interval_start") if get_context else None


STEP_LINKS = (ValidationPageLink(), QuarantineLink())
