"""Keep task logs and CLI output to our own lines: third-party libraries log only warnings and errors."""

from __future__ import annotations

import logging

# Libraries whose INFO lines drown ours: GX logs some 200 lines when it is imported and its context is built.
THIRD_PARTY = (
    "great_expectations",
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "requests",
    "duckdb",
    "fakesnow",
    "snowflake",
    "sqlglot",
    "numexpr",
    "fsspec",
    "filelock",
    "charset_normalizer",
    "markdown_it",
    "asyncio",
    "airflow.providers",  # e.g. "AWS Connection ... credentials retrieved" in every step
)


def quiet_third_party(level: int = logging.WARNING) -> None:
    """Raise the THIRD_PARTY loggers to ``level``; a level the deployment set explicitly is left alone.

    Cheap and idempotent: call it at the start of every task and CLI command. ``salestalk.*`` is untouched.
    Airflow's logging setup (when ``airflow`` is first imported) resets the levels under ``airflow.``, so
    ``airflow.providers`` stays quiet only if this runs after that, as it does in a task.
    """
    for name in THIRD_PARTY:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)
