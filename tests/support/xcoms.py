"""Reading a dag.test() run's XComs from the metadata database."""

from __future__ import annotations

from typing import Any


def xcom_values(dag_run: Any, task_id: str, key: str, map_index: int | None = None) -> list[Any]:
    """The deserialized values of ``key`` pushed by ``task_id`` in ``dag_run`` (one map index, or all)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            XComModel.get_many(
                run_id=dag_run.run_id,
                dag_ids=dag_run.dag_id,
                task_ids=task_id,
                map_indexes=map_index,
                key=key,
            ).with_only_columns(XComModel.value)
        ).all()
    return [XComModel.deserialize_value(row) for row in rows]
