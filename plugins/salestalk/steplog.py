"""The summary that ends each step's log: counts, reasons with counts, S3 keys written, and on failure what to do.

Plain aligned text, no Airflow: the task log's last screen should answer what happened, why, and what next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.names import EXTRACT, LOAD, PUBLISH, QUARANTINE, VALIDATE

if TYPE_CHECKING:
    from salestalk.batch import Batch

CLI = "PYTHONPATH=plugins .venv/bin/python -m salestalk"
MAX_REASONS = 10
MAX_KEYS = 5
MAX_ERROR_CHARS = 300
CROSS_TENANT_MARKERS = ("wrote under other tenants", "outside tenant prefix", "cross_tenant")

# (counts key, label) per step, in the order shown; a key the step did not return is left out.
COUNT_LABELS: dict[str, tuple[tuple[str, str], ...]] = {
    EXTRACT: (
        ("extracted", "rows extracted"),
        ("landed", "rows landed"),
        ("parts", "raw parts"),
        ("rejected_before_landing", "rejected before landing"),
        ("blocked_tenant_mismatch", "blocked: tenant mismatch"),
        ("requests", "API requests"),
        ("retries", "API retries"),
        ("throttled", "API throttled"),
        ("repeated_pages", "API repeated pages"),
    ),
    LOAD: (("staged", "rows staged"),),
    VALIDATE: (
        ("rows", "rows in"),
        ("failing", "failing (to quarantine)"),
        ("passed", "passed"),
        ("duplicates_dropped", "duplicates dropped"),
        ("error_rate", "error rate"),
    ),
    QUARANTINE: (("quarantined", "quarantined"),),
    PUBLISH: (
        ("published", "published"),
        ("inserted", "inserted"),
        ("updated", "updated"),
        ("stale_skipped", "stale skipped"),
    ),
}
# Where each step keeps its reasons with counts.
REASON_KEYS = {EXTRACT: "rejection_reasons", VALIDATE: "reasons", QUARANTINE: "reasons"}


@dataclass(frozen=True)
class NextStep:
    """What the on-call engineer does next, and the runbook that explains it."""

    action: str
    runbook: str

    def lines(self) -> list[str]:
        return [f"next: {self.action}", f"runbook: {self.runbook}"]


def _value(value: Any, key: str) -> str:
    if key == "error_rate":
        return f"{value:.2%}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def aligned(rows: Sequence[tuple[str, str]], indent: str = "  ") -> list[str]:
    """Label left, value right, one column each."""
    if not rows:
        return []
    left = max(len(label) for label, _ in rows)
    right = max(len(value) for _, value in rows)
    return [f"{indent}{label.ljust(left)}  {value.rjust(right)}" for label, value in rows]


def top_reasons(reasons: Mapping[str, int], limit: int = MAX_REASONS) -> list[tuple[str, str]]:
    """Reasons by count, most first (ties by name), the rest folded into one "... and N more" row."""
    ranked = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
    rows = [(reason, f"{count:,}") for reason, count in ranked[:limit]]
    rest = ranked[limit:]
    if rest:
        rows.append((f"... and {len(rest)} more", f"{sum(n for _, n in rest):,}"))
    return rows


def truncated(keys: Sequence[str], limit: int = MAX_KEYS) -> list[str]:
    shown = list(keys[:limit])
    if len(keys) > limit:
        shown.append(f"... and {len(keys) - limit} more")
    return shown


def step_table(
    step: str,
    batch: Batch,
    counts: Mapping[str, Any] | None,
    written: Sequence[str] = (),
    *,
    error: BaseException | None = None,
    advice: NextStep | None = None,
) -> str:
    """The step's summary: title, counts, reasons, S3 writes and keys, and on failure the error and next step."""
    state = "done" if error is None else f"FAILED ({type(error).__name__})"
    counts = counts or {}
    rows = [(label, _value(counts[key], key)) for key, label in COUNT_LABELS.get(step, ()) if key in counts]
    reasons = counts.get(REASON_KEYS.get(step, ""))
    if reasons:
        rows += [("reason", "rows"), *top_reasons(reasons)]
    writes = counts.get("s3_writes") or {}
    rows.append(("S3 objects written", f"{writes.get('written', len(written)):,}"))
    for key, label in (("duplicate", "S3 objects already there"), ("blocked", "S3 writes blocked")):
        if writes.get(key):
            rows.append((label, f"{writes[key]:,}"))
    if writes.get("dead_lettered"):
        rows.append(("dead-lettered", f"{writes['dead_lettered']:,}"))
    lines = [f"{step} {batch.describe()}: {state}", *aligned(rows)]
    lines += [f"    {key}" for key in truncated(written)]
    lines += [f"  table check failed: {failure}" for failure in counts.get("table_failures") or ()]
    for key in ("unexpected_columns", "missing_columns"):
        if counts.get(key):
            lines.append(f"  {key.replace('_', ' ')}: {', '.join(counts[key])}")
    if error is not None:
        first = (str(error).splitlines() or [""])[0]
        lines.append(f"  error: {first[:MAX_ERROR_CHARS]}{'...' if len(first) > MAX_ERROR_CHARS else ''}")
    if advice is not None:
        lines += [f"  {line}" for line in advice.lines()]
    return "\n".join(lines)


