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


def registry_source_folder(root) -> tuple:
    """(config folder, suites folder) under ``root``: the configs plus a copy of a source as a registry source."""
    folder = copy_sources(root / "sources")
    suites = copy_suites(root / "expectations")
    template = a_source(folder=folder, what="to copy as a registry source")
    add_source_copy(
        folder, template, REGISTRY_SOURCE, suites_dir=suites, template_folder=folder,
        changes=lambda data: data.update(tenants="registry"),
    )  # fmt: skip
    return folder, suites


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
    folder, suites = registry_source_folder(root)
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


class RegistryTouched(AssertionError):
    """Raised by every entry point of the tenant registry while the DAG folder parses."""


_REGISTRY_ENTRY_POINTS = ("get_registry", "source_tenants", "known_tenants", "all_tenants", "set_status")


@pytest.fixture(scope="module")
def parsed_with_a_raising_registry(tmp_path_factory):
    """The DAG folder parsed as the dag-processor does (DagBag, then each DAG serialized), with a registry
    source and every way into the tenant registry replaced by one that records the call and raises."""
    from airflow.dag_processing.processor import _serialize_dags

    from salestalk import tenant_registry

    root = tmp_path_factory.mktemp("raising-registry")
    folder, suites = registry_source_folder(root)
    calls: list[str] = []

    def raising(name):
        def touched(*args, **kwargs):
            calls.append(name)
            raise RegistryTouched(f"tenant registry called at parse time: {name}")

        return touched

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(loader.SOURCES_DIR_ENV, str(folder))
        patch.setenv("SALESTALK_TENANT_REGISTRY", "dynamodb://parse-time-must-not-ask")
        patch.setattr(loader, "SUITES_DIR", suites)
        for name in _REGISTRY_ENTRY_POINTS:
            patch.setattr(tenant_registry, name, raising(name))
        for cls in (tenant_registry.FileRegistry, tenant_registry.DynamoRegistry):
            patch.setattr(cls, "listing", raising(f"{cls.__name__}.listing"))
        bag = make_dagbag()
        serialized, serialization_errors = _serialize_dags(bag, _QuietLog())
        yield bag, serialized, serialization_errors, list(calls)


class _QuietLog:
    def exception(self, *args, **kwargs) -> None:
        pass


def test_parsing_and_serializing_the_dag_folder_never_calls_the_registry(parsed_with_a_raising_registry):
    bag, serialized, serialization_errors, calls = parsed_with_a_raising_registry
    assert calls == [], f"the tenant registry was called at parse time: {calls}"
    check_no_import_errors(bag)
    assert serialization_errors == {}
    assert f"source_{REGISTRY_SOURCE}" in bag.dag_ids
    assert sorted(d.dag_id for d in serialized) == sorted(bag.dag_ids)


def test_the_raising_registry_does_raise():
    """The check above is meaningful: a run-time read through the same patched entry point fails loudly."""
    from salestalk import tenant_registry
    from salestalk.run_params import selected_tenants

    source = a_source(what="whose tenants the registry would list").model_copy(update={"tenants": None})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            tenant_registry, "source_tenants", lambda *a, **k: (_ for _ in ()).throw(RegistryTouched())
        )
        with pytest.raises(RegistryTouched):
            selected_tenants(source, {"tenants": []})
