"""jsonschema, made strict: enforced formats, ECMA-262 ``$``, and errors turned into policy-aware violations.

Two jsonschema defaults are unsafe for contracts. ``format`` is only an annotation unless a format
checker is passed, so ``date-time`` and ``date`` are checked here with :mod:`salestalk.contracts.rfc3339`.
``pattern`` runs Python's ``re.search``, where ``$`` also matches before a trailing newline
(``"acme\\n"`` would pass ``^[a-z]+$``); patterns are translated to ECMA-262 meaning (``$`` is the end).

Unknown fields are found by validating against a *closed* copy of the schema (every object with
``properties`` gets ``additionalProperties: false``); the contract's policy then decides whether each
one quarantines the event or is only noted.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jsonschema import FormatChecker, ValidationError, validators

from salestalk.contracts import rfc3339
from salestalk.contracts.model import QUARANTINE, Violation, json_path, json_type, show

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from jsonschema.protocols import Validator

    from salestalk.contracts.model import Policy

SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
SCHEMA_VALUES = (
    "items",
    "additionalProperties",
    "propertyNames",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_BOUND_WORDS = {
    "minimum": "below the minimum",
    "maximum": "above the maximum",
    "exclusiveMinimum": "not above the exclusive minimum",
    "exclusiveMaximum": "not below the exclusive maximum",
}


def _string_check(check: Callable[[str], None]) -> Callable[[object], bool]:
    def checker(instance: object) -> bool:
        if isinstance(instance, str):
            check(instance)
        return True

    return checker


def format_checker() -> FormatChecker:
    """Only the formats this module really checks; a schema using any other format fails the lint."""
    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_string_check(rfc3339.check_date_time))
    checker.checks("date", raises=ValueError)(_string_check(rfc3339.check_full_date))
    return checker


SUPPORTED_FORMATS = frozenset(format_checker().checkers)


def ecma_pattern(pattern: str) -> str:
    """Rewrite an ECMA-262 pattern for Python ``re``: an unescaped ``$`` outside a class becomes ``\\Z``."""
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class and char == "]":
            in_class = False
        elif not in_class and char == "[":
            in_class = True
        elif not in_class and char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(ecma_pattern(pattern), re.ASCII)


def _pattern_keyword(
    validator: Validator, pattern: str, instance: object, schema: Any
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not compiled_pattern(pattern).search(instance):
        yield ValidationError(f"{show(instance)} does not match {pattern!r}")


def validator_class(schema: dict[str, Any]) -> type[Validator]:
    """The jsonschema class of the schema's declared draft, with ECMA-262 ``pattern``."""
    base = validators.validator_for(schema)
    return validators.extend(base, validators={"pattern": _pattern_keyword})


def close_objects(schema: Any) -> Any:
    """A copy in which every object schema with ``properties`` forbids other properties."""
    if not isinstance(schema, dict):
        return schema
    closed = {key: _close_keyword(key, value) for key, value in schema.items()}
    if "properties" in schema and schema.get("additionalProperties", True) is True:
        closed["additionalProperties"] = False
    return closed


def _close_keyword(key: str, value: Any) -> Any:
    if key in SCHEMA_MAPS and isinstance(value, dict):
        return {name: close_objects(sub) for name, sub in value.items()}
    if key in SCHEMA_LISTS and isinstance(value, list):
        return [close_objects(sub) for sub in value]
    if key in SCHEMA_VALUES:
        return close_objects(value)
    return value


@dataclass(frozen=True)
class CompiledSchema:
    contract: str
    version: int
    policy: Policy
    validator: Validator

    def violations(self, payload: dict[str, Any]) -> list[Violation]:
        found: list[Violation] = []
        for error in self.validator.iter_errors(payload):
            found.extend(self._to_violations(error))
        return sorted(dict.fromkeys(found), key=lambda v: (v.path, v.reason))

    def _to_violations(self, error: ValidationError) -> Iterable[Violation]:
        parts = tuple(error.absolute_path)
        keyword = error.validator
        if "propertyNames" in error.schema_path and isinstance(error.instance, str):
            reason = f"field name is not allowed: {_reason(error)}"
            return [Violation(json_path((*parts, error.instance)), reason, QUARANTINE, "field_name")]
        if keyword == "additionalProperties":
            return self._unknown_fields(error, parts)
        if keyword == "enum":
            return self._unknown_enum(error, parts)
        if keyword == "required":
            return [
                Violation(json_path((*parts, name)), "required field is missing", code="missing")
                for name in error.validator_value
                if isinstance(error.instance, dict) and name not in error.instance
            ]
        return [Violation(json_path(parts), _reason(error), QUARANTINE, _code(keyword))]

    def _unknown_fields(self, error: ValidationError, parts: tuple[str | int, ...]) -> list[Violation]:
        known = error.schema.get("properties", {})
        patterns = [compiled_pattern(p) for p in error.schema.get("patternProperties", {})]
        unknown = [
            key for key in error.instance if key not in known and not any(p.search(key) for p in patterns)
        ]
        reason = f"unknown field (not in {self.contract} v{self.version})"
        disposition = self.policy.unknown_field_disposition
        return [Violation(json_path((*parts, key)), reason, disposition, "unknown_field") for key in unknown]

    def _unknown_enum(self, error: ValidationError, parts: tuple[str | int, ...]) -> list[Violation]:
        allowed = error.validator_value
        if any(json_type(v) != json_type(error.instance) for v in allowed):
            return []  # a wrong type, reported by the sibling "type" keyword
        reason = f"unknown value {show(error.instance)} (known: {', '.join(map(str, allowed))})"
        return [Violation(json_path(parts), reason, self.policy.unknown_enum_disposition, "unknown_enum")]


def compile_schema(schema: dict[str, Any], policy: Policy, contract: str, version: int) -> CompiledSchema:
    cls = validator_class(schema)
    cls.check_schema(schema)
    validator = cls(close_objects(schema), format_checker=format_checker())
    return CompiledSchema(contract, version, policy, validator)


def _reason(error: ValidationError) -> str:
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"expected {wanted}, got {json_type(instance)} {show(instance)}"
    if keyword == "format":
        return f"{show(instance)} is not an RFC 3339 {expected}: {error.cause or 'invalid'}"
    if keyword in _BOUND_WORDS:
        return f"{show(instance)} is {_BOUND_WORDS[keyword]} {show(expected)}"
    if keyword in {"minLength", "maxLength"}:
        relation = "shorter" if keyword == "minLength" else "longer"
        return f"string of {len(instance)} characters is {relation} than allowed ({expected})"
    if keyword in {"minItems", "maxItems"}:
        relation = "fewer" if keyword == "minItems" else "more"
        return f"{len(instance)} items is {relation} than allowed ({expected})"
    if keyword == "uniqueItems":
        return "items must be unique"
    return error.message if len(error.message) <= 200 else error.message[:199] + "…"


def _code(keyword: str) -> str:
    if keyword in _BOUND_WORDS:
        return "range"
    return {
        "type": "type",
        "format": "format",
        "pattern": "pattern",
        "minLength": "length",
        "maxLength": "length",
        "minItems": "length",
        "maxItems": "length",
        "uniqueItems": "unique",
    }.get(keyword, keyword)
