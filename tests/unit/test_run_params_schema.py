"""The trigger form's schemas stay small (Airflow meta-validates them and deep-copies them into every task on
every parse), and the names they no longer constrain are checked when the run starts."""

from __future__ import annotations

import pytest

from salestalk.run_params import RunParamsError, param_specs, selected_tenants
from tests.support.sources import a_source


@pytest.fixture(scope="module")
def pinned():
    return a_source(lambda s: s.tenants is not None, what="with pinned tenants")


@pytest.fixture(scope="module")
def registry(pinned):
    return pinned.model_copy(update={"tenants": None})


def test_a_pinned_source_lists_its_tenants_as_examples_without_an_enum(pinned) -> None:
    spec = param_specs(pinned)["tenants"]
    assert spec["default"] == spec["examples"] == list(pinned.tenants)  # the form's pick list
    assert spec["type"] == "array" and spec["minItems"] == 1
    assert "items" not in spec and "enum" not in spec


def test_a_registry_source_lists_no_tenants(registry) -> None:
    spec = param_specs(registry)["tenants"]
    assert spec["default"] == [] and spec["type"] == "array"
    assert not {"items", "enum", "examples"} & set(spec)
    assert "registry" in spec["description"]


@pytest.mark.parametrize("which", ["pinned", "registry"])
def test_the_specs_make_valid_airflow_params(request, which) -> None:
    from airflow.sdk import Param

    source = request.getfixturevalue(which)
    for name, spec in param_specs(source).items():
        spec = dict(spec)
        default = spec.pop("default")
        assert Param(default, **spec).resolve() == default, name


@pytest.mark.parametrize(
    "wanted",
    [
        pytest.param([{"tenant": "acme"}], id="an object"),
        pytest.param([1], id="a number"),
        pytest.param([["acme"]], id="a nested list"),
        pytest.param({"acme": 1}, id="a mapping"),
    ],
)
def test_tenants_that_are_not_names_are_refused_when_the_run_starts(pinned, wanted) -> None:
    with pytest.raises(RunParamsError, match="list of tenant names"):
        selected_tenants(pinned, {"tenants": wanted})


def test_an_unknown_tenant_is_refused_naming_the_valid_ones(pinned) -> None:
    with pytest.raises(RunParamsError, match="not active tenant") as caught:
        selected_tenants(pinned, {"tenants": [pinned.tenants[0], "no-such-tenant"]})
    assert pinned.tenants[0] in str(caught.value)
    assert selected_tenants(pinned, {"tenants": [pinned.tenants[-1], pinned.tenants[-1]]}) == [
        pinned.tenants[-1]
    ]
