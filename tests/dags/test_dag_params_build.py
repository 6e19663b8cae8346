"""The source DAG's trigger params as the factory builds them (without Airflow's per-task deep copies): every
task holds the DAG's params as its own objects, marked ``source="dag"``, and a default its schema refuses
still fails the DAG as ``DAG(params=...)`` would."""

from __future__ import annotations

import pytest

from tests.support.sources import a_source


@pytest.fixture(scope="module")
def built():
    from salestalk.dagfactory import build_dag

    source = a_source(lambda s: s.tenants is not None, what="with pinned tenants")
    return source, build_dag(source, "x")


def test_every_task_has_the_dag_params_as_its_own(built) -> None:
    from salestalk.run_params import param_specs

    source, dag = built
    specs = param_specs(source)
    assert list(dag.params) == list(specs)
    for name, spec in specs.items():
        param = dag.params.get_param(name)
        assert (param.value, param.description, param.source) == (spec["default"], spec["description"], None)
        assert param.schema == {k: v for k, v in spec.items() if k not in ("default", "description")}
    seen: set[int] = set()
    for task in dag.tasks:
        assert list(task.params) == list(specs), task.task_id
        for name in specs:
            param, dag_param = task.params.get_param(name), dag.params.get_param(name)
            assert param.source == "dag"
            assert (param.value, param.description, param.schema) == (
                dag_param.value,
                dag_param.description,
                dag_param.schema,
            )
            assert param is not dag_param and id(param) not in seen
            if isinstance(param.value, list):
                assert param.value is not dag_param.value  # a task changing its value changes only its own
            seen.add(id(param))


def test_a_default_its_schema_refuses_fails_the_dag(monkeypatch) -> None:
    from salestalk import dagfactory

    source = a_source(lambda s: s.tenants is not None, what="with pinned tenants")
    broken = dagfactory.param_specs(source)
    broken["tenants"]["default"] = []  # minItems 1

    monkeypatch.setattr(dagfactory, "param_specs", lambda _source: broken)
    with pytest.raises(ValueError, match=r"not allowed to define a Schedule.*param tenants"):
        dagfactory.build_dag(source, "x")


def test_the_dag_params_resolve_like_airflow_params(built) -> None:
    _, dag = built
    assert dag.params.validate() == {name: dag.params.get_param(name).value for name in dag.params}
