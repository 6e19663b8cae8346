"""The trigger form of a source DAG: which tenants a run processes and which data interval it covers.

Airflow-free. A scheduled run keeps the defaults: every tenant, the run's own data interval. A manual run
may name a subset of tenants and an interval start on the schedule's grid (one tenant, one day).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc, parse_utc

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

TENANTS = "tenants"
INTERVAL_START = "interval_start"


class RunParamsError(ValueError):
    """A trigger param names something the source does not have."""


def param_specs(source: SourceConfig) -> dict[str, dict[str, Any]]:
    """``{name: {"default": ..., **json_schema}}`` of the source DAG's params, for ``airflow.sdk.Param``.

    The schemas are kept small on purpose: Airflow checks each one against the JSON Schema meta-schema when
    the DAG is built and deep-copies the params into every task, on every parse. So there is no ``enum`` of
    tenant names and no per-item rules: :func:`selected_tenants` checks the names (strings, each a tenant of
    the source) when the run starts. A pinned source lists its tenants as ``examples``, which the trigger
    form shows as a pick list. A registry source (no pinned ``tenants``) lists none, since nothing may call
    the registry while the DAG file parses.
    """
    if source.tenants is None:
        tenants_spec: dict[str, Any] = {
            "default": [],
            "type": "array",
            "title": "Tenants",
            "description": (
                "The tenants this run processes (empty: every tenant active in the tenant registry when the run "
                "starts). Names are checked against the registry at run time."
            ),
        }
    else:
        tenants = list(source.tenants)
        tenants_spec = {
            "default": tenants,
            "type": "array",
            "examples": tenants,
            "minItems": 1,
            "title": "Tenants",
            "description": "The tenants this run processes (default: all). Names are checked when the run starts.",
        }
    return {
        TENANTS: tenants_spec,
        INTERVAL_START: {
            "default": None,
            "type": ["null", "string"],
            "format": "date-time",
            "title": "Data interval start (UTC)",
            "description": (
                f"Process the interval of schedule `{source.schedule}` that starts here, e.g. "
                "2026-11-01T00:00:00Z; empty: the run's own data interval."
            ),
        },
    }


def selected_tenants(
    source: SourceConfig, params: dict[str, Any] | None, available: list[str] | None = None
) -> list[str]:
    """The run's tenants in ``available`` order (default: the pinned list, else the registry's active
    tenants, read now); a tenant not available is an error naming the valid ones."""
    if available is None:
        from salestalk.tenant_registry import source_tenants

        available = source_tenants(source)
    where = "in the tenant registry" if source.tenants is None else "in its config"
    wanted = (params or {}).get(TENANTS)
    if wanted in (None, [], ""):
        return list(available)
    if isinstance(wanted, str):
        wanted = [t.strip() for t in wanted.split(",") if t.strip()]
    if not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted):
        raise RunParamsError(f"param {TENANTS!r}: must be a list of tenant names (got {wanted!r})")
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise RunParamsError(
            f"param {TENANTS!r}: {unknown} not active tenant(s) of source {source.name} {where}; "
            f"valid: {', '.join(available) or '(none)'}"
        )
    return [t for t in available if t in set(wanted)]


def _aware(value: Any) -> dt.datetime:
    """A UTC datetime from a datetime or ISO 8601 text; no offset means UTC."""
    if isinstance(value, str) and not re.search(r"(Z|[+-]\d\d:?\d\d)$", value.strip()):
        value = value.strip() + "+00:00"
    return parse_utc(value)


def run_interval(source: SourceConfig, context: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """The data interval a run processes: the ``interval_start`` param's, else the run's own."""
    start = (context.get("params") or {}).get(INTERVAL_START)
    if not start:
        return _aware(context["data_interval_start"]), _aware(context["data_interval_end"])
    return schedule_interval(source, start)


def schedule_interval(source: SourceConfig, start: str | dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The schedule's interval starting at ``start``; an off-grid start names the nearest valid ones."""
    from croniter import croniter

    try:
        begin = _aware(start)
    except ValueError as exc:
        raise RunParamsError(f"param {INTERVAL_START!r}: {start!r} is not an ISO 8601 date-time") from exc
    cron = source.schedule
    before = parse_utc(croniter(cron, begin - dt.timedelta(seconds=1)).get_next(dt.datetime))
    if before != begin:
        earlier = parse_utc(croniter(cron, begin).get_prev(dt.datetime))
        raise RunParamsError(
            f"param {INTERVAL_START!r}: {format_utc(begin)} is not the start of an interval of schedule "
            f"{cron!r}; nearest: {format_utc(earlier)} or {format_utc(before)}"
        )
    return begin, parse_utc(croniter(cron, begin).get_next(dt.datetime))
