"""Executor settings from the source config: the extract step's pool (one per source API), the limit of
tenants per step, the DAG's max_active_tasks; the pools the launcher must create; its parallelism default."""

from __future__ import annotations

import pytest
import yaml

from tests.support.sources import a_source, add_source_copy, copy_sources

POOL = "bench_api"


def _build(folder, name):
    from salestalk.config.loader import load_sources
    from salestalk.dagfactory import build_dag

    loaded = load_sources(folder)
    assert not loaded.errors, loaded.errors
    return loaded, build_dag(loaded.configs[name], "x")


@pytest.fixture
def pooled_folder(tmp_path):
    """The shipped configs plus two copies of a REST source sharing one API pool with different slots."""
    folder = copy_sources(tmp_path / "sources")
    template = a_source(kind="rest_api", what="calling a source API")
    for name, slots, per_step in (("pooled_a", 3, 2), ("pooled_b", 5, None)):
        concurrency = {"api_pool": POOL, "api_pool_slots": slots, "max_active_tasks": 6}
        if per_step:
            concurrency["max_active_per_step"] = per_step
        add_source_copy(folder, template, name, changes=lambda d, c=concurrency: d.update(concurrency=c))
    return folder


def test_extract_step_runs_in_the_source_api_pool(pooled_folder) -> None:
    from salestalk.names import EXTRACT
    from salestalk.operators.source_step import STEPS

    _, dag = _build(pooled_folder, "pooled_a")
    assert dag.max_active_tasks == 6
    steps = {step: dag.get_task(f"tenant.{step}") for step in STEPS}
    assert steps[EXTRACT].pool == POOL
    assert {s.pool for name, s in steps.items() if name != EXTRACT} == {"default_pool"}
    assert {s.max_active_tis_per_dag for s in steps.values()} == {2}


def test_unset_concurrency_keeps_airflow_defaults(tmp_path) -> None:
    from salestalk.operators.source_step import STEPS

    template = a_source(kind="rest_api", what="calling a source API")
    folder = copy_sources(tmp_path / "sources")
    _, dag = _build(folder, template.name)
    steps = [dag.get_task(f"tenant.{step}") for step in STEPS]
    assert {s.pool for s in steps} == {"default_pool"}
    assert {s.max_active_tis_per_dag for s in steps} == {None}
    assert dag.max_active_tasks == 16


def test_sources_sharing_a_pool_get_one_pool_with_the_largest_slots(pooled_folder) -> None:
    from dev.airflow_stack import configured_pools

    pools = configured_pools({"SALESTALK_SOURCES_DIR": str(pooled_folder)})
    assert list(pools) == [POOL]
    slots, description = pools[POOL]
    assert slots == 5
    assert "pooled_a" in description and "pooled_b" in description


@pytest.mark.parametrize("bad", [{"api_pool": "has space"}, {"api_pool_slots": 0}, {"max_tasks": 3}])
def test_bad_concurrency_is_a_config_error(tmp_path, bad) -> None:
    from salestalk.config.loader import load_sources

    folder = copy_sources(tmp_path / "sources")
    template = a_source(kind="rest_api", what="calling a source API")
    add_source_copy(folder, template, "broken", changes=lambda d: d.update(concurrency=bad))
    errors = load_sources(folder).errors
    assert any("concurrency" in str(e) for e in errors), errors


def test_launcher_parallelism_is_two_per_core_and_can_be_raised(tmp_path) -> None:
    from dev.airflow_stack import default_parallelism, stack_env

    assert default_parallelism(2) == 4
    assert default_parallelism(1) == 2
    assert default_parallelism(8) == 16
    env = stack_env(tmp_path / "a", api_port=1)
    assert env["AIRFLOW__CORE__PARALLELISM"] == str(default_parallelism())
    assert stack_env(tmp_path / "b", api_port=1, parallelism=12)["AIRFLOW__CORE__PARALLELISM"] == "12"


def test_astro_settings_list_a_pool_for_every_configured_api_pool() -> None:
    """airflow_settings.yaml (astro) must create the pools the shipped configs name."""
    from salestalk import REPO_ROOT
    from salestalk.config.loader import load_sources
    from salestalk.pools import required_pools

    settings = yaml.safe_load((REPO_ROOT / "airflow_settings.yaml").read_text())
    listed = {p["pool_name"]: p["pool_slot"] for p in settings["airflow"]["pools"] or []}
    assert required_pools(load_sources().configs.values()).items() <= listed.items()
