"""Imported once by each Celery worker at start (Celery's ``imports`` setting), before it forks task processes.

Airflow forks every task process from the worker, so modules imported here are inherited instead of being
imported again by every task: great_expectations alone takes about 4.4 s. The GX file context is built
here too (it reads the project's config, no tenant data), and the Data Docs templates compiled, so each
forked validate reuses them. The AWS service models are parsed here too (salestalk.aws_sessions). Never
imported by DAG files.
Set GX_ANALYTICS_ENABLED=false in the environment. Enable with ``AIRFLOW__CELERY__EXTRA_CELERY_CONFIG='{"imports": ["salestalk.worker_preload"]}'``.
"""

from __future__ import annotations

import logging

logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its import logs 200+ INFO lines

import boto3  # noqa: E402, F401
import pandas  # noqa: E402, F401
import pyarrow.parquet  # noqa: E402, F401

import great_expectations  # noqa: E402, F401
from salestalk.aws_sessions import warm_models  # noqa: E402
from salestalk.warehouse import preload_backend  # noqa: E402

preload_backend()
warm_models()  # each task's first S3 or DynamoDB client would parse its model (about 0.3 s for S3)


def _build_gx_context() -> None:
    from salestalk.quality.docs_view import warm_templates
    from salestalk.quality.gx_runner import gx_context

    try:
        gx_context()
        warm_templates()  # each validate task's first Data Docs page would compile them (about 0.35 s)
    except Exception:  # a task builds it again and fails there, with the task's own log
        logging.getLogger(__name__).warning("GX context not built at worker start", exc_info=True)


_build_gx_context()
