"""Point an in-process Airflow at this repository, with its metadata in SQLite. Call before importing airflow."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from salestalk import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path


def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "GX_ANALYTICS_ENABLED": "false",
    }


def configure(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(airflow_env(home))


def ensure_metadata_db() -> None:
    """Create the SQLite metadata schema once; later calls are cheap no-ops."""
    from airflow.utils import db

    db.initdb()
