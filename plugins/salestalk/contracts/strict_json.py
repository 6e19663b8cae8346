"""Decode JSON the strict way: every duplicate key, NaN/Infinity and unpaired surrogate is a violation.

Python's ``json`` keeps the last of duplicate keys and accepts ``NaN``/``Infinity`` (and turns ``1e400``
into ``inf``). Here the document still decodes, so the quarantined payload can be kept for diagnosis, but
each such place becomes a violation with its JSON path. Of duplicate keys the first value is kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from salestalk.contracts.model import Violation, json_path, json_type, show


@dataclass
class Decoded:
    """``payload`` is None when the text is not a JSON object at all."""

    payload: dict[str, Any] | None
    violations: list[Violation] = field(default_factory=list)


def decode_strict(raw: bytes | str) -> Decoded:
    text, problem = _as_text(raw)
    if problem:
        return Decoded(None, [problem])
    duplicates: dict[int, list[str]] = {}
    try:
        value = json.loads(
            text,
            object_pairs_hook=lambda pairs: first_value_wins(pairs, duplicates),
            parse_constant=float,
        )
    except json.JSONDecodeError as exc:
        return Decoded(None, [Violation("$", f"not valid JSON: {exc}", code="malformed_json")])
    except (RecursionError, ValueError) as exc:
        return Decoded(None, [Violation("$", f"not decodable: {exc}", code="malformed_json")])
    if not isinstance(value, dict):
        reason = f"an event must be a JSON object (got {json_type(value)})"
        return Decoded(None, [Violation("$", reason, code="not_object")])
    return Decoded(value, _walk(value, duplicates))


def _as_text(raw: bytes | str) -> tuple[str, Violation | None]:
    if isinstance(raw, str):
        return raw, None
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            return bytes(raw).decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return "", Violation("$", f"not UTF-8: {exc}", code="encoding")
    raise TypeError(f"raw event must be bytes or str (got {type(raw).__name__})")


def first_value_wins(pairs: list[tuple[str, Any]], duplicates: dict[int, list[str]]) -> dict[str, Any]:
    """An ``object_pairs_hook``: the first value of a repeated key wins; the repeats go in ``duplicates``."""
    result: dict[str, Any] = {}
    repeated: list[str] = []
    for key, value in pairs:
        if key in result:
            repeated.append(key)
        else:
            result[key] = value
    if repeated:
        duplicates[id(result)] = repeated
    return result


def _walk(root: dict[str, Any], duplicates: dict[int, list[str]]) -> list[Violation]:
    """Iterative, so a deeply nested document cannot exhaust the Python stack."""
    violations: list[Violation] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, dict):
            for key in duplicates.get(id(value), ()):
                violations.append(
                    Violation(
                        json_path((*parts, key)),
                        "duplicate key (the first value is kept)",
                        code="duplicate_key",
                    )
                )
            for key, child in value.items():
                if _has_unpaired_surrogate(key):
                    violations.append(_surrogate_violation((*parts, key), "key"))
                stack.append((child, (*parts, key)))
        elif isinstance(value, list):
            stack.extend((child, (*parts, index)) for index, child in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            violations.append(Violation(json_path(parts), _non_finite_reason(value), code="non_finite"))
        elif isinstance(value, str) and _has_unpaired_surrogate(value):
            violations.append(_surrogate_violation(parts, "string"))
    return sorted(violations, key=lambda v: v.path)


def _non_finite_reason(value: float) -> str:
    if math.isnan(value):
        return "NaN is not a JSON number"
    return f"{show(value)} is not a JSON number (an Infinity literal, or beyond the 64-bit float range)"


def _has_unpaired_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _surrogate_violation(parts: tuple[str | int, ...], what: str) -> Violation:
    return Violation(json_path(parts), f"{what} holds an unpaired UTF-16 surrogate", code="surrogate")
