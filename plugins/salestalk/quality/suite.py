"""Read Great Expectations suite JSON without importing GX.

The suite files under ``great_expectations/expectations/`` are the single source of truth for
data-quality rules. This module parses them (GX 1.x format: ``name``, ``expectations`` with
``type``/``kwargs``/``meta``) and checks that every expectation is one that
:mod:`salestalk.quality.sql` can compile, so that a bad suite fails loudly at load time with
the file and the expectation index in the message.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

REPO_ROOT = Path(__file__).resolve().parents[3]
GX_ROOT = REPO_ROOT / "great_expectations"
EXPECTATIONS_DIR = GX_ROOT / "expectations"

ROW_LEVEL_TYPES: frozenset[str] = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_values_to_be_unique",
    }
)
TABLE_LEVEL_TYPES: frozenset[str] = frozenset(
    {
        "expect_table_columns_to_match_set",
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
        "expect_table_row_count_to_be_between",
        "expect_table_row_count_to_equal",
        "expect_table_column_count_to_equal",
    }
)
SUPPORTED_TYPES: frozenset[str] = ROW_LEVEL_TYPES | TABLE_LEVEL_TYPES

# Accepted everywhere; none of them changes which rows violate a rule.
_PRESENTATION_KWARGS = frozenset({"result_format", "catch_exceptions", "include_config"})
_BOUNDS = ("min_value", "max_value", "strict_min", "strict_max")

# type -> (required kwargs, optional kwargs)
_KWARGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "expect_column_values_to_not_be_null": (("column",), ("mostly",)),
    "expect_column_values_to_be_null": (("column",), ("mostly",)),
    "expect_column_values_to_be_between": (("column",), (*_BOUNDS, "mostly")),
    "expect_column_values_to_be_in_set": (("column", "value_set"), ("mostly",)),
    "expect_column_values_to_not_be_in_set": (("column", "value_set"), ("mostly",)),
    "expect_column_values_to_match_regex": (("column", "regex"), ("mostly",)),
    "expect_column_values_to_not_match_regex": (("column", "regex"), ("mostly",)),
    "expect_column_value_lengths_to_be_between": (("column",), (*_BOUNDS, "mostly")),
    "expect_column_value_lengths_to_equal": (("column", "value"), ("mostly",)),
    "expect_column_values_to_be_unique": (("column",), ("mostly",)),
    "expect_table_columns_to_match_set": (("column_set",), ("exact_match",)),
    "expect_table_columns_to_match_ordered_list": (("column_list",), ()),
    "expect_column_to_exist": (("column",), ("column_index",)),
    "expect_table_row_count_to_be_between": ((), _BOUNDS),
    "expect_table_row_count_to_equal": (("value",), ()),
    "expect_table_column_count_to_equal": (("value",), ()),
}
_NEEDS_A_BOUND = frozenset(
    {
        "expect_column_values_to_be_between",
        "expect_column_value_lengths_to_be_between",
    }
)


class SuiteError(ValueError):
    """A suite file is unreadable, malformed or uses something we cannot evaluate."""

    def __init__(self, source: str | Path, message: str, index: int | None = None) -> None:
        self.source = str(source)
        self.index = index
        where = self.source if index is None else f"{self.source}: expectations[{index}]"
        super().__init__(f"{where}: {message}")


class UnsupportedExpectationError(SuiteError):
    """The expectation type (or one of its options) has no SQL/row-verdict implementation."""


@dataclass(frozen=True)
class Expectation:
    """One expectation as stored in the suite JSON."""

    type: str
    kwargs: Mapping[str, Any]
    meta: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None

    @property
    def column(self) -> str | None:
        column = self.kwargs.get("column")
        return column if isinstance(column, str) else None

    @property
    def is_row_level(self) -> bool:
        return self.type in ROW_LEVEL_TYPES

    @property
    def base_reason(self) -> str:
        return f"{self.type}({self.column})" if self.column is not None else self.type


@dataclass(frozen=True)
class Suite:
    """A parsed expectation suite; ``source`` is the file it came from (for error messages)."""

    name: str
    expectations: tuple[Expectation, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<memory>"

    @property
    def reasons(self) -> tuple[str, ...]:
        """Stable reason string per expectation, aligned with ``expectations``.

        ``<type>(<column>)`` for column expectations, ``<type>`` for table expectations; a
        repeated string gets ``#2``, ``#3``... in suite order so every reason is unique.
        """
        seen: dict[str, int] = {}
        out = []
        for exp in self.expectations:
            base = exp.base_reason
            seen[base] = seen.get(base, 0) + 1
            out.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
        return tuple(out)

    def row_level(self) -> list[tuple[int, Expectation]]:
        return [(i, e) for i, e in enumerate(self.expectations) if e.is_row_level]

    def table_level(self) -> list[tuple[int, Expectation]]:
        return [(i, e) for i, e in enumerate(self.expectations) if not e.is_row_level]

    def error(self, index: int | None, message: str) -> SuiteError:
        return SuiteError(self.source, message, index)


def suite_path(source_name: str) -> Path:
    """Path of the committed suite for a source, e.g. ``deals`` -> ``.../expectations/deals.json``."""
    if not source_name or not source_name.replace("_", "").isalnum():
        raise ValueError(f"invalid source name {source_name!r}")
    return EXPECTATIONS_DIR / f"{source_name}.json"


def resolve_suite(suite: Suite | str | Path) -> Suite:
    """Accept a Suite, a source name (``"deals"``) or a path to a suite JSON file."""
    if isinstance(suite, Suite):
        return suite
    if isinstance(suite, Path) or str(suite).endswith(".json") or "/" in str(suite):
        return load_suite(suite)
    return load_suite(suite_path(str(suite)))


def load_suite(path: str | Path) -> Suite:
    """Load and validate a GX 1.x suite JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(path, f"cannot read suite file ({exc.strerror or exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteError(path, f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from exc
    return parse_suite(data, source=path)


def parse_suite(data: Any, source: str | Path = "<memory>") -> Suite:
    """Validate an already-decoded suite document."""
    if not isinstance(data, dict):
        raise SuiteError(source, "top level must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise SuiteError(source, "missing or empty 'name'")
    raw = data.get("expectations")
    if not isinstance(raw, list):
        raise SuiteError(source, "'expectations' must be a list")
    meta = data.get("meta") or {}
    if not isinstance(meta, dict):
        raise SuiteError(source, "'meta' must be an object")
    expectations = tuple(_parse_expectation(item, source, i) for i, item in enumerate(raw))
    return Suite(name=name, expectations=expectations, meta=meta, source=str(source))


_COLUMN_LIST_KWARGS = ("column_set", "column_list")


# (path, content digest, expected name, columns) -> problems: one check per suite, not one per source using it
_PROBLEMS_CACHE: dict[tuple[str, str, str, tuple[str, ...]], tuple[tuple[str, str], ...]] = {}
_PROBLEMS_CACHE_MAX = 1024


def suite_problems(path: Path, expected_name: str, columns: Collection[str]) -> list[tuple[str, str]]:
    """Every reason the suite at ``path`` cannot run on a source with ``columns``, as (where, reason).

    ``where`` is ``name`` or ``expectations[i] (type)``. Checked: the file reads and parses, its ``name``
    is ``expected_name``, every expectation is one the rule compiler supports with valid options, and
    every column a rule names is in the schema. The answer is cached per file content, name and columns,
    so many sources sharing one suite pay for one check (an edited file is checked again).
    """
    try:
        body = path.read_bytes()
    except OSError as exc:
        return [("", f"cannot read suite file ({exc.strerror or exc})")]
    key = (str(path), hashlib.blake2b(body, digest_size=16).hexdigest(), expected_name, tuple(columns))
    found = _PROBLEMS_CACHE.get(key)
    if found is None:
        found = tuple(_check_suite(body, path, expected_name, columns))
        if len(_PROBLEMS_CACHE) >= _PROBLEMS_CACHE_MAX:
            _PROBLEMS_CACHE.clear()
        _PROBLEMS_CACHE[key] = found
    return list(found)


def _check_suite(
    body: bytes, path: Path, expected_name: str, columns: Collection[str]
) -> list[tuple[str, str]]:
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [("", f"cannot read suite file ({exc})")]
    except json.JSONDecodeError as exc:
        return [("", f"malformed JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
    if not isinstance(data, dict) or not isinstance(data.get("expectations"), list):
        return [("", "must be a JSON object with an 'expectations' list (GX 1.x suite format)")]
    problems: list[tuple[str, str]] = []
    if data.get("name") != expected_name:
        problems.append(
            ("name", f"must be {expected_name!r}, the suite's file name (got {data.get('name')!r})")
        )
    known = set(columns)
    for index, item in enumerate(data["expectations"]):
        kind = item.get("type") if isinstance(item, dict) else None
        where = f"expectations[{index}]" + (f" ({kind})" if isinstance(kind, str) and kind else "")
        try:
            expectation = _parse_expectation(item, path, index)
        except SuiteError as exc:
            problems.append((where, str(exc).split(": ", 2)[-1]))
            continue
        named = [expectation.column] if expectation.column is not None else []
        for key in _COLUMN_LIST_KWARGS:
            named += [c for c in expectation.kwargs.get(key, []) if isinstance(c, str)]
        missing = [c for c in dict.fromkeys(named) if c not in known]
        if missing:
            problems.append((where, f"column(s) {missing} not in the source's schema {sorted(known)}"))
        if "regex" in expectation.kwargs:
            from salestalk.quality.regex import (
                UnsupportedRegexError,
                python_regex_to_re2,
                snowflake_search_pattern,
            )

            try:  # both warehouses must be able to run it
                python_regex_to_re2(expectation.kwargs["regex"])
                snowflake_search_pattern(expectation.kwargs["regex"])
            except UnsupportedRegexError as exc:
                problems.append((where, f"regex cannot be evaluated in SQL: {exc}"))
    return problems


def _parse_expectation(item: Any, source: str | Path, index: int) -> Expectation:
    if not isinstance(item, dict):
        raise SuiteError(source, "expectation must be a JSON object", index)
    exp_type = item.get("type")
    if exp_type is None and "expectation_type" in item:
        raise SuiteError(source, "uses the GX 0.x key 'expectation_type'; GX 1.x expects 'type'", index)
    if not isinstance(exp_type, str) or not exp_type:
        raise SuiteError(source, "missing expectation 'type'", index)
    if exp_type not in SUPPORTED_TYPES:
        raise UnsupportedExpectationError(
            source,
            f"unsupported expectation type {exp_type!r} (supported: {', '.join(sorted(SUPPORTED_TYPES))})",
            index,
        )
    kwargs = item.get("kwargs")
    if not isinstance(kwargs, dict):
        raise SuiteError(source, f"{exp_type}: 'kwargs' must be an object", index)
    meta = item.get("meta") or {}
    if not isinstance(meta, dict):
        raise SuiteError(source, f"{exp_type}: 'meta' must be an object", index)
    _check_kwargs(exp_type, kwargs, source, index)
    exp_id = item.get("id")
    return Expectation(
        type=exp_type, kwargs=kwargs, meta=meta, id=exp_id if isinstance(exp_id, str) else None
    )


def _check_kwargs(exp_type: str, kwargs: dict[str, Any], source: str | Path, index: int) -> None:
    required, optional = _KWARGS[exp_type]
    missing = [k for k in required if kwargs.get(k) is None]
    if missing:
        raise SuiteError(source, f"{exp_type}: missing required kwargs {missing}", index)
    unknown = sorted(set(kwargs) - set(required) - set(optional) - _PRESENTATION_KWARGS)
    if unknown:
        raise UnsupportedExpectationError(source, f"{exp_type}: unsupported kwargs {unknown}", index)
    for key, value in kwargs.items():
        if isinstance(value, dict) and "$PARAMETER" in value:
            raise UnsupportedExpectationError(
                source, f"{exp_type}: suite parameter in {key!r} is not supported", index
            )
    if exp_type in _NEEDS_A_BOUND and kwargs.get("min_value") is None and kwargs.get("max_value") is None:
        raise SuiteError(source, f"{exp_type}: min_value and max_value cannot both be null", index)
    for key in ("value_set", "column_set", "column_list"):
        if key in kwargs and not isinstance(kwargs[key], list):
            raise SuiteError(source, f"{exp_type}: {key!r} must be a list", index)
    if "regex" in kwargs and not isinstance(kwargs["regex"], str):
        raise SuiteError(source, f"{exp_type}: 'regex' must be a string", index)
    if "column" in kwargs and not isinstance(kwargs["column"], str):
        raise SuiteError(source, f"{exp_type}: 'column' must be a string", index)
