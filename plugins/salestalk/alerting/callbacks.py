"""Alert callbacks: deadline missed (from the deadline watch task), task failed, task up for retry.

Each one builds an :class:`~salestalk.alerting.payload.Alert` and hands it to the source's routes. They
never raise: an alerting problem is logged and must not change the state of the run or the task.
"""

from __future__ import annotations

import logging
from typing import Any

from salestalk.shards import HELD_BACK_MESSAGE, WAITING_ON_UPSTREAM

log = logging.getLogger(__name__)

PUBLISH_ROLLUP_MESSAGE = "did not publish cleanly"
COUNTS_LOCK_WAIT_SECONDS = 10.0


def _source(name: str):
    from salestalk.config.loader import load_sources

    loaded = load_sources(only=name)
    if name not in loaded.configs:
        raise RuntimeError(f"source config {name!r} cannot be loaded: {[str(e) for e in loaded.errors]}")
    return loaded.configs[name]


class _AppDag:
    """Stands in for a source config for DAGs that are not sources (app_insight_summaries,
    monitor_freshness): the global routes from ``_defaults.yaml``, no tenants of its own."""

    def __init__(self, dag_id: str) -> None:
        from salestalk.config.alerting import AlertingConfig
        from salestalk.config.loader import load_defaults, sources_dir

        self.name = dag_id
        self.dag_id = dag_id
        self.tenants: tuple[str, ...] = ()
        self.runbook = "docs/runbooks/README.md"
        self.alerting = AlertingConfig.model_validate(load_defaults(sources_dir()).get("alerting", {}))


def _source_or_app(name: str, dag_id: str):
    if not dag_id.startswith("source_"):
        return _AppDag(dag_id)
    return _source(name)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _batch_counts(source, interval_start: Any, tenants: list[str] | None = None) -> dict[str, dict]:
    """Per tenant, the counts the warehouse has recorded for the interval so far ({} if unavailable)."""
    if interval_start is None:
        return {}
    try:
        from salestalk.accounting import batch_summaries
        from salestalk.warehouse import open_warehouse

        warehouse = open_warehouse()
        if hasattr(warehouse, "lock_timeout_seconds"):  # a page never waits long on the DuckDB writer
            warehouse.lock_timeout_seconds = COUNTS_LOCK_WAIT_SECONDS
        summaries = batch_summaries(warehouse, source, interval_start)
    except Exception:
        log.warning("could not read batch counts for %s", source.name, exc_info=True)
        return {}
    return {
        s["tenant"]: {k: v for k, v in s.items() if k not in ("tenant", "problem") and v is not None}
        for s in summaries
        if tenants is None or s["tenant"] in tenants
    }


def send(alert, source) -> dict[str, str]:
    from salestalk.alerting.routes import deliver

    return deliver(alert, source.alerting.routes)


def deadline_missed(
    *,
    source: str,
    deadline: str,
    minutes: float,
    run_id: str,
    started_at: Any,
    due_at: str,
    interval_start: Any,
    interval_end: Any,
    progress: dict[str, dict[str, Any]],
) -> dict[str, str]:
    """Page that a run is unfinished ``minutes`` after it started (called by the deadline watch's trigger).

    ``progress`` is the run's own task states per tenant (published, failed or running, and at which
    step): the alert claims only what they show. It reads no warehouse, so no lock can delay the page.
    """
    try:
        from salestalk.alerting.payload import Alert, utc_now

        config = _source(source)
        by_status: dict[str, list[str]] = {"published": [], "failed": [], "running": []}
        for tenant, where in progress.items():
            by_status[where["status"]].append(tenant)
        tenants = list(progress) or list(config.tenants or [])
        parts = [f"published {len(by_status['published'])} of {len(tenants)} tenant(s)"]
        if by_status["published"]:
            parts[0] += f" ({', '.join(by_status['published'])})"
        for status in ("failed", "running"):
            if by_status[status]:
                listed = ", ".join(f"{t} at {progress[t]['step']}" for t in by_status[status])
                parts.append(f"{'failed' if status == 'failed' else 'still running'}: {listed}")
        what = (
            f"run {run_id} of {config.dag_id} is not finished {minutes:g} min after it started "
            f"({_iso(started_at)}; deadline '{deadline}' at {due_at}); " + "; ".join(parts)
        )
        alert = Alert(
            alert_type="deadline_missed",
            source=config.name,
            dag_id=config.dag_id,
            run_id=run_id,
            tenants=tuple(tenants),
            what=what,
            counts={
                "deadline_minutes": minutes,
                "tenants": len(tenants),
                "tenants_published": len(by_status["published"]),
                "tenants_failed": len(by_status["failed"]),
                "tenants_running": len(by_status["running"]),
            },
            incident=f"deadline:{deadline}",
            source_runbook=config.runbook,
            interval_start=_iso(interval_start),
            interval_end=_iso(interval_end),
            details={
                "deadline": deadline,
                "reference": "run_started",
                "deadline_time": due_at,
                "run_started_at": _iso(started_at),
                "callback_called_at": utc_now(),
                "progress": progress,
                "tenants_not_published": sorted(set(tenants) - set(by_status["published"])),
            },
        )
        return send(alert, config)
    except Exception:
        log.exception("deadline_missed alert failed for source=%s deadline=%s", source, deadline)
        return {}


