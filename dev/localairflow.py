"""Point an in-process Airflow at this repository, with its metadata in SQLite. Call before importing airflow."""

from __future__ import annotations

import json
import os
from pathlib import Path

from salestalk import REPO_ROOT
from salestalk.names import AWS_SESSION_FACTORY

LINEAGE_FILE = "lineage/openlineage.jsonl"
# Besides AIRFLOW__OPENLINEAGE__*: what tells the OpenLineage provider where (or whether) to send events.
LINEAGE_CHOICES = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED")


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__AWS__SESSION_FACTORY": AWS_SESSION_FACTORY,
        "GX_ANALYTICS_ENABLED": "false",
        # OpenLineage stays off here unless the caller's environment configures a transport (docs/lineage.md);
        # when it does, events are sent from a bounded thread of the task process, never a fork.
        "AIRFLOW__OPENLINEAGE__NAMESPACE": os.environ.get(
            "AIRFLOW__OPENLINEAGE__NAMESPACE", "salestalk-local"
        ),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }


def configure(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(home))


def ensure_metadata_db() -> None:
    """Create the SQLite metadata schema once; later calls are cheap no-ops."""
    from airflow.utils import db

    db.initdb()


def lineage_env(home: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The ``[openlineage]`` settings of a local Airflow stack (``make airflow``; docs/lineage.md).

    The developer's choice wins: ``AIRFLOW__OPENLINEAGE__*`` variables of ``environ`` are passed on (the
    stack's components get no other ``AIRFLOW*`` variable of the launcher), and ``OPENLINEAGE_URL`` /
    ``OPENLINEAGE_CONFIG`` reach them anyway. Without a choice the events go to a JSON-lines file under
    ``home`` (:data:`LINEAGE_FILE`). Emission runs in a bounded thread of the task process.
    """
    environ = dict(os.environ if environ is None else environ)
    chosen = {k: v for k, v in environ.items() if k.startswith("AIRFLOW__OPENLINEAGE__")}
    env = {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "salestalk-local",
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
    }
    configured = any(
        k in chosen
        for k in (
            "AIRFLOW__OPENLINEAGE__TRANSPORT",
            "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
            "AIRFLOW__OPENLINEAGE__DISABLED",
        )
    ) or any(environ.get(k) for k in LINEAGE_CHOICES)
    if not configured:
        path = Path(home) / LINEAGE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(path), "append": True}
        )
    return {**env, **chosen}
