"""Backward compatibility: every event valid under version N-1 must stay valid under version N.

The checker walks both schemas side by side (local ``$ref`` followed, nested ``properties``,
``additionalProperties``, ``propertyNames`` and array ``items``) and reports, with a JSON path, every
change that can reject an old event: a new required field, a removed property, a narrowed type, removed
enum values, a tightened bound, length or item count, an added or changed pattern or format, and
``additionalProperties`` going from allowed to forbidden. A new property on an object that accepted
unknown properties must accept whatever that object accepted before. Any other keyword that differs
(``anyOf``, ``if``, ...) is reported as unverifiable: the checker fails closed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from salestalk.contracts.model import json_path

if TYPE_CHECKING:
    from salestalk.contracts.registry import ContractRegistry

ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$comment",
        "$defs",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
CHECKED = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "required",
        "properties",
        "additionalProperties",
        "propertyNames",
        "items",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
    }
)
_COUNT_LIMITS = (("minLength", "maxLength"), ("minItems", "maxItems"), ("minProperties", "maxProperties"))


@dataclass(frozen=True)
class Change:
    """One change that can make an event valid under the old schema invalid under the new one."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class BreakingChange:
    contract: str
    old_version: int
    new_version: int
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.contract} v{self.old_version} -> v{self.new_version}: {self.path}: {self.reason}"


