"""What a built DAG amounts to, as text, to tell whether two ways of building a DAG built the same one.

Used by tests/dags/test_dag_factory_equivalence.py (the factory against Airflow's plain API) and by
benchmarks/parse_time.py (the dict-loop baseline against ours). Imports only Airflow, and only when called:
the benchmark's worker imports this module after its timed ``DagBag`` run, in each candidate's own
interpreter (dag-factory's throwaway venv too), so it must not pull in salestalk or warm Airflow's modules.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: what ``DagSerialization.to_dict`` records about where the DAG file was, not what the DAG is
FILE_KEYS = ("fileloc", "relative_fileloc", "_processor_dags_folder")
#: task attributes holding Python callables, which serialization reduces to flags
CALLABLE_ATTRS = ("on_failure_callback", "on_retry_callback", "pre_execute", "post_execute")


def _callable_name(value: Any) -> Any:
    """A callable, or a list of them, by import path (None and empty lists as they are)."""
    if value is None or isinstance(value, list | tuple):
        return value and [_callable_name(v) for v in value]
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', value)}"


def described(dag) -> str:
    """Everything the scheduler and the UI get from a DAG (its serialized form, without the file's path),
    plus each task's callables by import path; indented JSON, so a test's failure diff is readable."""
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dag)
    for key in FILE_KEYS:
        data["dag"].pop(key, None)
    callables = {
        task.task_id: [_callable_name(getattr(task, attr, None)) for attr in CALLABLE_ATTRS]
        for task in dag.tasks
    }
    return json.dumps([data, callables], sort_keys=True, default=str, indent=1)


def fingerprint(dag) -> str:
    """A short digest of :func:`described`: two DAGs with the same fingerprint are the same DAG."""
    return hashlib.blake2b(described(dag).encode(), digest_size=16).hexdigest()
