"""Run real Great Expectations 1.x on a pandas DataFrame, with the committed suites.

GX is imported inside the functions (the import alone takes seconds; a Celery worker imports it once at
start, see :mod:`salestalk.worker_preload`). The file context is rooted explicitly at
``great_expectations/`` and built once per process; the in-memory pandas datasource it
uses is declared in ``great_expectations.yml``, so a run reads but never rewrites checked-in files.
Validation results and Data Docs are written under ``great_expectations/uncommitted/`` only.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import math
import os
import re
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from salestalk.quality.retention import prune_if_due
from salestalk.quality.suite import GX_ROOT, Suite, resolve_suite

if TYPE_CHECKING:
    from collections.abc import Generator, Mapping

    import pandas as pd
    from great_expectations.data_context import FileDataContext

DATASOURCE = "salestalk_runtime"
ASSET = "dataframe"
BATCH_DEFINITION = "whole_dataframe"
DOCS_SITE = "local_site"
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID_NAMESPACE = uuid.UUID("6f1c2d3e-5a4b-4c8d-9e0f-a1b2c3d4e5f6")

_lock = threading.Lock()
_contexts: dict[Path, FileDataContext] = {}
context_builds: dict[
    Path, int
] = {}  # how often each root's context was built in this process (tests read it)
# One validation at a time per process: the cached context and its stores are shared, never a tenant's own.
_run_lock = threading.RLock()
# Inside deferred_docs_index(): (context, result id) of each result stored while the site index waits.
_index_waiting: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "index_waiting", default=None
)


@dataclass(frozen=True)
class ExpectationOutcome:
    """GX's verdict on one expectation."""

    type: str
    column: str | None
    reason: str
    success: bool
    unexpected_count: int | None
    observed_value: Any = None
    exception: str | None = None


@dataclass(frozen=True)
class GxOutcome:
    """Result of :func:`run_gx`; ``failing_keys`` maps key tuple -> reasons in suite order."""

    suite_name: str
    success: bool
    results: tuple[ExpectationOutcome, ...]
    failing_keys: dict[tuple[Any, ...], list[str]]
    statistics: dict[str, Any] = field(default_factory=dict)
    docs_index: Path | None = None
    run_name: str | None = None
    docs_page: Path | None = None


def gx_context(root: str | Path | None = None) -> FileDataContext:
    """File data context rooted at ``root`` (default: the repo's ``great_expectations/``), built once per
    process and reused by every validation, whatever its tenant: it holds the project's configuration and
    stores, no batch data (each run brings its own DataFrame, suite and tenant-named run)."""
    root = Path(GX_ROOT if root is None else root).resolve()
    with _lock:
        context = _contexts.get(root)
        if context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx

            context = gx.get_context(mode="file", context_root_dir=root)
            _contexts[root] = context
            context_builds[root] = context_builds.get(root, 0) + 1
        return context


def run_gx(
    df: pd.DataFrame,
    suite_name_or_path: Suite | str | Path,
    key_columns: list[str],
    *,
    result_format: str = "COMPLETE",
    build_docs: bool = False,
    run_name: str | None = None,
) -> GxOutcome:
    """Validate ``df`` with GX and map unexpected rows to ``key_columns`` tuples.

    ``failing_keys`` is complete only with ``result_format="COMPLETE"``. With ``build_docs`` the
    result is stored and the local Data Docs site is rebuilt; ``docs_index`` is its index.html (rebuilt at
    the end of an enclosing :func:`deferred_docs_index`) and ``docs_page`` this validation's own page.
    """
    suite = resolve_suite(suite_name_or_path)
    return _run(
        df, suite, list(range(len(suite.expectations))), key_columns, result_format, build_docs, run_name
    )


def gx_row_verdicts(
    df: pd.DataFrame, suite: Suite | str | Path, key_column: str = "_row_num"
) -> dict[int, list[str]]:
    """Failing rows according to GX: ``{row id: reasons}`` for the suite's row-level rules.

    Rules whose column is missing from ``df`` are left out (as :func:`sql.split` does). Without a
    ``key_column`` the row position is used.
    """
    suite = resolve_suite(suite)
    if key_column not in df.columns:
        df = df.assign(**{key_column: range(len(df))})
    indices = [i for i, exp in suite.row_level() if exp.column in df.columns]
    outcome = _run(df, suite, indices, [key_column], "COMPLETE", False, None)
    return {int(key[0]): reasons for key, reasons in outcome.failing_keys.items()}


