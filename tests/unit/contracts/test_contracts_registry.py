"""Contract folders, the policy table and the house rules every schema file must follow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from salestalk import REPO_ROOT
from salestalk.contracts import ContractRegistry, Policy, default_registry
from salestalk.contracts.lint import iter_subschemas, lint_contracts
from salestalk.contracts.registry import CONTRACTS_DIR, ContractError, dump_schema
from salestalk.contracts.validation import SUPPORTED_FORMATS

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

CLASSIFICATION = "classification.performed"


def test_the_repository_contracts_follow_the_house_rules() -> None:
    assert lint_contracts(default_registry()) == []


def test_the_policy_table() -> None:
    assert default_registry().policies() == {
        "classification.performed": Policy(unknown_fields="reject", unknown_enum="quarantine"),
        "narrative.generated": Policy(unknown_fields="keep", unknown_enum="keep"),
        "insight-summary": Policy(unknown_fields="reject", unknown_enum="quarantine"),
    }


def test_every_format_used_is_enforced() -> None:
    registry = default_registry()
    used = {
        node["format"]
        for contract in registry.contracts()
        for version in registry.versions(contract)
        for _, node in iter_subschemas(registry.schema(contract, version))
        if "format" in node
    }
    assert used == {"date-time", "date"}
    assert used <= SUPPORTED_FORMATS


def test_the_insight_summary_must_carry_references_and_its_compute_time() -> None:
    schema = default_registry().schema("insight-summary", 1)
    assert {"references", "computedAt"} <= set(schema["required"])
    assert schema["properties"]["references"]["minItems"] == 1


def test_contracts_are_found_from_the_package_not_the_working_directory(tmp_path: Path) -> None:
    code = "from salestalk.contracts import default_registry as r; print(r().root)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT / "plugins")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == str(CONTRACTS_DIR)


def test_the_library_is_import_light_and_airflow_free() -> None:
    code = (
        "import sys, salestalk.contracts as c\n"
        "light = 'jsonschema' not in sys.modules\n"
        "c.parse_event('{}', 'insight-summary')\n"
        "print(light, any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(REPO_ROOT / "plugins")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["True", "False"]


# --- the lint finds each kind of problem -------------------------------------------------------


@pytest.fixture
def contracts(tmp_path: Path) -> Path:
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, folder)
    return folder


def edit_schema(folder: Path, change: Callable[[dict[str, Any]], object], version: int = 1) -> None:
    path = folder / CLASSIFICATION / f"v{version}.json"
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(dump_schema(schema))


def problems(folder: Path) -> list[str]:
    return lint_contracts(ContractRegistry(folder))


SCHEMA_PROBLEMS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("wrong $id", lambda s: s.update({"$id": "https://example.com/x.json"}), "$id must be"),
    (
        "another draft",
        lambda s: s.update({"$schema": "http://json-schema.org/draft-07/schema#"}),
        "$schema must be",
    ),
    ("no title", lambda s: s.pop("title"), "title is missing"),
    ("tenantId optional", lambda s: s["required"].remove("tenantId"), "'tenantId' must be required"),
    (
        "property without description",
        lambda s: s["properties"]["intent"].pop("description"),
        "#: property 'intent' has no description",
    ),
    (
        "enum without type",
        lambda s: s["$defs"]["intent"].pop("type"),
        "#/$defs/intent: an enum needs a sibling",
    ),
    (
        "unenforced format",
        lambda s: s["$defs"]["subject"]["properties"]["id"].update(format="email"),
        "#/$defs/subject/properties/id: format 'email' is not enforced",
    ),
    (
        "open object under a reject policy",
        lambda s: s["$defs"]["subject"].update(additionalProperties=True),
        "#/$defs/subject: additionalProperties must be false (policy unknown_fields: reject; got True)",
    ),
    (
        "implicit additionalProperties",
        lambda s: s["properties"]["confidence"].pop("additionalProperties"),
        "#/properties/confidence: additionalProperties must be false",
    ),
    (
        "remote $ref",
        lambda s: s["properties"]["intent"].update({"$ref": "https://example.com/intent.json"}),
        "#/properties/intent: $ref 'https://example.com/intent.json' must point inside this file",
    ),
    (
        "$ref with constraints beside it",
        lambda s: s["properties"]["intent"].update(minLength=2),
        "$ref may only have annotations beside it (found ['minLength'])",
    ),
    ("invalid JSON Schema", lambda s: s["$defs"]["score"].update(type="real"), "not a valid JSON Schema"),
    (
        "bad pattern",
        lambda s: s["$defs"]["requestId"].update(pattern="^[a-"),
        "#/$defs/requestId/pattern: not a valid JSON Schema: '^[a-' is not a 'regex'",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [(c, e) for _, c, e in SCHEMA_PROBLEMS], ids=[n for n, _, _ in SCHEMA_PROBLEMS]
)
def test_lint_reports_schema_problems_with_file_and_location(
    contracts: Path, change: Callable[[dict[str, Any]], object], expected: str
) -> None:
    edit_schema(contracts, change)
    found = problems(contracts)
    assert len(found) == 1, found
    assert found[0].startswith(str(contracts / CLASSIFICATION / "v1.json") + ": ")
    assert expected in found[0]


def test_lint_rejects_duplicate_keys_in_a_schema_file(contracts: Path) -> None:
    path = contracts / CLASSIFICATION / "v1.json"
    path.write_text(path.read_text().replace('"type": "object",', '"type": "object",\n  "type": "array",', 1))
    assert "$.type: duplicate key" in " ".join(problems(contracts))


def test_lint_reports_a_contract_without_policy_and_a_policy_without_contract(contracts: Path) -> None:
    (contracts / CLASSIFICATION).rename(contracts / "classification.done")
    found = problems(contracts)
    assert (
        f"{contracts / 'policy.yaml'}: classification.performed: policy for a contract that does not exist"
        in found
    )
    assert f"{contracts / 'policy.yaml'}: no policy for contract 'classification.done'" in found
    assert any("classification.done/v1.json: $id must be" in p for p in found)


def test_lint_reports_unexpected_files_and_version_gaps(contracts: Path) -> None:
    (contracts / CLASSIFICATION / "v2.json").rename(contracts / CLASSIFICATION / "v02.json")
    found = problems(contracts)
    assert any("v02.json: unexpected file" in p for p in found)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "insight-summary:\n  unknown_fields: drop\n  unknown_enum: keep\n",
            "must be one of ['reject', 'keep']",
        ),
        ("insight-summary:\n  unknown_fields: keep\n", "must have exactly the keys"),
        ("a:\n  unknown_fields: keep\n  unknown_fields: reject\n  unknown_enum: keep\n", "duplicate key"),
        ("- just a list\n", "must map contract names to policies"),
    ],
)
def test_a_broken_policy_table_is_one_clear_problem(contracts: Path, text: str, reason: str) -> None:
    (contracts / "policy.yaml").write_text(text)
    found = problems(contracts)
    assert len(found) == 1
    assert reason in found[0]
    with pytest.raises(ContractError, match="policy"):
        ContractRegistry(contracts).policy("insight-summary")


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}: contracts folder does not exist"]
