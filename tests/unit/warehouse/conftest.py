"""Fixtures for the warehouse tests: fakesnow in patch mode behind an Airflow connection."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SNOWFLAKE_CONNECTION = {
    "conn_type": "snowflake",
    "login": "fake",
    "password": "snow",
    "schema": "PUBLIC",
    "extra": {
        "account": "fakesnow",
        "database": "SALESTALK",
        "warehouse": "TRANSFORMING",
        "role": "SALESTALK_LOADER",
    },
}


@pytest.fixture
def snowflake_patched(monkeypatch):
    """fakesnow's in-process patch: the provider's hook gets a fake connection with a fresh database."""
    import fakesnow

    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps(SNOWFLAKE_CONNECTION))
    with fakesnow.patch():
        yield
