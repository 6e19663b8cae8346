"""Tenant shards: the tenants one step task processes, and what each tenant has done in this run.

Airflow-free. A run's tenants are cut into shards (``concurrency.tenants_per_task``); each step task runs
its shard's tenants in threads. A tenant's finished step is noted in ``audit.step_runs`` with the run's id
(salestalk.warehouse.tables), so a retry or a clear of the task redoes only the tenants that failed, and a
later step takes only the tenants whose previous step finished in this run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.names import STEPS

if TYPE_CHECKING:
    from collections.abc import Sequence

AUTO_ONE_PER_TASK = 12  # up to this many tenants, an unset tenants_per_task gives each tenant its own tasks
AUTO_MIN_SHARDS = 4  # beyond it, at least this many shards per step (the slots of a 2-core machine) ...
AUTO_MAX_SHARDS = 12  # ... and at most this many
AUTO_SHARD_TENANTS = 25  # between the two, shards of this many: a task's start-up is paid once per 25 tenants
LABEL_MAX_TENANTS = 3  # a shard of more tenants is labelled by its first and last


def shard_size(configured: int | None, tenants: int) -> int:
    """Tenants per task: the configured number; else one up to AUTO_ONE_PER_TASK tenants, then
    AUTO_SHARD_TENANTS, within AUTO_MIN_SHARDS to AUTO_MAX_SHARDS shards."""
    if configured is not None:
        return configured
    if tenants <= AUTO_ONE_PER_TASK:
        return 1
    fewest = math.ceil(tenants / AUTO_MAX_SHARDS)
    return max(fewest, min(AUTO_SHARD_TENANTS, math.ceil(tenants / AUTO_MIN_SHARDS)))


def make_shards(tenants: Sequence[str], size: int) -> list[list[str]]:
    """``tenants`` in order, cut into lists of ``size`` (the last may be shorter)."""
    if size < 1:
        raise ValueError(f"a shard holds at least one tenant (got {size})")
    listed = list(tenants)
    return [listed[i : i + size] for i in range(0, len(listed), size)]


def shard_label(tenants: Sequence[str]) -> str:
    """How the UI names a shard's task: ``acme, globex`` or ``t001 … t025 (25 tenants)``."""
    if len(tenants) <= LABEL_MAX_TENANTS:
        return ", ".join(tenants)
    return f"{tenants[0]} … {tenants[-1]} ({len(tenants)} tenants)"


def as_shards(selected: Any) -> list[list[str]]:
    """A run's shards from its select task's value (a run from before shards listed tenants)."""
    return [[entry] if isinstance(entry, str) else list(entry) for entry in selected or []]


def run_tenants(selected: Any) -> list[str]:
    """Every tenant of a run, in order, from its select task's value."""
    return [tenant for shard in as_shards(selected) for tenant in shard]


@dataclass
class StepPlan:
    """What a step task does for its shard: run ``todo``, skip ``done`` (finished in this run already) and
    ``blocked`` (the previous step has not finished for them in this run)."""

    todo: list[str] = field(default_factory=list)
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    blocked: list[str] = field(default_factory=list)


def plan_step(step: str, tenants: Sequence[str], finished: dict[str, dict[str, Any]]) -> StepPlan:
    """The plan of ``step`` for ``tenants``, given ``{tenant: {step: counts}}`` of the steps each finished."""
    previous = STEPS[STEPS.index(step) - 1] if STEPS.index(step) else None
    plan = StepPlan()
    for tenant in tenants:
        steps = finished.get(tenant, {})
        if step in steps:
            plan.done[tenant] = steps[step]
        elif previous is not None and previous not in steps:
            plan.blocked.append(tenant)
        else:
            plan.todo.append(tenant)
    return plan


class ShardStepFailed(RuntimeError):
    """Some tenants of a shard failed a step; the others finished. ``failed`` maps tenant to its error;
    ``alert`` lists those that page as a task failure (a held-back publish pages through the DQ alert)."""

    def __init__(
        self, step: str, failed: dict[str, BaseException], finished: int, alert: list[str] | None = None
    ) -> None:
        self.step = step
        self.failed = failed
        self.alert = list(failed) if alert is None else alert
        from salestalk.steplog import first_line

        listed = "; ".join(f"{t}: {first_line(e)}" for t, e in failed.items())
        prefix = "" if self.alert else f"{HELD_BACK_MESSAGE}: "
        super().__init__(
            f"{prefix}{step} failed for {len(failed)} tenant(s) ({', '.join(failed)}); "
            f"{finished} other tenant(s) of the shard finished: {listed}"
        )


WAITING_ON_UPSTREAM = "waiting on upstream:"  # how a step's failure for tenants blocked upstream begins
HELD_BACK_MESSAGE = "publish held back"  # how a PublishHeldBack message begins: the run's DQ alert pages it