def _run_interval(config, context: Any, facts: dict[str, Any]) -> tuple[Any, Any]:
    """The interval the run processed (its ``interval_start`` trigger param, else its own)."""
    from salestalk.run_params import RunParamsError, run_interval

    try:
        return run_interval(config, context)
    except (RunParamsError, KeyError, TypeError, ValueError):
        return facts["interval_start"], facts["interval_end"]


def _task_facts(context: Any) -> dict[str, Any]:
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag, "dag_id", "")
    tenants = _failed_tenants(context.get("exception"), getattr(task, "tenants", None))
    if tenants is None:
        tenant = getattr(task, "tenant", None)
        if not isinstance(tenant, str) or "{" in tenant:
            tenant = getattr(ti, "rendered_map_index", None)
        tenants = [tenant] if isinstance(tenant, str) and tenant else []
    return {
        "dag_id": dag_id,
        "source": getattr(task, "source_name", None) or dag_id.removeprefix("source_"),
        "task_id": getattr(ti, "task_id", None) or getattr(task, "task_id", ""),
        "map_index": getattr(ti, "map_index", -1),
        "try_number": getattr(ti, "try_number", None),
        "max_tries": getattr(ti, "max_tries", None),
        "run_id": context.get("run_id") or getattr(dag_run, "run_id", None),
        "tenants": tuple(tenants),
        "interval_start": context.get("data_interval_start"),
        "interval_end": context.get("data_interval_end"),
        "exception": context.get("exception"),
    }


def _failed_tenants(exception: Any, task_tenants: Any) -> list[str] | None:
    """The tenants a step task's failure is about: those its shard error pages for, else the shard's."""
    from salestalk.shards import ShardStepFailed

    for error in (exception, getattr(exception, "__cause__", None)):  # also when raised as final
        if isinstance(error, ShardStepFailed):
            return list(error.alert)
    if isinstance(task_tenants, list | tuple) and all(isinstance(t, str) for t in task_tenants):
        return list(task_tenants)
    return None


def task_failed(context: Any) -> dict[str, str]:
    """``on_failure_callback`` of every task of the source and app DAGs: it failed for good (no retries
    left). A non-source DAG alerts on the global routes of ``_defaults.yaml``."""
    try:
        from salestalk.alerting.payload import Alert, run_url

        facts = _task_facts(context)
        config = _source_or_app(facts["source"], facts["dag_id"])
        error = str(facts["exception"] or "unknown error").strip().splitlines()
        first_line = error[0][:500] if error else "unknown error"
        if facts["task_id"] == "report" and PUBLISH_ROLLUP_MESSAGE in first_line:
            log.warning(
                "report failed because tenant batches failed; those were alerted on their own: %s", first_line
            )
            return {}
        if first_line.startswith(WAITING_ON_UPSTREAM):
            log.warning("not paged: the upstream step's failure was paged for these tenants: %s", first_line)
            return {}
        if first_line.startswith(HELD_BACK_MESSAGE):
            log.warning("publish held back; the report task's dq_error_rate alert pages it: %s", first_line)
            return {}
        tenants = facts["tenants"] or tuple(config.tenants or ())
        counts = {"try_number": facts["try_number"], "max_tries": facts["max_tries"]}
        if not isinstance(config, _AppDag):
            facts["interval_start"], facts["interval_end"] = _run_interval(config, context, facts)
            counts["by_tenant"] = _batch_counts(config, facts["interval_start"], list(tenants))
        alert = Alert(
            alert_type="task_failed",
            source=config.name,
            dag_id=facts["dag_id"],
            run_id=facts["run_id"],
            tenants=tenants,
            what=f"{facts['task_id']} failed for tenant(s) {', '.join(tenants) or '-'}: {first_line}",
            counts=counts,
            incident=f"task:{facts['task_id']}",
            run_link=run_url(facts["dag_id"], facts["run_id"], facts["task_id"], facts["map_index"]),
            source_runbook=config.runbook,
            interval_start=_iso(facts["interval_start"]),
            interval_end=_iso(facts["interval_end"]),
            details={
                "task_id": facts["task_id"],
                "map_index": facts["map_index"],
                "error": "\n".join(error[:20])[:4000],
                "exception_type": type(facts["exception"]).__name__ if facts["exception"] else None,
            },
        )
        return send(alert, config)
    except Exception:
        log.exception("task_failed callback failed")
        return {}


def task_retry(context: Any) -> None:
    """``on_retry_callback``: a retry is not an incident yet, so it is only logged."""
    try:
        facts = _task_facts(context)
        log.warning(
            "retrying %s.%s tenant=%s run=%s (try %s of %s): %s",
            facts["dag_id"],
            facts["task_id"],
            ",".join(facts["tenants"]) or None,
            facts["run_id"],
            facts["try_number"],
            (facts["max_tries"] or 0) + 1,
            str(facts["exception"]).splitlines()[0][:300] if facts["exception"] else "-",
        )
    except Exception:
        log.exception("task_retry callback failed")
