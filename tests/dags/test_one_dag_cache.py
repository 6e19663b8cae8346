"""A task process builds only its own source DAG, from the DAG spec the config cache keeps: the same DAG as a
full parse builds, without loading the config again while nothing it was checked against changed."""

from __future__ import annotations

import pytest
import yaml

from tests.dags.test_dag_factory_equivalence import described
from tests.support.sources import a_source, copy_sources


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """(config folder, the source a task process wants); the config cache in tmp_path, parsing context set."""
    folder = copy_sources(tmp_path / "sources")
    source = a_source(lambda s: s.tenants is not None, folder=folder, what="with pinned tenants")
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", source.dag_id)
    return folder, source


def one_dag(folder):
    from salestalk.dagfactory import build_source_dags

    dags = build_source_dags("x", folder)
    assert len(dags) <= 1
    return dags[0] if dags else None


def no_loading(monkeypatch):
    from salestalk.config import loader

    def refuse(*args, **kwargs):
        raise AssertionError("the config was loaded although its cached spec is fresh")

    monkeypatch.setattr(loader, "load_sources", refuse)


def test_a_cached_spec_builds_the_same_dag_without_loading_the_config(setup, monkeypatch) -> None:
    from salestalk.dagfactory import build_dag

    folder, source = setup
    expected = described(build_dag(source, "x"))
    assert described(one_dag(folder)) == expected  # miss: loads, checks and remembers
    no_loading(monkeypatch)
    assert described(one_dag(folder)) == expected  # hit


def test_an_edited_config_is_loaded_again(setup, monkeypatch) -> None:
    folder, source = setup
    one_dag(folder)
    path = folder / f"{source.name}.yaml"
    data = yaml.safe_load(path.read_text())
    data["description"] = "edited after the spec was cached"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    assert one_dag(folder).description == "edited after the spec was cached"


def test_an_invalid_config_builds_no_dag_and_is_not_remembered(setup, tmp_path) -> None:
    folder, source = setup
    path = folder / f"{source.name}.yaml"
    path.write_text(path.read_text() + "\nschedul: '@daily'\n")
    assert one_dag(folder) is None
    assert not list((tmp_path / "cache").glob("dag-*.json"))


def test_a_changed_suite_is_checked_again(setup, tmp_path, monkeypatch) -> None:
    """The spec was checked against the suite's content: a suite that no longer fits the source's columns
    makes the config invalid, so the task process gets no DAG (the processor reports the error)."""
    import json

    from salestalk.config import loader

    folder, source = setup
    suites = tmp_path / "suites"
    suites.mkdir()
    suite_file = suites / f"{source.expectation_suite}.json"
    suite_file.write_bytes((loader.SUITES_DIR / suite_file.name).read_bytes())
    monkeypatch.setattr(loader, "SUITES_DIR", suites)
    assert one_dag(folder) is not None
    suite = json.loads(suite_file.read_text())
    suite["expectations"].append(
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}
    )
    suite_file.write_text(json.dumps(suite))
    assert one_dag(folder) is None


def test_without_a_config_cache_the_dag_is_built_from_the_config(setup, monkeypatch) -> None:
    from salestalk.dagfactory import build_dag

    folder, source = setup
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", "off")
    assert described(one_dag(folder)) == described(build_dag(source, "x"))