def next_step(step: str, error: BaseException, batch: Batch) -> NextStep:
    """The next step and runbook for a failed step, from the error (see docs/runbooks/task-failed.md)."""
    import requests

    from salestalk.config.alerting import runbook_for
    from salestalk.extract.rest import ExtractError, RepeatedPage
    from salestalk.pipeline import MissingUpstream, PublishHeldBack
    from salestalk.storage.keys import UnsafeKey

    message = str(error)
    where = f"--source {batch.source} --tenant {batch.tenant} --interval {format_utc(batch.interval_start)}"
    if isinstance(error, UnsafeKey) or any(marker in message for marker in CROSS_TENANT_MARKERS):
        return NextStep(
            "a write named another tenant and was blocked; do not clear the task until you know why",
            runbook_for("cross_tenant_write_blocked"),
        )
    if isinstance(error, PublishHeldBack) and "table-level checks failed" in message:
        return NextStep(
            f"the batch broke a table-level check (columns or row count); compare with the config: "
            f"{CLI} status {where}",
            runbook_for("schema_drift"),
        )
    if isinstance(error, PublishHeldBack):
        return NextStep(
            f"look at the failing rows, fix the data or the rule, then redrive: {CLI} quarantine list {where}",
            runbook_for("quarantine_redrive"),
        )
    if isinstance(error, (ExtractError, RepeatedPage, requests.RequestException)):
        return NextStep(
            "the source API kept failing; check its status and rate limits, then clear this tenant's extract",
            runbook_for("source_api"),
        )
    if isinstance(error, MissingUpstream):
        return NextStep(
            f"{step} ran before an earlier step had output for this batch; clear this tenant's "
            f"{EXTRACT} and everything downstream",
            runbook_for("task_failed"),
        )
    if "checksum mismatch" in message:
        return NextStep(
            f"a raw object changed after landing; clear this tenant's {EXTRACT} and downstream to re-land it",
            runbook_for("task_failed"),
        )
    if step == EXTRACT and "is not valid" in message:
        return NextStep(
            f"the tenant's file cannot be read; ask them to resend it, then clear this tenant's {EXTRACT}",
            runbook_for("task_failed"),
        )
    return NextStep(
        f"read the error above, check the batch with {CLI} status {where}, fix the cause, then clear "
        "this task and downstream",
        runbook_for("task_failed"),
    )


def report_next_step(source: str, interval_start: Any) -> NextStep:
    """What to do when the run's report finds tenant batches that did not publish cleanly."""
    from salestalk.batch import parse_utc
    from salestalk.config.alerting import runbook_for

    interval = format_utc(parse_utc(interval_start))
    return NextStep(
        f"open the failed tenant's task log, or run {CLI} status --source {source} --interval {interval}",
        runbook_for("task_failed"),
    )


def first_line(error: BaseException) -> str:
    """An error's first line, cut to MAX_ERROR_CHARS (its type when it has no message)."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:MAX_ERROR_CHARS]


SHARD_OUTCOMES = ("done", "failed", "already done", "waiting on upstream")


def shard_table(
    step: str,
    tenants: Sequence[str],
    plan: Any,
    results: Mapping[str, Mapping[str, Any]],
    failed: Mapping[str, BaseException],
) -> str:
    """One line per tenant of a shard: what ``step`` did for it, its main count, or its error."""
    main = COUNT_LABELS[step][0]
    rows = []
    for tenant in tenants:
        if tenant in failed:
            outcome, detail = "failed", f"{type(failed[tenant]).__name__}: {first_line(failed[tenant])}"
        elif tenant in results:
            outcome, detail = "done", f"{main[1]} {_value(results[tenant].get(main[0], '-'), main[0])}"
        elif tenant in plan.done:
            outcome, detail = "already done", "finished earlier in this run; not redone"
        else:
            outcome, detail = "waiting on upstream", "its previous step has not finished in this run"
        rows.append((tenant, outcome, detail))
    width = max(len(t) for t, _, _ in rows) if rows else 0
    counts = {o: sum(1 for _, got, _ in rows if got == o) for o in SHARD_OUTCOMES}
    title = f"{step} for {len(tenants)} tenant(s): " + ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    lines = [title, *(f"  {t.ljust(width)}  {o.ljust(19)}  {d}" for t, o, d in rows)]
    if counts["failed"]:
        lines.append("  each failed tenant's table above says what to do; a retry or clear redoes only those")
    return "\n".join(lines)
