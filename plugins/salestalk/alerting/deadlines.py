"""Deadline Alerts from a source's config, and the ``dag.test()`` workaround.

Airflow 3 has no ``sla_miss_callback``: a DAG gets ``DeadlineAlert``s, evaluated by the scheduler, whose
callback is stored as an import path (:func:`salestalk.alerting.callbacks.deadline_missed`) and runs in the
executor (``SyncCallback``). Under Airflow 3.3.2, ``dag.test()`` crashes at the end of any run of a DAG
with deadlines (``'dict' object has no attribute 'hex'``), and deadlines never fire there anyway: use
:func:`deadlines_suspended` around ``dag.test()`` only; the DAGs themselves keep their deadlines.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator

    from salestalk.config.models import SourceConfig

CALLBACK_PATH = "salestalk.alerting.callbacks.deadline_missed"


def deadline_minutes(source: SourceConfig, minutes: float | None) -> float:
    return float(source.freshness_target_minutes if minutes is None else minutes)


def deadline_alerts(source: SourceConfig) -> list:
    """One ``DeadlineAlert`` per ``alerting.deadlines`` entry (default: freshness target after queued)."""
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    references = {
        "queued_at": DeadlineReference.DAGRUN_QUEUED_AT,
        "logical_date": DeadlineReference.DAGRUN_LOGICAL_DATE,
    }
    alerts = []
    for spec in source.alerting.deadlines:
        minutes = deadline_minutes(source, spec.minutes)
        alerts.append(
            DeadlineAlert(
                reference=references[spec.reference],
                interval=dt.timedelta(minutes=minutes),
                callback=SyncCallback(
                    CALLBACK_PATH,
                    kwargs={
                        "source": source.name,
                        "deadline": spec.name,
                        "minutes": minutes,
                        "reference": spec.reference,
                    },
                ),
                name=f"{source.dag_id}.{spec.name}",
            )
        )
    return alerts


@contextmanager
def deadlines_suspended(dag) -> Generator[None, None, None]:
    """Run ``dag.test()`` inside this: the DAG's deadlines are removed for the call and then restored."""
    saved = dag.deadline
    dag.deadline = None
    try:
        yield
    finally:
        dag.deadline = saved
