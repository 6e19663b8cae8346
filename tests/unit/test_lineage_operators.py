"""The operators' lineage glue never fails a task and does nothing when lineage is off."""

from __future__ import annotations

import logging

import pytest

from salestalk import lineage
from salestalk.batch import Batch
from salestalk.operators import openlineage as glue
from tests.support.sources import a_source

REST = a_source(kind="rest_api")
TRANSPORT_VARIABLES = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "AIRFLOW__OPENLINEAGE__TRANSPORT")


@pytest.fixture
def lineage_off(monkeypatch):
    for name in (
        *TRANSPORT_VARIABLES,
        "AIRFLOW__OPENLINEAGE__CONFIG_PATH",
        "AIRFLOW__OPENLINEAGE__CONFIG_CONN_ID",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def lineage_on(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__TRANSPORT", '{"type": "console"}')


def test_off_without_a_transport(lineage_off) -> None:
    assert glue.lineage_enabled() is False
    assert glue.remember_source_step(REST.name, REST.tenants[0], {"run_id": "r"}) is None
    assert glue.remember_dynamodb_write("acme", "insight_summary", "t", "us-east-1", {"run_id": "r"}) is None
    assert glue.source_step_lineage("extract", None, {"extracted": 1}) is None


def test_a_context_it_cannot_read_gives_no_lineage_and_a_warning(lineage_on, caplog) -> None:
    assert glue.lineage_enabled() is True
    with caplog.at_level(logging.WARNING, logger=glue.__name__):
        assert glue.remember_source_step(REST.name, REST.tenants[0], {}) is None  # no interval, no run id
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("lineage:")]


def test_a_dataset_it_cannot_name_gives_no_lineage_and_a_warning(lineage_on, caplog) -> None:
    batch = Batch(REST.name, REST.tenants[0], "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "r")
    broken = {
        "source": REST,
        "batch": batch,
        "places": lineage.Places(
            bucket="b", warehouse=lineage.duckdb_warehouse("/w.duckdb"), api_base_url=None
        ),
    }
    with caplog.at_level(logging.WARNING, logger=glue.__name__):
        assert glue.source_step_lineage("extract", broken, {"extracted": 3}) is None
    assert any("no base URL" in r.getMessage() for r in caplog.records)
    working = {**broken, "places": lineage.Places("b", lineage.duckdb_warehouse("/w.duckdb"), "http://h:1")}
    operator_lineage = glue.source_step_lineage("extract", working, {"extracted": 3})
    assert operator_lineage.run_facets["salestalkCounts"].extracted == 3
    assert [d.name for d in operator_lineage.inputs] == [REST.extract.path.format(tenant=batch.tenant)]
