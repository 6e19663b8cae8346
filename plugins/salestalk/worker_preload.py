"""Imported once by each Celery worker at start (Celery's ``imports`` setting), before it forks task processes.

Airflow forks every task process from the worker, so modules imported here are inherited instead of being
imported again by every task: great_expectations alone takes about 4.4 s. Never imported by DAG files.
Set GX_ANALYTICS_ENABLED=false in the environment. Enable with ``AIRFLOW__CELERY__EXTRA_CELERY_CONFIG='{"imports": ["salestalk.worker_preload"]}'``.
"""

from __future__ import annotations

import boto3  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401

import great_expectations  # noqa: F401
from salestalk.warehouse import preload_backend

preload_backend()