def _run(
    df: pd.DataFrame,
    suite: Suite,
    indices: list[int],
    key_columns: list[str],
    result_format: str,
    build_docs: bool,
    run_name: str | None,
) -> GxOutcome:
    from great_expectations.validator.v1_validator import Validator

    missing_keys = [k for k in key_columns if k not in df.columns]
    if missing_keys:
        raise ValueError(f"key columns {missing_keys} are not in the DataFrame")
    context = gx_context()
    gx_suite, index_by_id = _gx_suite(suite, indices)
    fmt: dict[str, Any] = {"result_format": result_format, "return_unexpected_index_query": False}
    if key_columns:
        fmt["unexpected_index_column_names"] = list(key_columns)
    with _run_lock:
        validator = Validator(
            batch_definition=_batch_definition(context),
            batch_parameters={"dataframe": _gx_frame(df, suite)},
            result_format=fmt,
        )
        result = validator.validate_expectation_suite(gx_suite)
        docs_index, docs_page = (
            _build_docs(context, validator, result, suite, run_name) if build_docs else (None, None)
        )

    reasons = suite.reasons
    failed_by_key: dict[tuple[Any, ...], set[int]] = {}
    outcomes: list[tuple[int, ExpectationOutcome]] = []
    for res in result.results:
        index = index_by_id[res.expectation_config.id]
        exp = suite.expectations[index]
        details = res.result or {}
        for entry in details.get("unexpected_index_list") or []:
            failed_by_key.setdefault(_key(entry, key_columns), set()).add(index)
        exception = _exception_message(res.exception_info) if not res.success else None
        outcome = ExpectationOutcome(
            type=exp.type,
            column=exp.column,
            reason=reasons[index],
            success=bool(res.success),
            unexpected_count=details.get("unexpected_count"),
            observed_value=details.get("observed_value"),
            exception=exception,
        )
        outcomes.append((index, outcome))
    return GxOutcome(
        suite_name=suite.name,
        success=bool(result.success),
        results=tuple(o for _, o in sorted(outcomes, key=lambda pair: pair[0])),
        failing_keys={key: [reasons[i] for i in sorted(found)] for key, found in failed_by_key.items()},
        statistics=dict(result.statistics),
        docs_index=docs_index,
        run_name=run_name,
        docs_page=docs_page,
    )


def _gx_suite(suite: Suite, indices: list[int]) -> tuple[Any, dict[str, int]]:
    """In-memory GX suite for the selected expectations; expectation id -> suite index."""
    from great_expectations.core import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    ids = [e.id for e in suite.expectations]
    unique_ids = all(ids) and len(set(ids)) == len(ids)
    index_by_id: dict[str, int] = {}
    expectations = []
    for index in indices:
        exp = suite.expectations[index]
        exp_id = exp.id if unique_ids and exp.id else str(uuid.uuid5(_ID_NAMESPACE, f"{suite.name}:{index}"))
        index_by_id[exp_id] = index
        config = ExpectationConfiguration(
            type=exp.type, kwargs=dict(exp.kwargs), meta=dict(exp.meta), id=exp_id
        )
        expectations.append(config)
    return ExpectationSuite(name=suite.name, expectations=expectations, meta=dict(suite.meta)), index_by_id


