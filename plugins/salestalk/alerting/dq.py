"""Data-quality alerts, raised by the run's ``report`` task after every tenant's batch.

- ``dq_error_rate``: failing rows / rows above ``alerting.data_quality.max_error_rate`` (default 0.1%).
- ``completeness``: rows accounted for in the curated table / rows extracted below
  ``alerting.data_quality.min_completeness`` (default 99.5%). Accounted for = published (inserted or
  updated) + stale versions skipped (a newer version is already curated) + exact duplicates dropped.

A held-back batch (the quality gate stopped its publish) is paged here too, as ``dq_error_rate``, saying
that nothing of it was published; its failed publish task sends no alert of its own. An unfinished batch
already failed a task, and that failure is its alert. A tenant is named in one DQ alert per run: above the error rate, the
``dq_error_rate`` alert (which also carries its completeness, usually low for the same reason: the
quarantined rows); otherwise a ``completeness`` alert, which then means rows went missing between steps. Publish of the passing rows is never stopped here; the hold-back policy
(``quarantine.max_error_rate``, ``quarantine.on_table_failure``) alone decides that. One alert per type
and run, naming every breaching tenant with its counts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc, parse_utc
from salestalk.names import LOAD, PUBLISH, VALIDATE
from salestalk.quality.anomaly import HOLD_REASON, describe

if TYPE_CHECKING:
    import datetime as dt

    from salestalk.alerting.payload import Alert
    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Warehouse

log = logging.getLogger(__name__)


def batch_results(
    warehouse: Warehouse, source: SourceConfig, interval_start: dt.datetime | str
) -> dict[str, dict]:
    """``{tenant: {step: result}}`` recorded in ``audit.batch_results`` for one interval."""
    from salestalk.warehouse.tables import batch_results as recorded

    return recorded(warehouse, source.name, interval_start)


def completeness(steps: dict[str, dict]) -> float | None:
    load, validation, publish = steps.get(LOAD, {}), steps.get(VALIDATE, {}), steps.get(PUBLISH, {})
    extracted = load.get("landed")
    if not extracted or publish.get("published") is None:
        return None
    accounted = (
        publish.get("published", 0)
        + publish.get("stale_skipped", 0)
        + validation.get("duplicates_dropped", 0)
    )
    return accounted / extracted


def quality_alerts(
    source: SourceConfig,
    results: dict[str, dict],
    *,
    run_id: str | None,
    interval_start: str | None = None,
    interval_end: str | None = None,
) -> list[Alert]:
    """The DQ alerts for one run, from the recorded step results (pure: no I/O)."""
    from salestalk.alerting.payload import Alert

    policy = source.alerting.data_quality
    error_breaches: dict[str, dict[str, Any]] = {}
    completeness_breaches: dict[str, dict[str, Any]] = {}
    anomalies: dict[str, dict[str, Any]] = {}
    for tenant, steps in sorted(results.items()):
        publish, validation = steps.get(PUBLISH), steps.get(VALIDATE)
        if not publish or not validation:
            continue
        if validation.get("anomalies"):
            anomalies[tenant] = {
                "anomalies": validation["anomalies"],
                "published": 0 if publish.get("held_back") else publish.get("published"),
                "held_back": publish.get("held_back"),
            }
        if str(publish.get("held_back") or "").startswith(HOLD_REASON):
            continue  # the anomaly alert says so
        if publish.get("held_back"):
            error_breaches[tenant] = {
                "rows": validation["rows"],
                "failing": validation["failing"],
                "error_rate": round(validation["error_rate"], 6),
                "published": 0,
                "held_back": publish["held_back"],
                "reasons": validation.get("reasons", {}),
            }
            continue
        if validation["error_rate"] > policy.max_error_rate:
            error_breaches[tenant] = {
                "rows": validation["rows"],
                "failing": validation["failing"],
                "error_rate": round(validation["error_rate"], 6),
                "published": publish.get("published"),
                "reasons": validation.get("reasons", {}),
            }
        share = completeness(steps)
        if tenant in error_breaches:
            # One alert per tenant and run: the error-rate alert carries the completeness too.
            error_breaches[tenant]["completeness"] = None if share is None else round(share, 6)
        elif share is not None and share < policy.min_completeness:
            completeness_breaches[tenant] = {
                "extracted": steps[LOAD]["landed"],
                "published": publish.get("published"),
                "stale_skipped": publish.get("stale_skipped"),
                "duplicates_dropped": validation.get("duplicates_dropped"),
                "quarantined": validation.get("failing"),
                "completeness": round(share, 6),
            }
    alerts = []
    common = {
        "source": source.name,
        "dag_id": source.dag_id,
        "run_id": run_id,
        "source_runbook": source.runbook,
        "interval_start": interval_start,
        "interval_end": interval_end,
    }
    if error_breaches:
        alerts.append(
            Alert(
                alert_type="dq_error_rate",
                tenants=tuple(error_breaches),
                what=_error_rate_summary(error_breaches, policy.max_error_rate),
                counts={"by_tenant": error_breaches, "threshold": policy.max_error_rate},
                incident="dq:error_rate",
                **common,
            )
        )
    if anomalies:
        alerts.append(
            Alert(
                alert_type="anomaly",
                tenants=tuple(anomalies),
                what=_anomaly_summary(anomalies),
                counts={"by_tenant": anomalies},
                incident="dq:anomaly",
                **common,
            )
        )
    if completeness_breaches:
        lowest = min(b["completeness"] for b in completeness_breaches.values())
        alerts.append(
            Alert(
                alert_type="completeness",
                tenants=tuple(completeness_breaches),
                what=(
                    f"completeness down to {lowest:.2%} (rows accounted for in curated / rows extracted) is "
                    f"below the {policy.min_completeness:.2%} threshold"
                ),
                counts={"by_tenant": completeness_breaches, "threshold": policy.min_completeness},
                incident="dq:completeness",
                **common,
            )
        )
    return alerts


def _anomaly_summary(anomalies: dict[str, dict[str, Any]]) -> str:
    parts = []
    for tenant, found in anomalies.items():
        outcome = "publish held back" if found["held_back"] else "published"
        parts.append(f"{tenant} ({outcome}): {describe(found['anomalies'])}")
    return "anomalies before publish: " + " | ".join(parts)


def _error_rate_summary(breaches: dict[str, dict[str, Any]], threshold: float) -> str:
    """What the error-rate alert says: held-back tenants published nothing; the others their passing rows."""
    held = {t: b for t, b in breaches.items() if b.get("held_back")}
    published = {t: b for t, b in breaches.items() if not b.get("held_back")}
    worst = max(b["error_rate"] for b in breaches.values())
    parts = [
        f"{sum(b['failing'] for b in breaches.values())} failing rows quarantined; error rate up to "
        f"{worst:.2%} is above the {threshold:.2%} alert threshold"
    ]
    if held:
        parts.append(
            f"publish held back for {', '.join(held)}: nothing of this interval was published for them"
        )
    if published:
        lowest = min((b.get("completeness") or 0) for b in published.values())
        parts.append(
            f"passing rows were published for {', '.join(published)} (completeness down to {lowest:.2%})"
        )
    return "; ".join(parts)


def check_and_alert(
    source: SourceConfig, warehouse: Warehouse, context: Any, tenants: list[str] | None = None
) -> list[dict[str, Any]]:
    """Called by the report task: raise the run's DQ alerts for its tenants (default: all); never raises."""
    try:
        from salestalk.alerting.routes import deliver
        from salestalk.run_params import run_interval

        start, end = run_interval(source, context)
        results = batch_results(warehouse, source, start)
        alerts = quality_alerts(
            source,
            {t: r for t, r in results.items() if tenants is None or t in tenants},
            run_id=context.get("run_id"),
            interval_start=format_utc(parse_utc(start)),
            interval_end=format_utc(parse_utc(end)),
        )
        return [
            {"alert": a.alert_type, "dedup_key": a.dedup_key, "routes": deliver(a, source.alerting.routes)}
            for a in alerts
        ]
    except Exception:
        log.exception("data-quality alerting failed for %s", source.name)
        return []
