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
        "batches": [batch],
        "places": lineage.Places(
            bucket="b", warehouse=lineage.duckdb_warehouse("/w.duckdb"), api_base_url=None
        ),
    }
    with caplog.at_level(logging.WARNING, logger=glue.__name__):
        assert glue.source_step_lineage("extract", broken, {batch.tenant: {"extracted": 3}}) is None
    assert any("no base URL" in r.getMessage() for r in caplog.records)
    working = {**broken, "places": lineage.Places("b", lineage.duckdb_warehouse("/w.duckdb"), "http://h:1")}
    operator_lineage = glue.source_step_lineage("extract", working, {batch.tenant: {"extracted": 3}})
    assert operator_lineage.run_facets["salestalkCounts"].extracted == 3
    assert [d.name for d in operator_lineage.inputs] == [REST.extract.path.format(tenant=batch.tenant)]


def test_a_shard_of_several_tenants_lists_each_batch_in_the_shard_facet(lineage_on) -> None:
    tenants = ["acme", "globex"]
    batches = [Batch(REST.name, t, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "r") for t in tenants]
    places = lineage.Places("b", lineage.duckdb_warehouse("/w.duckdb"), "http://h:1")
    remembered = {"source": REST, "batches": batches, "places": places}
    found = glue.source_step_lineage("load_to_staging", remembered, {"acme": {"staged": 5}})
    assert set(found.run_facets) == {lineage.SHARD_FACET}
    entries = found.run_facets[lineage.SHARD_FACET].batches
    assert [e["tenant"] for e in entries] == tenants
    assert entries[0]["counts"] == {"staged": 5} and "counts" not in entries[1]  # globex did not finish
    names = [d.name for d in found.inputs + found.outputs]
    assert len(names) == len(set(names)), "a table the tenants share is listed once"
    for tenant in tenants:  # each tenant's raw prefix, inside that tenant
        assert any(n.startswith(f"tenants/{tenant}/") and n.endswith("/") for n in names)