def _batch_definition(context: FileDataContext) -> Any:
    """The declared runtime datasource; added once (rewriting the yml) only if someone removed it."""
    try:
        datasource = context.data_sources.get(DATASOURCE)
    except KeyError:
        datasource = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = datasource.get_asset(ASSET)
    except LookupError:
        asset = datasource.add_dataframe_asset(ASSET)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _gx_frame(df: pd.DataFrame, suite: Suite) -> pd.DataFrame:
    """Give date and timestamp columns dtypes GX can compare with the suite's bounds.

    GX compares a column with ``min_value``/``max_value`` value by value, and a date bound only
    compares with dates, a datetime bound only with datetimes. So: object columns of ``date``
    become ``date32[pyarrow]``; object columns of ``datetime`` become ``datetime64`` (UTC if
    aware); a ``datetime64`` column holding only midnights (how DuckDB hands over a DATE) becomes
    ``date32`` when a rule bounds it with dates, which compares exactly like DuckDB does.
    """
    import pandas as pd

    date_bounded = {e.column for e in suite.expectations if e.column and _has_date_bound(e.kwargs)}
    converted = {}
    for name in df.columns:
        series = df[name]
        if pd.api.types.is_object_dtype(series.dtype):
            values = series.dropna()
            if not len(values):
                continue
            if all(isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values):
                converted[name] = series.astype("date32[pyarrow]")
            elif all(isinstance(v, dt.datetime) for v in values):
                converted[name] = pd.to_datetime(series, utc=any(v.tzinfo is not None for v in values))
        elif name in date_bounded and pd.api.types.is_datetime64_dtype(series.dtype):
            values = series.dropna()
            if (values == values.dt.normalize()).all():
                converted[name] = series.dt.date.astype("date32[pyarrow]")
    return df.assign(**converted) if converted else df


def _has_date_bound(kwargs: Mapping[str, Any]) -> bool:
    bounds = [kwargs.get("min_value"), kwargs.get("max_value")]
    return any(isinstance(b, str) and _DATE_ONLY.match(b) for b in bounds)


def _exception_message(info: Any) -> str | None:
    """GX reports one exception flat, or several keyed by metric id."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception") or info.get("exception_message"):
        return info.get("exception_message")
    messages = [v.get("exception_message") for v in info.values() if isinstance(v, dict)]
    return "; ".join(dict.fromkeys(m for m in messages if m)) or None


def _key(entry: Any, key_columns: list[str]) -> tuple[Any, ...]:
    if isinstance(entry, dict):
        return tuple(_plain(entry.get(k)) for k in key_columns)
    return (_plain(entry),)


def _plain(value: Any) -> Any:
    """Plain Python key value: numpy scalars unwrapped, NaN/NaT/NA as None."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _build_docs(
    context: FileDataContext, validator: Any, result: Any, suite: Suite, run_name: str | None
) -> tuple[Path, Path | None]:
    """Store the result and rebuild its pages: (the site's index.html, the result's own page)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    run_id = RunIdentifier(run_name=run_name, run_time=dt.datetime.now(dt.UTC))
    result.meta["run_id"] = run_id
    result.meta["validation_time"] = run_id.run_time
    suite_id = ExpectationSuiteIdentifier(name=suite.name)
    result_id = ValidationResultIdentifier(
        batch_identifier=validator.active_batch_id, expectation_suite_identifier=suite_id, run_id=run_id
    )
    context.validation_results_store.store_validation_results(
        suite_validation_result=result,
        suite_validation_result_identifier=result_id,
        expectation_suite_identifier=suite_id,
    )
    resources: list[Any] = [result_id]
    if (Path(context.root_directory) / "expectations" / f"{suite.name}.json").is_file():
        resources.append(suite_id)
    waiting = _index_waiting.get()
    if waiting is not None:
        waiting.append((context, result_id))
    else:
        prune_if_due(Path(context.root_directory))
    urls = context.build_data_docs(
        site_names=[DOCS_SITE], resource_identifiers=resources, build_index=waiting is None
    )
    (page,) = context.get_docs_sites_urls(resource_identifier=result_id, site_name=DOCS_SITE)
    return _file_path(urls[DOCS_SITE]), _file_path(page["site_url"]) if page["site_url"] else None


@contextlib.contextmanager
def deferred_docs_index() -> Generator[None, None, None]:
    """Build the Data Docs site index once, when the block ends, for every result stored inside it.

    Each build lists every stored result and loads the newest (up to ``validation_results_limit``), so
    a task validating a shard of tenants (in threads that copy this context) pays for it once.
    """
    waiting: list[Any] = []
    token = _index_waiting.set(waiting)
    try:
        yield
    finally:
        _index_waiting.reset(token)
        if waiting:
            context, result_id = waiting[-1]
            prune_if_due(Path(context.root_directory))
            with _run_lock:
                context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=[result_id])


def _file_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))