def compare_schemas(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every breaking change from ``old`` to ``new``; empty when ``new`` accepts all ``old`` accepts."""
    comparer = _Comparer(old, new)
    if old.get("$schema") != new.get("$schema"):
        comparer.report(
            "$", f"$schema changed from {_show(old.get('$schema'))} to {_show(new.get('$schema'))}"
        )
    comparer.compare(old, new, "$")
    return comparer.changes


def check_compatibility(registry: ContractRegistry) -> list[BreakingChange]:
    """Compare each version of each contract with the version before it."""
    breaking: list[BreakingChange] = []
    for contract in registry.contracts():
        versions = registry.versions(contract)
        for old_version, new_version in zip(versions, versions[1:], strict=False):
            old, new = registry.schema(contract, old_version), registry.schema(contract, new_version)
            breaking.extend(
                BreakingChange(contract, old_version, new_version, c.path, c.reason)
                for c in compare_schemas(old, new)
            )
    return breaking


class _Comparer:
    def __init__(self, old_root: dict[str, Any], new_root: dict[str, Any]) -> None:
        self.old_root, self.new_root = old_root, new_root
        self.changes: list[Change] = []
        self._active: set[tuple[int, int]] = set()

    def report(self, path: str, reason: str) -> None:
        change = Change(path, reason)
        if change not in self.changes:
            self.changes.append(change)

    def compare(self, old: Any, new: Any, path: str) -> None:
        old = self._resolve(old, self.old_root, path)
        new = self._resolve(new, self.new_root, path)
        if old is None or new is None or old is False:
            return
        if new is False:
            self.report(path, "the new schema rejects every value here")
            return
        old, new = _as_dict(old), _as_dict(new)
        pair = (id(old), id(new))
        if pair in self._active:
            return  # a recursive schema: this pair is already being compared further up
        self._active.add(pair)
        try:
            self._compare_keywords(old, new, path)
        finally:
            self._active.discard(pair)

    def _compare_keywords(self, old: dict[str, Any], new: dict[str, Any], path: str) -> None:
        self._types(old, new, path)
        self._enums(old, new, path)
        self._bounds(old, new, path)
        self._counts(old, new, path)
        self._strings(old, new, path)
        self._objects(old, new, path)
        self._arrays(old, new, path)
        self._unverifiable(old, new, path)

    def _resolve(self, schema: Any, root: dict[str, Any], path: str) -> Any:
        """Follow local ``$ref``s; None (after reporting) when one cannot be followed."""
        hops = 0
        while isinstance(schema, dict) and "$ref" in schema:
            siblings = set(schema) - ANNOTATIONS - {"$ref"}
            target = resolve_pointer(root, schema["$ref"])
            if siblings or target is None or hops > 32:
                self.report(path, f"$ref {_show(schema['$ref'])} cannot be followed by the checker")
                return None
            schema, hops = target, hops + 1
        return schema

    def _types(self, old: dict, new: dict, path: str) -> None:
        old_types, new_types = _types(old), _types(new)
        if new_types is None:
            return
        narrowed = (
            ["any"]
            if old_types is None
            else [
                t for t in old_types if t not in new_types and not (t == "integer" and "number" in new_types)
            ]
        )
        if narrowed:
            self.report(path, f"type narrowed from {_names(old_types)} to {_names(new_types)}")

    def _enums(self, old: dict, new: dict, path: str) -> None:
        old_values, new_values = _allowed_values(old), _allowed_values(new)
        if new_values is None:
            return
        if old_values is None:
            self.report(path, f"values restricted to {_show(new_values)}")
            return
        new_keys = {_canonical(v) for v in new_values}
        removed = [v for v in old_values if _canonical(v) not in new_keys]
        if removed:
            self.report(path, f"enum values removed: {_show(removed)}")

    def _bounds(self, old: dict, new: dict, path: str) -> None:
        for side, old_bound, new_bound in (
            ("lower", _lower_bound(old), _lower_bound(new)),
            ("upper", _upper_bound(old), _upper_bound(new)),
        ):
            if new_bound is not None and _tighter(side, old_bound, new_bound):
                self.report(
                    path,
                    f"{side} bound tightened from {_bound_text(side, old_bound)} to {_bound_text(side, new_bound)}",
                )
        new_step = new.get("multipleOf")
        old_step = old.get("multipleOf")
        if new_step is not None and (old_step is None or Fraction(str(old_step)) % Fraction(str(new_step))):
            self.report(path, f"multipleOf changed from {_show(old_step)} to {_show(new_step)}")

    def _counts(self, old: dict, new: dict, path: str) -> None:
        for low, high in _COUNT_LIMITS:
            if new.get(low, 0) > old.get(low, 0):
                self.report(path, f"{low} raised from {old.get(low, 0)} to {new[low]}")
            if high in new and (high not in old or new[high] < old[high]):
                self.report(path, f"{high} lowered from {old.get(high, 'none')} to {new[high]}")
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            self.report(path, "uniqueItems added")

    def _strings(self, old: dict, new: dict, path: str) -> None:
        for keyword in ("pattern", "format"):
            if keyword in new and new[keyword] != old.get(keyword):
                was = _show(old[keyword]) if keyword in old else "none"
                self.report(path, f"{keyword} changed from {was} to {_show(new[keyword])}")

    def _objects(self, old: dict, new: dict, path: str) -> None:
        for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
            self.report(json_path_child(path, name), "field is now required")
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
        for name in sorted(set(old_props) - set(new_props)):
            self.report(json_path_child(path, name), "property removed")
        for name in sorted(set(new_props) - set(old_props)):
            self._new_property(old_extra, new_props[name], json_path_child(path, name))
        for name in sorted(set(old_props) & set(new_props)):
            self.compare(old_props[name], new_props[name], json_path_child(path, name))
        if new_extra is False and old_extra is not False:
            self.report(path, "additionalProperties changed from allowed to forbidden")
        elif "additionalProperties" in old or "additionalProperties" in new:
            self.compare(old_extra, new_extra, f"{path}.*")
        if "propertyNames" in old or "propertyNames" in new:
            self.compare(old.get("propertyNames", True), new.get("propertyNames", True), f"{path}{{name}}")

    def _new_property(self, old_extra: Any, new_property: Any, path: str) -> None:
        before = len(self.changes)
        self.compare(old_extra, new_property, path)
        for index in range(before, len(self.changes)):
            change = self.changes[index]
            reason = f"new property, but the old version accepted it as an unknown field: {change.reason}"
            self.changes[index] = Change(change.path, reason)

    def _arrays(self, old: dict, new: dict, path: str) -> None:
        if "items" in old or "items" in new:
            self.compare(old.get("items", True), new.get("items", True), f"{path}[*]")

    def _unverifiable(self, old: dict, new: dict, path: str) -> None:
        for keyword in sorted((set(old) | set(new)) - CHECKED - ANNOTATIONS):
            if keyword.startswith("x-"):
                continue
            if _canonical(old.get(keyword)) != _canonical(new.get(keyword)):
                self.report(path, f"{keyword} changed; the checker cannot prove this is backward compatible")


def json_path_child(path: str, name: str) -> str:
    """``json_path`` of a property below an already rendered path."""
    return path + json_path([name])[1:]


def _as_dict(schema: Any) -> dict[str, Any]:
    return {} if schema is True else schema


def resolve_pointer(root: dict[str, Any], ref: Any) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _types(schema: dict[str, Any]) -> list[str] | None:
    declared = schema.get("type")
    if declared is None:
        return None
    return [declared] if isinstance(declared, str) else list(declared)


def _allowed_values(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if "enum" in schema else None


def _lower_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    return _strictest(schema, "minimum", "exclusiveMinimum", max)


def _upper_bound(schema: dict[str, Any]) -> tuple[float, bool] | None:
    return _strictest(schema, "maximum", "exclusiveMaximum", min)


def _strictest(
    schema: dict[str, Any], inclusive: str, exclusive: str, pick: Any
) -> tuple[float, bool] | None:
    """(value, is_exclusive) of the tighter of the two keywords, exclusive winning a tie."""
    bounds = [(schema[inclusive], False)] if inclusive in schema else []
    bounds += [(schema[exclusive], True)] if exclusive in schema else []
    if not bounds:
        return None
    best = pick(value for value, _ in bounds)
    return best, any(is_exclusive for value, is_exclusive in bounds if value == best)


def _tighter(side: str, old: tuple[float, bool] | None, new: tuple[float, bool]) -> bool:
    if old is None:
        return True
    (old_value, old_exclusive), (new_value, new_exclusive) = old, new
    if new_value == old_value:
        return new_exclusive and not old_exclusive
    return new_value > old_value if side == "lower" else new_value < old_value


def _bound_text(side: str, bound: tuple[float, bool] | None) -> str:
    if bound is None:
        return "none"
    value, exclusive = bound
    symbol = (">" if exclusive else ">=") if side == "lower" else ("<" if exclusive else "<=")
    return f"{symbol} {_show(value)}"


def _names(types: list[str] | None) -> str:
    return "any" if types is None else " or ".join(types)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
