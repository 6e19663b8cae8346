"""The suite's row rules compiled to Snowflake SQL, with the same verdicts as the DuckDB compilation.

Semantics follow :mod:`salestalk.quality.sql` (GX on pandas): null values (and NaN in float columns)
pass every rule except the null rules, ``mostly`` is ignored, and a regex is an unanchored search with
Python ``re`` meaning. Identifiers are checked and quoted; every value from the suite is a ``?`` bind.

Regexes: Snowflake's ``REGEXP_LIKE`` is a POSIX ERE full match, DuckDB's (and fakesnow's) RE2. Only a
subset whose meaning is the same in Python ``re``, POSIX ERE and RE2 is accepted: literals, character
classes of literals and ranges, greedy repeats, alternation, capture groups, and ``^``/``$`` at the ends
of the pattern only. ``.`` is refused (Python's ``.`` excludes newline, and the wrapper below needs the
``s`` flag); anything else raises with the rule's name.
"""

from __future__ import annotations

import re
import re._constants as sre_c
import re._parser as sre_p
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salestalk.quality.suite import Expectation, Suite

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9 _@%+\-.,:;/#=!'\"<>&~`]")
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


def ident(name: str) -> str:
    """Check ``name`` against the strict identifier pattern and quote it in Snowflake's upper case."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ValueError(f"unsafe SQL identifier {name!r}: must match {IDENTIFIER.pattern}")
    return f'"{name.upper()}"'


def qualified(name: str, default_schema: str | None = None) -> str:
    """``db.schema.name``, ``schema.name`` or ``name`` (with ``default_schema``), each part checked and quoted."""
    parts = name.split(".")
    if len(parts) == 1 and default_schema:
        parts = [default_schema, *parts]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"invalid relation name {name!r}")
    return ".".join(ident(p) for p in parts)


@dataclass(frozen=True)
class SnowflakeRule:
    index: int
    reason: str
    condition: str
    params: tuple[Any, ...]


def compile_rules(
    suite: Suite, relation: str, column_types: dict[str, str], present: set[str]
) -> tuple[list[SnowflakeRule], list[int]]:
    """Violation predicate per row rule whose column is ``present``; the indexes of the skipped ones.

    ``column_types`` maps lowercase config column names to config types (``float`` columns treat NaN as null).
    """
    rules, skipped = [], []
    for index, exp in suite.row_level():
        if exp.column not in present:
            skipped.append(index)
            continue
        try:
            condition, params = violation(exp, relation, column_types.get(exp.column or "", ""))
        except (ValueError, TypeError) as exc:
            raise suite.error(index, f"{exp.type} on Snowflake: {exc}") from exc
        rules.append(SnowflakeRule(index, suite.reasons[index], condition, tuple(params)))
    return rules, skipped


def violation(exp: Expectation, relation: str, column_type: str) -> tuple[str, list[Any]]:
    """Snowflake predicate that is TRUE exactly when a row violates ``exp``."""
    kw = exp.kwargs
    col = ident(kw["column"])
    is_null = (
        f"({col} IS NULL OR {col} = CAST('NaN' AS DOUBLE))" if column_type == "float" else f"{col} IS NULL"
    )
    present = f"NOT {is_null}"
    kind = exp.type
    if kind == "expect_column_values_to_not_be_null":
        return is_null, []
    if kind == "expect_column_values_to_be_null":
        return present, []
    if kind == "expect_column_values_to_be_between":
        inside, params = _bounds(col, kw)
        return f"{present} AND NOT ({inside})", params
    if kind == "expect_column_value_lengths_to_be_between":
        inside, params = _bounds(f"LENGTH(CAST({col} AS VARCHAR))", kw)
        return f"{present} AND NOT ({inside})", params
    if kind == "expect_column_value_lengths_to_equal":
        return f"{present} AND LENGTH(CAST({col} AS VARCHAR)) <> ?", [kw["value"]]
    if kind in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        values = [v for v in kw["value_set"] if v is not None]
        want_in = kind == "expect_column_values_to_be_in_set"
        if not values:
            return (present if want_in else "FALSE"), []
        placeholders = ", ".join("?" for _ in values)
        return f"{present} AND {col} {'NOT IN' if want_in else 'IN'} ({placeholders})", values
    if kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        pattern = search_pattern(kw["regex"])
        negate = "NOT " if kind == "expect_column_values_to_match_regex" else ""
        return f"{present} AND {negate}REGEXP_LIKE(CAST({col} AS VARCHAR), ?, 's')", [pattern]
    if kind == "expect_column_values_to_be_unique":
        dupes = f"SELECT {col} FROM {relation} WHERE {present} GROUP BY {col} HAVING COUNT(*) > 1"
        return f"{present} AND {col} IN ({dupes})", []
    raise ValueError(f"{kind} has no row-level SQL")


def _bounds(expr: str, kw: Any) -> tuple[str, list[Any]]:
    parts, params = [], []
    if kw.get("min_value") is not None:
        parts.append(f"{expr} {'>' if kw.get('strict_min') else '>='} ?")
        params.append(kw["min_value"])
    if kw.get("max_value") is not None:
        parts.append(f"{expr} {'<' if kw.get('strict_max') else '<='} ?")
        params.append(kw["max_value"])
    if not parts:
        raise ValueError("min_value and max_value cannot both be null")
    return " AND ".join(parts), params


def search_pattern(pattern: str) -> str:
    """A full-match pattern for ``REGEXP_LIKE(..., 's')`` equal to Python's ``re.search(pattern)``.

    Unanchored ends get ``.*`` (the ``s`` flag lets it cross newlines); a trailing ``$`` becomes
    ``\\n?`` because Python's ``$`` also matches before a final newline.
    """
    try:
        parsed = sre_p.parse(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
    if parsed.state.flags & ~sre_c.SRE_FLAG_UNICODE:
        raise ValueError(f"inline flags are not supported: {pattern!r}")
    items = list(parsed)
    starts = bool(items) and items[0] == (sre_c.AT, sre_c.AT_BEGINNING)
    ends = bool(items) and items[-1] == (sre_c.AT, sre_c.AT_END)
    body = items[1 if starts else 0 : len(items) - 1 if ends else len(items)]
    emitted = _seq(body, pattern)
    return f"{'' if starts else '.*'}({emitted}){chr(92) + 'n?' if ends else '.*'}"


def _unsupported(what: str, pattern: str) -> ValueError:
    return ValueError(f"{what} is not evaluated identically by Python re, RE2 and Snowflake: {pattern!r}")


def _literal(code: int, pattern: str, in_class: bool = False) -> str:
    char = chr(code)
    if in_class:
        if char in "]\\^[":
            raise _unsupported(f"{char!r} inside a character class", pattern)
        return char
    if char in _ERE_SPECIAL:
        return "\\" + char
    if not _SAFE_LITERAL.fullmatch(char):
        raise _unsupported(f"the character {char!r}", pattern)
    return char


def _seq(items: list[tuple[Any, Any]], pattern: str) -> str:
    return "".join(_item(op, av, pattern) for op, av in items)


def _item(op: Any, av: Any, pattern: str) -> str:
    if op is sre_c.LITERAL:
        return _literal(av, pattern)
    if op is sre_c.IN:
        members = list(av)
        negate = members and members[0][0] is sre_c.NEGATE
        out = []
        for kind, value in members[1 if negate else 0 :]:
            if kind is sre_c.LITERAL:
                char = _literal(value, pattern, in_class=True)
                out.append("\\-" if char == "-" else char)
            elif kind is sre_c.RANGE:
                low, high = value
                if not (
                    chr(low).isascii() and chr(low).isalnum() and chr(high).isascii() and chr(high).isalnum()
                ):
                    raise _unsupported("a non-alphanumeric range", pattern)
                out.append(f"{chr(low)}-{chr(high)}")
            else:
                raise _unsupported(f"{kind} inside a character class", pattern)
        # POSIX brackets have no escapes: a literal '-' must come last.
        dash = "\\-" in out
        out = [o for o in out if o != "\\-"] + (["-"] if dash else [])
        return f"[{'^' if negate else ''}{''.join(out)}]"
    if op is sre_c.MAX_REPEAT:
        low, high, sub = av
        inner = _seq(list(sub), pattern)
        if len(list(sub)) != 1 or list(sub)[0][0] is sre_c.SUBPATTERN:
            inner = inner if inner.startswith("(") and inner.endswith(")") else f"({inner})"
        if high is sre_c.MAXREPEAT:
            suffix = "*" if low == 0 else "+" if low == 1 else f"{{{low},}}"
        elif low == 0 and high == 1:
            suffix = "?"
        else:
            suffix = f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        return inner + suffix
    if op is sre_c.SUBPATTERN:
        group, add_flags, del_flags, sub = av
        if add_flags or del_flags:
            raise _unsupported("a scoped flag", pattern)
        return f"({_seq(list(sub), pattern)})"
    if op is sre_c.BRANCH:
        _, branches = av
        return "(" + "|".join(_seq(list(b), pattern) for b in branches) + ")"
    raise _unsupported(str(op), pattern)
