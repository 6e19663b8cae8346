"""House rules for contract folders and schema files; every problem names the file and the schema location."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jsonschema.exceptions import SchemaError

from salestalk.contracts.compat import ANNOTATIONS, resolve_pointer
from salestalk.contracts.registry import (
    CONTRACT_NAME,
    POLICY_FILE_NAME,
    SCHEMA_ID_BASE,
    VERSION_FILE,
    ContractError,
)
from salestalk.contracts.validation import (
    SCHEMA_LISTS,
    SCHEMA_MAPS,
    SCHEMA_VALUES,
    SUPPORTED_FORMATS,
    validator_class,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from salestalk.contracts.registry import ContractRegistry, Policy

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
REQUIRED_EVERYWHERE = ("tenantId",)


def lint_contracts(registry: ContractRegistry) -> list[str]:
    if not registry.root.is_dir():
        return [f"{registry.root}: contracts folder does not exist"]
    try:
        policies = registry.policies()
    except ContractError as exc:
        return [str(exc)]
    problems = [
        f"{registry.root / POLICY_FILE_NAME}: {name}: policy for a contract that does not exist"
        for name in sorted(set(policies) - set(registry.contracts()))
    ]
    for contract in registry.contracts():
        problems += _lint_contract(registry, contract, policies.get(contract))
    return problems


def _lint_contract(registry: ContractRegistry, contract: str, policy: Policy | None) -> list[str]:
    folder = registry.root / contract
    if not CONTRACT_NAME.fullmatch(contract):
        return [f"{folder}: contract name must be lowercase words joined by '.' or '-'"]
    problems = [] if policy else [f"{registry.root / POLICY_FILE_NAME}: no policy for contract {contract!r}"]
    problems += [
        f"{path}: unexpected file (schema files are named v<N>.json)"
        for path in sorted(folder.iterdir())
        if not VERSION_FILE.fullmatch(path.name)
    ]
    versions = registry.versions(contract)
    if versions != list(range(1, len(versions) + 1)):
        problems.append(f"{folder}: versions must be v1, v2, ... without gaps (found {versions or 'none'})")
    for version in versions:
        problems += _lint_version(registry, contract, version, policy)
    return problems


def _lint_version(
    registry: ContractRegistry, contract: str, version: int, policy: Policy | None
) -> list[str]:
    try:
        schema = registry.schema(contract, version)
    except ContractError as exc:
        return [str(exc)]
    path = registry.schema_path(contract, version)
    return [f"{path}: {problem}" for problem in _lint_schema(schema, contract, version, policy)]


def _lint_schema(schema: dict[str, Any], contract: str, version: int, policy: Policy | None) -> list[str]:
    problems = _lint_header(schema, contract, version)
    try:
        validator_class(schema).check_schema(schema)
    except SchemaError as exc:
        location = "#/" + "/".join(str(p) for p in exc.absolute_path)
        problems.append(f"{location}: not a valid JSON Schema: {exc.message}")
        return problems
    for location, node in iter_subschemas(schema):
        problems += [f"{location}: {p}" for p in _lint_node(schema, node, policy)]
    return problems


def _lint_header(schema: dict[str, Any], contract: str, version: int) -> list[str]:
    problems = []
    if schema.get("$schema") != DRAFT_2020_12:
        problems.append(f"$schema must be {DRAFT_2020_12!r}")
    expected_id = f"{SCHEMA_ID_BASE}/{contract}/v{version}.json"
    if schema.get("$id") != expected_id:
        problems.append(f"$id must be {expected_id!r} (got {schema.get('$id')!r})")
    if not isinstance(schema.get("title"), str) or not schema["title"].strip():
        problems.append("title is missing")
    if schema.get("type") != "object":
        problems.append('an event schema must have "type": "object"')
    problems += [
        f"{name!r} must be required" for name in REQUIRED_EVERYWHERE if name not in schema.get("required", ())
    ]
    return problems


def _lint_node(root: dict[str, Any], node: dict[str, Any], policy: Policy | None) -> list[str]:
    problems = [
        f"property {name!r} has no description"
        for name, sub in node.get("properties", {}).items()
        if not (
            isinstance(sub, dict) and isinstance(sub.get("description"), str) and sub["description"].strip()
        )
    ]
    if "enum" in node and "type" not in node:
        problems.append(
            'an enum needs a sibling "type" (so a wrong type is not mistaken for an unknown value)'
        )
    if node.get("format") is not None and node["format"] not in SUPPORTED_FORMATS:
        problems.append(f"format {node['format']!r} is not enforced (supported: {sorted(SUPPORTED_FORMATS)})")
    if "$ref" in node:
        problems += _lint_ref(root, node)
    if "properties" in node and policy is not None:
        problems += _lint_closedness(node, policy)
    return problems


def _lint_ref(root: dict[str, Any], node: dict[str, Any]) -> list[str]:
    if resolve_pointer(root, node["$ref"]) is None:
        return [f"$ref {node['$ref']!r} must point inside this file (#/$defs/...)"]
    siblings = sorted(set(node) - ANNOTATIONS - {"$ref"})
    return [f"$ref may only have annotations beside it (found {siblings})"] if siblings else []


def _lint_closedness(node: dict[str, Any], policy: Policy) -> list[str]:
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        return []  # a map of typed values: not a question of unknown fields
    expected = policy.unknown_fields == "keep"
    if extra is not expected:
        return [
            f"additionalProperties must be {str(expected).lower()} "
            f"(policy unknown_fields: {policy.unknown_fields}; got {extra!r})"
        ]
    return []


def iter_subschemas(schema: Any, location: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object in ``schema`` with its JSON pointer, the root first."""
    if not isinstance(schema, dict):
        return
    yield location, schema
    for key, value in schema.items():
        if key in SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                yield from iter_subschemas(sub, f"{location}/{key}/{_escape(name)}")
        elif key in SCHEMA_LISTS and isinstance(value, list):
            for index, sub in enumerate(value):
                yield from iter_subschemas(sub, f"{location}/{key}/{index}")
        elif key in SCHEMA_VALUES:
            yield from iter_subschemas(value, f"{location}/{key}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")
