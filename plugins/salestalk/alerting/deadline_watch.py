"""Our own run deadline: a deferred task that watches its run from the triggerer.

Why not Airflow's ``DeadlineAlert``: under Airflow 3.3, a ``DAGRUN_QUEUED_AT`` deadline makes clearing a
task fail with HTTP 500 until the deadline passes (apache/airflow#70368), and queued-at counts the time a
run waits behind an earlier run of the same DAG. The watch counts from the moment the run started, ends
as soon as every other task of the run has finished, and pages only while the run is really unfinished.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TaskSuccessEvent, TriggerEvent

from salestalk.names import FAILED_TENANTS_KEY, SELECT_TASK_ID, SHARD_GROUP_ID, STEPS, WATCH_TASK_ID

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FINISHED_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
POLL_SECONDS = 5.0


def unfinished_tasks(states: dict[str, Any], watcher_task_id: str = WATCH_TASK_ID) -> list[str]:
    """The run's task instances (``task_id`` or ``task_id_<map_index>``) that have not finished."""
    return sorted(k for k, state in states.items() if k != watcher_task_id and state not in FINISHED_STATES)


def due_times(started_at: dt.datetime, deadlines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each deadline (``{"name", "minutes"}``) with its ``due_at`` (ISO, UTC), earliest first."""
    due = [
        {
            **d,
            "due_at": (started_at + dt.timedelta(minutes=float(d["minutes"]))).astimezone(dt.UTC).isoformat(),
        }
        for d in deadlines
    ]
    return sorted(due, key=lambda d: d["due_at"])


class RunDeadlineTrigger(BaseTrigger):
    """Watches one run from the triggerer: pages each deadline (``{"name", "minutes", "due_at"}``) that
    passes while tasks of the run are unfinished, and ends the watch task when they have all finished."""

    def __init__(
        self,
        *,
        dag_id: str,
        run_id: str,
        source: str,
        deadlines: list[dict[str, Any]],
        started_at: str,
        interval: tuple[str, str],
        watcher_task_id: str = WATCH_TASK_ID,
        poll: float = POLL_SECONDS,
    ) -> None:
        super().__init__()
        self.dag_id = dag_id
        self.run_id = run_id
        self.source = source
        self.deadlines = sorted(deadlines, key=lambda d: d["due_at"])
        self.started_at = started_at
        self.interval = tuple(interval)
        self.watcher_task_id = watcher_task_id
        self.poll = poll

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "dag_id": self.dag_id,
                "run_id": self.run_id,
                "source": self.source,
                "deadlines": self.deadlines,
                "started_at": self.started_at,
                "interval": list(self.interval),
                "watcher_task_id": self.watcher_task_id,
                "poll": self.poll,
            },
        )

    async def _ask(self, message: Any) -> Any:
        """Ask the triggerer's supervisor (the API server behind it) without blocking the event loop."""
        from airflow.sdk.execution_time import task_runner

        return await task_runner.SUPERVISOR_COMMS.asend(message)

    async def _states(self) -> dict[str, Any]:
        from airflow.sdk.execution_time.comms import GetTaskStates

        answer = await self._ask(GetTaskStates(dag_id=self.dag_id, run_ids=[self.run_id]))
        return answer.task_states.get(self.run_id, {})

    async def _shards(self) -> list[list[str]]:
        """The run's shards of tenants, as its ``tenants`` task chose them (map index order)."""
        from salestalk.shards import as_shards

        return as_shards(await self._xcom(SELECT_TASK_ID, -1, "return_value"))

    async def _xcom(self, task_id: str, map_index: int, key: str) -> Any:
        import json

        from airflow.sdk.execution_time.comms import GetXCom

        answer = await self._ask(
            GetXCom(key=key, dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, map_index=map_index)
        )
        value = getattr(answer, "value", None)
        return json.loads(value) if isinstance(value, str) else value

    async def _failed_tenants(self, states: dict[str, Any], shards: list[list[str]]) -> dict[str, list[str]]:
        """``{"<task>_<index>": tenants}`` of the failed step tasks of shards of several tenants."""
        found = {}
        for index, shard in enumerate(shards):
            for step in STEPS:
                name = f"{SHARD_GROUP_ID}.{step}_{index}"
                if len(shard) > 1 and states.get(name) == "failed":
                    found[name] = list(
                        await self._xcom(f"{SHARD_GROUP_ID}.{step}", index, FAILED_TENANTS_KEY) or []
                    )
        return found

    async def _page(self, deadline: dict[str, Any], states: dict[str, Any]) -> None:
        from salestalk.alerting.callbacks import deadline_missed

        try:
            shards = await self._shards()
            failed = await self._failed_tenants(states, shards)
        except Exception:
            self.log.warning("could not read the tenants of %s", self.run_id, exc_info=True)
            shards, failed = [], {}
        await asyncio.to_thread(
            deadline_missed,
            source=self.source,
            deadline=deadline["name"],
            minutes=float(deadline["minutes"]),
            run_id=self.run_id,
            started_at=self.started_at,
            due_at=deadline["due_at"],
            interval_start=self.interval[0],
            interval_end=self.interval[1],
            progress=tenant_progress(states, shards, STEPS, failed),
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        waiting = list(self.deadlines)
        while True:
            try:
                states = await self._states()
            except Exception:  # the API server restarting must not end the watch: look again
                self.log.warning("could not read the task states of %s; retrying", self.run_id, exc_info=True)
                await asyncio.sleep(self.poll)
                continue
            if not unfinished_tasks(states, self.watcher_task_id):
                yield TaskSuccessEvent()
                return
            now = dt.datetime.now(dt.UTC)
            while waiting and now >= dt.datetime.fromisoformat(waiting[0]["due_at"]):
                missed = waiting.pop(0)
                self.log.warning(
                    "run %s is not finished at deadline %s (%s)",
                    self.run_id,
                    missed["name"],
                    missed["due_at"],
                )
                await self._page(missed, states)
            await asyncio.sleep(self.poll)


def tenant_progress(
    states: dict[str, Any],
    shards: list[list[str]],
    steps: tuple[str, ...],
    failed: dict[str, list[str]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per tenant: published, failed or still running, and the step it is at. A tenant's step state is
    its shard's task state (``tenant.<step>_<index>``); a failed task of a shard of several tenants failed
    only for the tenants in ``failed["tenant.<step>_<index>"]``, and finished for the others."""
    failed = failed or {}
    progress = {}
    for index, shard in enumerate(shards):
        for tenant in shard:
            by_step = {}
            for step in steps:
                name = f"{SHARD_GROUP_ID}.{step}_{index}"
                state = states.get(name)
                if state == "failed" and name in failed and tenant not in failed[name]:
                    state = "success"
                by_step[step] = state
            bad = [s for s, state in by_step.items() if state in ("failed", "upstream_failed")]
            if by_step[steps[-1]] == "success" and not bad:
                status, at = "published", steps[-1]
            elif bad:
                status, at = "failed", bad[0]
            else:
                status = "running"
                at = next((s for s, state in by_step.items() if state != "success"), steps[0])
            progress[tenant] = {"status": status, "step": at, "state": by_step.get(at)}
    return progress
