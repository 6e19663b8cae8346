"""Age-based retention of stored GX validation results.

Every validation stores a result under ``uncommitted/validations/``. Kept forever, they fill the disk, and
every Data Docs index build lists them all. Results older than ``SALESTALK_GX_RETENTION_DAYS`` (default 14)
are removed, at most once an hour per machine; GX drops the page of a removed result at its next index
build. The index loads only the newest results (``validation_results_limit`` in great_expectations.yml).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)

RETENTION_DAYS_ENV = "SALESTALK_GX_RETENTION_DAYS"
DEFAULT_RETENTION_DAYS = 14.0
PRUNE_EVERY_SECONDS = 3600.0
MARKER = ".results_pruned_at"  # in uncommitted/: its mtime is when results were last pruned
RESULTS = "validations"
DAY_SECONDS = 86400.0


def retention_days() -> float:
    """Days a stored validation result is kept (``SALESTALK_GX_RETENTION_DAYS``)."""
    raw = os.environ.get(RETENTION_DAYS_ENV, "").strip()
    if not raw:
        return DEFAULT_RETENTION_DAYS
    try:
        days = float(raw)
    except ValueError:
        days = float("nan")
    if not days > 0:
        raise ValueError(f"{RETENTION_DAYS_ENV}={raw!r} must be a number of days above 0, e.g. 14")
    return days


def prune_results(results_dir: Path, older_than_days: float, *, now: float | None = None) -> int:
    """Remove the results written more than ``older_than_days`` before ``now`` and the run folders they
    leave empty (a suite's folder stays); how many results were removed."""
    cutoff = (time.time() if now is None else now) - older_than_days * DAY_SECONDS
    removed = 0
    for path in results_dir.rglob("*.json"):
        with contextlib.suppress(FileNotFoundError):  # another process pruned it first
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        # <suite>/<run name>/<run time>/<batch>.json: only the run folders, deepest first
        folders = [p for p in results_dir.glob("*/*/**") if p.is_dir()]
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty
                folder.rmdir()
    return removed


def prune_if_due(gx_root: Path, *, now: float | None = None) -> int | None:
    """Prune ``gx_root``'s results unless this machine did within the last hour, or the retention setting
    is invalid (logged as an error): None then."""
    now = time.time() if now is None else now
    uncommitted = gx_root / "uncommitted"
    marker = uncommitted / MARKER
    with contextlib.suppress(FileNotFoundError):
        if now - marker.stat().st_mtime < PRUNE_EVERY_SECONDS:
            return None
    try:
        days = retention_days()
    except ValueError as exc:  # a bad setting must not fail the validation that triggered the prune
        log.error("GX results not pruned: %s", exc)
        return None
    uncommitted.mkdir(parents=True, exist_ok=True)
    marker.touch()
    os.utime(marker, (now, now))  # first, so that other processes skip while this one prunes
    removed = prune_results(uncommitted / RESULTS, days, now=now)
    if removed:
        log.info(
            "GX results: removed %d older than %g days from %s (%s)",
            removed,
            days,
            uncommitted / RESULTS,
            RETENTION_DAYS_ENV,
        )
    return removed
