"""Adding a source as the README says gives one more DAG, and the whole DAG policy still holds.

A temporary config folder holds the repository's sources plus, for every extract kind in use, a copy of a
source of that kind under a new name with its own suite (one of them also with a tenant no other source
has). The DAGs are built from that folder (SALESTALK_SOURCES_DIR) and checked with the same policy
functions as the repository's DAGs (tests/dags/policy.py).
"""

from __future__ import annotations

import pytest

from salestalk.config import loader
from tests.dags.policy import (
    check_dag_ids,
    check_dagbag,
    check_insight_tenants_mapped,
    check_source_dag,
    expected_source_dag_ids,
    make_dagbag,
    source_configs,
)
from tests.support.sources import a_source, add_source_copy, configs, copy_sources, copy_suites

NEW_TENANT = "added-tenant"


def added_name(kind: str) -> str:
    return f"added_{kind}"


@pytest.fixture(scope="module")
def added(tmp_path_factory):
    """(folder, {new source name: template name}); the folder and its suites are in force meanwhile."""
    root = tmp_path_factory.mktemp("added-source")
    folder = copy_sources(root / "sources")
    suites = copy_suites(root / "expectations")
    names = {}
    for kind in sorted({c.extract.kind for c in configs(folder).values()}):
        template = a_source(kind=kind, folder=folder)
        name = added_name(kind)
        with_new_tenant = not names  # the first added source also serves a tenant no other source has

        def changes(data, template=template, with_new_tenant=with_new_tenant) -> None:
            data["description"] = f"A copy of {template.name} added by a test."
            if with_new_tenant:
                data["tenants"] = [*template.tenants, NEW_TENANT]

        add_source_copy(folder, template, name, suites_dir=suites, changes=changes, template_folder=folder)
        names[name] = template.name
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(loader.SOURCES_DIR_ENV, str(folder))
        patch.setattr(loader, "SUITES_DIR", suites)  # the new suites live beside the temporary configs
        yield folder, names


@pytest.fixture(scope="module")
def dagbag(added):
    return make_dagbag()


def test_the_added_sources_load_with_their_own_suites(added) -> None:
    folder, names = added
    result = loader.load_sources(folder)
    assert result.errors == []
    assert set(names) <= set(result.configs)
    for name in names:
        assert result.configs[name].expectation_suite == name
        assert (loader.SUITES_DIR / f"{name}.json").is_file()
        assert not (loader.REPO_ROOT / "great_expectations" / "expectations" / f"{name}.json").exists()


def test_the_dag_ids_are_exactly_the_config_files_including_the_added_ones(added, dagbag) -> None:
    folder, names = added
    check_dag_ids(dagbag, folder)
    repository = expected_source_dag_ids(loader.SOURCES_DIR)
    assert expected_source_dag_ids(folder) == repository | {f"source_{n}" for n in names}


def test_every_added_dag_passes_every_check(added, dagbag) -> None:
    folder, names = added
    configs_by_dag = source_configs(folder)
    for name in sorted(names):
        check_source_dag(dagbag.dags[f"source_{name}"], configs_by_dag[f"source_{name}"])


def test_the_new_tenant_is_mapped_and_gets_insight_summaries(added, dagbag) -> None:
    folder, names = added
    first = min(names)
    config = source_configs(folder)[f"source_{first}"]
    assert NEW_TENANT in config.tenants
    check_source_dag(dagbag.dags[config.dag_id], config)  # mapped over its tenants, the new one included
    check_insight_tenants_mapped(dagbag, folder)


def test_the_whole_policy_holds_on_the_dags_built_from_the_folder(added, dagbag) -> None:
    folder, _ = added
    check_dagbag(dagbag, folder)
