"""A source's run deadlines from its config, for the deadline watch task.

Each ``alerting.deadlines`` entry pages ``deadline_missed`` when a run is unfinished that many minutes
after it started (default: the source's freshness target). The watch is a task of the run, deferred to
the triggerer (:mod:`salestalk.alerting.deadline_watch`), not an Airflow ``DeadlineAlert``: see
docs/runbooks/deadline-missed.md for why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig


def deadline_minutes(source: SourceConfig, minutes: float | None) -> float:
    return float(source.freshness_target_minutes if minutes is None else minutes)


def watch_deadlines(source: SourceConfig) -> list[dict[str, Any]]:
    """``[{"name", "minutes"}]``, one per ``alerting.deadlines`` entry; empty means no watch task."""
    return [
        {"name": d.name, "minutes": deadline_minutes(source, d.minutes)} for d in source.alerting.deadlines
    ]
