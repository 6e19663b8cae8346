"""The compatibility checker: the repository passes; each kind of breaking change is caught."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from salestalk import REPO_ROOT
from salestalk.contracts import ContractRegistry, default_registry
from salestalk.contracts.__main__ import main
from salestalk.contracts.compat import check_compatibility, compare_schemas
from salestalk.contracts.registry import CONTRACTS_DIR, dump_schema

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CLASSIFICATION = "classification.performed"
Schema = dict[str, Any]


def v1() -> Schema:
    return copy.deepcopy(default_registry().schema(CLASSIFICATION, 1))


def evolved(change: Callable[[Schema], object]) -> Schema:
    schema = v1()
    change(schema)
    return schema


def changes(new: Schema) -> list[str]:
    return [str(c) for c in compare_schemas(v1(), new)]


def test_the_repository_contracts_are_backward_compatible() -> None:
    assert check_compatibility(default_registry()) == []


def test_the_repository_has_a_second_version_to_check() -> None:
    assert default_registry().versions(CLASSIFICATION) == [1, 2]


def test_a_schema_is_compatible_with_itself() -> None:
    assert changes(v1()) == []


def add_required_field(schema: Schema) -> None:
    schema["properties"]["channel"] = {"type": "string", "description": "x"}
    schema["required"].append("channel")


def make_existing_field_required(schema: Schema) -> None:
    schema["properties"]["confidence"]["required"] = ["overall"]
    schema["$defs"]["subject"]["required"].append("extra")


BREAKING: list[tuple[str, Callable[[Schema], object], list[str]]] = [
    ("add a required field", add_required_field, ["$.channel: field is now required"]),
    (
        "narrow an enum",
        lambda s: s["$defs"]["intent"]["enum"].remove("churn_risk"),
        ['$.intent: enum values removed: ["churn_risk"]'],
    ),
    (
        "tighten a maximum",
        lambda s: s["$defs"]["score"].update(maximum=0.99),
        [
            "$.confidence.components.*: upper bound tightened from <= 1 to <= 0.99",
            "$.confidence.overall: upper bound tightened from <= 1 to <= 0.99",
        ],
    ),
    (
        "turn an inclusive minimum exclusive",
        lambda s: s["$defs"]["score"].update(exclusiveMinimum=0),
        [
            "$.confidence.components.*: lower bound tightened from >= 0 to > 0",
            "$.confidence.overall: lower bound tightened from >= 0 to > 0",
        ],
    ),
    (
        "forbid additional properties",
        lambda s: s["properties"]["confidence"]["properties"]["components"].update(
            additionalProperties=False
        ),
        ["$.confidence.components: additionalProperties changed from allowed to forbidden"],
    ),
    (
        "change a type",
        lambda s: s["$defs"]["subject"]["properties"]["id"].update(type="integer"),
        ["$.subject.id: type narrowed from string to integer"],
    ),
    (
        "narrow number to integer",
        lambda s: s["$defs"]["score"].update(type="integer"),
        [
            "$.confidence.components.*: type narrowed from number to integer",
            "$.confidence.overall: type narrowed from number to integer",
        ],
    ),
    ("remove a property", lambda s: s["properties"].pop("time"), ["$.time: property removed"]),
    (
        "change a pattern",
        lambda s: s["$defs"]["requestId"].update(pattern="^[A-Za-z0-9._:-]+$ "),
        ['$.requestId: pattern changed from "^[A-Za-z0-9._:-]+$" to "^[A-Za-z0-9._:-]+$ "'],
    ),
    (
        "shorten a max length",
        lambda s: s["$defs"]["requestId"].update(maxLength=64),
        ["$.requestId: maxLength lowered from 128 to 64"],
    ),
    (
        "add a format",
        lambda s: s["$defs"]["subject"]["properties"]["id"].update(format="date"),
        ['$.subject.id: format changed from none to "date"'],
    ),
    (
        "constrain a field that old versions accepted as unknown",
        lambda s: s["properties"]["confidence"]["properties"]["components"].update(
            properties={"language": {"type": "number", "maximum": 0.5, "description": "x"}}
        ),
        [
            "$.confidence.components.language: new property, but the old version accepted it as an unknown "
            "field: upper bound tightened from <= 1 to <= 0.5"
        ],
    ),
    (
        "make an existing field required deeper down",
        make_existing_field_required,
        ["$.subject.extra: field is now required"],
    ),
    (
        "an unverifiable keyword",
        lambda s: s.update(anyOf=[{"required": ["intent"]}]),
        ["$: anyOf changed; the checker cannot prove this is backward compatible"],
    ),
    (
        "a dangling $ref",
        lambda s: s["properties"]["intent"].update({"$ref": "#/$defs/missing"}),
        ['$.intent: $ref "#/$defs/missing" cannot be followed by the checker'],
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in BREAKING], ids=[n for n, _, _ in BREAKING]
)
def test_each_breaking_change_is_reported_with_its_path(
    change: Callable[[Schema], object], expected: list[str]
) -> None:
    assert changes(evolved(change)) == expected


def test_array_items_are_walked() -> None:
    old = {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"type": "string", "maxLength": 9}}},
    }
    new = copy.deepcopy(old)
    new["properties"]["ids"]["items"]["maxLength"] = 8
    new["properties"]["ids"]["minItems"] = 1
    assert [str(c) for c in compare_schemas(old, new)] == [
        "$.ids: minItems raised from 0 to 1",
        "$.ids[*]: maxLength lowered from 9 to 8",
    ]


def test_adding_a_property_to_an_open_object_breaks_old_events_that_used_that_name() -> None:
    old = {"type": "object", "properties": {}, "additionalProperties": True}
    new = {"type": "object", "properties": {"language": {"type": "string"}}, "additionalProperties": True}
    assert [str(c) for c in compare_schemas(old, new)] == [
        "$.language: new property, but the old version accepted it as an unknown field: "
        "type narrowed from any to string"
    ]


def test_recursive_schemas_terminate() -> None:
    tree = {"$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}}
    tree["$ref"] = "#/$defs/node"
    assert compare_schemas(tree, copy.deepcopy(tree)) == []


COMPATIBLE: list[tuple[str, Callable[[Schema], object]]] = [
    ("add an optional field to a closed object", lambda s: s["properties"].update(x={"type": "string"})),
    ("add an enum value", lambda s: s["$defs"]["intent"]["enum"].append("renewal")),
    ("loosen a maximum", lambda s: s["$defs"]["score"].update(maximum=2)),
    ("widen integer to number", lambda s: s["properties"]["schemaVersion"].update(type="number")),
    ("drop a required field", lambda s: s["required"].remove("intent")),
    ("drop a pattern", lambda s: s["$defs"]["requestId"].pop("pattern")),
    ("allow additional properties", lambda s: s.update(additionalProperties=True)),
    ("reword a description", lambda s: s["$defs"]["score"].update(description="another text")),
    ("add an extension keyword", lambda s: s.update({"x-owner": "ml-team"})),
]


@pytest.mark.parametrize("change", [c for _, c in COMPATIBLE], ids=[n for n, _ in COMPATIBLE])
def test_compatible_changes_are_not_reported(change: Callable[[Schema], object]) -> None:
    assert changes(evolved(change)) == []


def test_multiple_of_may_only_change_to_a_divisor() -> None:
    old = {"type": "number", "multipleOf": 0.5}
    assert compare_schemas(old, {"type": "number", "multipleOf": 0.25}) == []
    assert [str(c) for c in compare_schemas(old, {"type": "number", "multipleOf": 1})] == [
        "$: multipleOf changed from 0.5 to 1"
    ]


# --- the CLI -----------------------------------------------------------------------------------


def copy_contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    return folder


def test_cli_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "3 contract(s), 0 breaking change(s)" in capsys.readouterr().out


def test_cli_fails_on_a_breaking_v2_and_prints_every_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_contracts(tmp_path)
    breaking_v2 = evolved(add_required_field)
    breaking_v2["$id"] = breaking_v2["$id"].replace("/v1.json", "/v2.json")
    breaking_v2["$defs"]["intent"]["enum"].remove("other")
    (folder / CLASSIFICATION / "v2.json").write_text(dump_schema(breaking_v2))

    assert main(["check", "--contracts-dir", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "breaking  classification.performed v1 -> v2: $.channel: field is now required" in err
    assert 'breaking  classification.performed v1 -> v2: $.intent: enum values removed: ["other"]' in err


def test_cli_fails_on_contract_problems_before_comparing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy_contracts(tmp_path)
    (folder / CLASSIFICATION / "v2.json").rename(folder / CLASSIFICATION / "v3.json")
    assert main(["check", "--contracts-dir", str(folder)]) == 1
    assert "versions must be v1, v2, ... without gaps (found [1, 3])" in capsys.readouterr().err


def test_the_documented_command_runs_from_any_directory(tmp_path: Path) -> None:
    folder = copy_contracts(tmp_path)
    schema = ContractRegistry(folder).schema(CLASSIFICATION, 2)
    schema["$defs"]["score"]["maximum"] = 0.5
    (folder / CLASSIFICATION / "v2.json").write_text(dump_schema(schema))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "plugins")}
    command = [sys.executable, "-m", "salestalk.contracts", "check"]

    ok = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    broken = subprocess.run(
        [*command, "--contracts-dir", str(folder)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert ok.returncode == 0, ok.stderr
    assert broken.returncode == 1
    assert "$.confidence.overall: upper bound tightened from <= 1 to <= 0.5" in broken.stderr
