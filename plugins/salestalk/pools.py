"""The Airflow pools the source configs name (``concurrency.api_pool``), with their slots. No Airflow import.

A pool must exist before a task that names it can run (the scheduler leaves such a task scheduled and the UI
shows a "non-existent pool" DAG warning), so whatever sets up an Airflow creates these first: the local
launcher (dev.airflow_stack), astro's ``airflow_settings.yaml``, or ``airflow pools set`` in production.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from salestalk.config.models import SourceConfig


def required_pools(configs: Iterable[SourceConfig]) -> dict[str, int]:
    """``{pool: slots}`` for every ``concurrency.api_pool``; sources sharing a pool get the largest slots."""
    pools: dict[str, int] = {}
    for config in configs:
        limits = config.concurrency
        if limits.api_pool:
            pools[limits.api_pool] = max(pools.get(limits.api_pool, 0), limits.api_pool_slots)
    return dict(sorted(pools.items()))


def pool_description(pool: str, configs: Iterable[SourceConfig]) -> str:
    users = sorted(c.name for c in configs if c.concurrency.api_pool == pool)
    return f"source API calls of {', '.join(users)} (concurrency.api_pool in their configs)"
