"""Both warehouse backends for reader tests: a DuckDB file, and Snowflake as fakesnow's HTTP server.

``warehouse`` (registered by tests/conftest.py) is parametrised over both: a test that takes it runs
once per backend and must see the same outcome. Snowflake gets a fresh database per test, reached
through an Airflow connection with the real connector, exactly as a deployment would.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

BACKENDS = ("duckdb", "snowflake")


def snowflake_connection(server: dict, database: str) -> dict:
    return {
        "conn_type": "snowflake",
        "login": server["user"],
        "password": server["password"],
        "schema": "PUBLIC",
        "extra": {
            "account": server["account"],
            "database": database,
            "warehouse": "TRANSFORMING",
            "role": "SALESTALK_LOADER",
            "host": server["host"],
            "port": server["port"],
            "protocol": "http",
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
            "login_timeout": 60,
            "network_timeout": 120,
        },
    }


@pytest.fixture(scope="session")
def fakesnow_server() -> Iterator[dict]:
    """fakesnow's server on loopback; the real snowflake-connector-python talks HTTP to it."""
    # One per process: fakesnow.server() imports the fakesnow.server module, which then shadows the function.
    from fakesnow import server

    with server() as kwargs:
        yield kwargs


@pytest.fixture(params=BACKENDS)
def warehouse_env(request, tmp_path, monkeypatch):
    """Select one backend the way a deployment does (``SALESTALK_WAREHOUSE`` and a connection); return its name."""
    if request.param == "duckdb":
        monkeypatch.setenv("SALESTALK_WAREHOUSE", "duckdb")
        monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    else:
        server = request.getfixturevalue("fakesnow_server")
        database = f"T{uuid.uuid4().hex[:12].upper()}"
        monkeypatch.setenv("SALESTALK_WAREHOUSE", "snowflake")
        monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_TEST", json.dumps(snowflake_connection(server, database)))
        monkeypatch.setenv("SALESTALK_SNOWFLAKE_CONN_ID", "snowflake_test")
    return request.param


@pytest.fixture
def warehouse(warehouse_env):
    """The configured warehouse for this parametrisation (DuckDB or Snowflake/fakesnow server)."""
    from salestalk.warehouse import open_warehouse

    return open_warehouse()


@pytest.fixture
def empty_warehouse(warehouse_env):
    """The same backend as ``warehouse``, for tests that override ``warehouse`` with filled tables."""
    from salestalk.warehouse import open_warehouse

    return open_warehouse()
