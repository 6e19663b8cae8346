"""A source whose config says ``tenants: registry`` (its tenants come from the tenant registry) parses without the
registry: the DAG files and the DagBag never open the registry file nor connect anywhere, the whole DAG
policy holds, and its trigger form has no tenant enum (names are checked when a run starts)."""

from __future__ import annotations

import sys

import pytest

from salestalk.config import loader
from tests.dags.policy import check_dagbag, check_no_import_errors, make_dagbag
from tests.support.sources import a_source, add_source_copy, copy_sources, copy_suites

REGISTRY_SOURCE = "registry_copy"
_watch: dict[str, object] = {"path": None, "opened": [], "connects": []}


def _audit(event: str, args: tuple) -> None:
    path = _watch["path"]
    if path is None:
        return
    if event == "open" and args and str(args[0]) == path:
        _watch["opened"].append(args[0])
    elif event == "socket.connect":
        _watch["connects"].append(args[1])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry-source")
    folder = copy_sources(root / "sources")
    suites = copy_suites(root / "expectations")
    template = a_source(folder=folder, what="to copy as a registry source")
    add_source_copy(
        folder, template, REGISTRY_SOURCE, suites_dir=suites, template_folder=folder,
        changes=lambda data: data.update(tenants="registry"),
    )  # fmt: skip
    poisoned = root / "tenants.yaml"
    poisoned.write_text("tenants: [\n")  # unreadable: any read at parse time would fail the import
    sys.addaudithook(_audit)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(loader.SOURCES_DIR_ENV, str(folder))
        patch.setenv("SALESTALK_TENANT_REGISTRY", str(poisoned))
        patch.setattr(loader, "SUITES_DIR", suites)
        _watch.update(path=str(poisoned), opened=[], connects=[])
        try:
            bag = make_dagbag()
        finally:
            watched = dict(_watch)
            _watch["path"] = None
        yield folder, bag, watched


def test_a_registry_source_parses_without_touching_the_registry(parsed):
    folder, bag, watched = parsed
    check_no_import_errors(bag)
    assert watched["opened"] == [], "the registry file was opened at parse time"
    assert watched["connects"] == [], f"parse time connected to {watched['connects']}"
    assert f"source_{REGISTRY_SOURCE}" in bag.dag_ids


def test_the_dag_policy_holds_with_a_registry_source(parsed):
    folder, bag, _ = parsed
    check_dagbag(bag, folder)  # includes: no tenant enum, doc names the registry, insight params open
    dag = bag.dags[f"source_{REGISTRY_SOURCE}"]
    assert "tenant registry" in dag.doc_md
