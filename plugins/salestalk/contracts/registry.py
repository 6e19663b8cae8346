"""Where contracts live: ``include/contracts/<name>/v<N>.json`` plus the policy table ``policy.yaml``."""

from __future__ import annotations

import functools
import json
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from salestalk import REPO_ROOT
from salestalk.contracts.model import Policy, UnknownContract, Violation
from salestalk.contracts.strict_json import decode_strict

if TYPE_CHECKING:
    from salestalk.contracts.validation import CompiledSchema

CONTRACTS_DIR = REPO_ROOT / "include" / "contracts"
POLICY_FILE_NAME = "policy.yaml"
SCHEMA_ID_BASE = "https://schemas.salestalk.io/contracts"
VERSION_FIELD = "schemaVersion"
CONTRACT_NAME = re.compile(r"[a-z][a-z0-9]*(?:[.-][a-z0-9]+)*", re.ASCII)
VERSION_FILE = re.compile(r"v([1-9][0-9]*)\.json", re.ASCII)
POLICY_VALUES = {"unknown_fields": ("reject", "keep"), "unknown_enum": ("quarantine", "keep")}


class ContractError(ValueError):
    """A contract folder, schema file or policy entry that is broken."""


class ContractRegistry:
    """Reads contracts from one folder; schemas, policies and compiled validators are cached."""

    def __init__(self, root: Path = CONTRACTS_DIR) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._schemas: dict[tuple[str, int], dict[str, Any]] = {}
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}
        self._policies: dict[str, Policy] | None = None
        self._versions: dict[str, tuple[int, ...]] = {}

    def contracts(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))

    def versions(self, contract: str) -> list[int]:
        """The contract's versions, ascending; read once per registry."""
        if contract not in self._versions:
            self._versions[contract] = self._scan_versions(contract)
        return list(self._versions[contract])

    def _scan_versions(self, contract: str) -> tuple[int, ...]:
        found = (VERSION_FILE.fullmatch(p.name) for p in self._folder(contract).iterdir())
        return tuple(sorted(int(m[1]) for m in found if m))

    def _folder(self, contract: str) -> Path:
        """The contract's folder; the name is checked first, so it can never leave ``root``."""
        if (
            isinstance(contract, str)
            and CONTRACT_NAME.fullmatch(contract)
            and (self.root / contract).is_dir()
        ):
            return self.root / contract
        known = ", ".join(self.contracts()) or "none"
        raise UnknownContract(str(contract), None, [Violation("$", f"unknown contract (known: {known})")])

    def latest(self, contract: str) -> int:
        versions = self.versions(contract)
        if not versions:
            raise UnknownContract(contract, None, [Violation("$", "contract has no schema version")])
        return versions[-1]

    def require_version(self, contract: str, version: int) -> int:
        versions = self.versions(contract)
        if isinstance(version, bool) or version not in versions:
            known = ", ".join(f"v{v}" for v in versions) or "none"
            reason = f"unknown version {version!r} (known: {known})"
            raise UnknownContract(contract, None, [Violation("$", reason)])
        return version

    def schema_path(self, contract: str, version: int) -> Path:
        return self.root / contract / f"v{version}.json"

    def schema(self, contract: str, version: int) -> dict[str, Any]:
        key = (contract, self.require_version(contract, version))
        if key not in self._schemas:
            self._schemas[key] = _read_schema(self.schema_path(*key))
        return self._schemas[key]

    def policy(self, contract: str) -> Policy:
        self.versions(contract)
        policies = self.policies()
        if contract not in policies:
            raise ContractError(f"{self._policy_file_label()}: no policy for contract {contract!r}")
        return policies[contract]

    def policies(self) -> dict[str, Policy]:
        if self._policies is None:
            self._policies = _read_policies(self.root / POLICY_FILE_NAME)
        return self._policies

    def compiled(self, contract: str, version: int) -> CompiledSchema:
        """The validator for one (contract, version), compiled once."""
        key = (contract, version)
        compiled = self._compiled.get(key)
        if compiled is None:
            from salestalk.contracts.validation import compile_schema

            with self._lock:
                compiled = self._compiled.get(key)
                if compiled is None:
                    schema = self.schema(contract, version)
                    compiled = compile_schema(schema, self.policy(contract), contract, version)
                    self._compiled[key] = compiled
        return compiled

    def _policy_file_label(self) -> str:
        return str(self.root / POLICY_FILE_NAME)


@functools.cache
def default_registry() -> ContractRegistry:
    """The repository's contracts under ``include/contracts``."""
    return ContractRegistry(CONTRACTS_DIR)


def _read_schema(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ContractError(f"{path}: cannot read: {exc}") from exc
    decoded = decode_strict(raw)
    if decoded.payload is None or decoded.violations:
        problems = "; ".join(str(v) for v in decoded.violations)
        raise ContractError(f"{path}: not a strict JSON object: {problems}")
    return decoded.payload


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        keys = [self.construct_object(key_node, deep=deep) for key_node, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key(s) {', '.join(repeated)}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def _read_policies(path: Path) -> dict[str, Policy]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ContractError(f"{path}: cannot read policy table: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{path}: must map contract names to policies")
    return {name: _policy_entry(path, name, entry) for name, entry in data.items()}


def _policy_entry(path: Path, name: object, entry: object) -> Policy:
    if not isinstance(entry, dict) or set(entry) != set(POLICY_VALUES):
        raise ContractError(
            f"{path}: {name}: must have exactly the keys {sorted(POLICY_VALUES)} (got {entry!r})"
        )
    for key, allowed in POLICY_VALUES.items():
        if entry[key] not in allowed:
            raise ContractError(f"{path}: {name}.{key}: must be one of {list(allowed)} (got {entry[key]!r})")
    return Policy(unknown_fields=entry["unknown_fields"], unknown_enum=entry["unknown_enum"])


def dump_schema(schema: dict[str, Any]) -> str:
    """The canonical file text of a schema (used by tests that write temporary contracts)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
