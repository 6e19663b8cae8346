"""Compile a suite's row-level expectations to SQL in any warehouse dialect; evaluate table-level ones.

Row verdicts follow GX's pandas semantics, so they equal the rows GX lists in
``unexpected_index_list`` (checked by the differential test): null values (and NaN in float
columns) pass every rule except the null rules, ``mostly`` is ignored (a violating row is a
failing row), regexes are unanchored searches with Python ``re`` meaning (see
:mod:`salestalk.quality.regex`).

One compiler serves every warehouse: the differences (identifier case, the NaN test, the regex
function and pattern translation) come from a :class:`~salestalk.warehouse.dialect.Dialect`. Every
identifier is checked and quoted; every value taken from a suite is a bound parameter, never spliced
into the SQL text. :func:`split`, :func:`materialize_verdicts` and :func:`table_checks` evaluate a
suite on a DuckDB-dialect connection (``execute(sql, params)``); the pipeline uses the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from salestalk.quality.suite import resolve_suite
from salestalk.warehouse.dialect import DUCKDB, Dialect, string_literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from salestalk.quality.suite import Expectation, Suite

    SuiteLike = Suite | str | Path
    Columns = Mapping[str, str] | Sequence[str]

DEFAULT_COLLECT_LIMIT = 100_000
_FLOAT_TYPES = frozenset({"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"})


def quote_ident(name: str) -> str:
    """Double-quote a validated identifier (DuckDB spelling)."""
    return DUCKDB.ident(name)


def quote_relation(relation: str) -> str:
    """Quote ``name``, ``schema.name`` or ``catalog.schema.name``."""
    parts = relation.split(".") if isinstance(relation, str) else [relation]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"invalid relation name {relation!r}")
    return ".".join(quote_ident(p) for p in parts)


class RowRules(NamedTuple):
    """Row-level rules split by whether the relation has the columns they need."""

    applicable: list[tuple[int, Expectation]]
    skipped: list[tuple[int, Expectation]]


@dataclass(frozen=True)
class CompiledRule:
    index: int
    reason: str
    condition: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class TableCheck:
    """Outcome of one table-level expectation (or of a row rule skipped for a missing column)."""

    type: str
    columns: tuple[str, ...]
    success: bool
    observed: Any
    expected: Any
    reason: str = ""
    index: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SplitResult:
    """Counts of a batch's verdicts; ``failures`` maps row id -> reasons (None when not collected)."""

    rows: int
    failing: int
    passing: int
    failures: dict[int, list[str]] | None
    rule_failures: dict[str, int]
    skipped_rules: tuple[str, ...] = ()
    verdicts_table: str | None = None


def applicable_row_rules(suite: SuiteLike, columns: Iterable[str]) -> RowRules:
    """Row-level rules whose column exists in ``columns`` (exact, case-sensitive, like pandas)."""
    suite = resolve_suite(suite)
    present = set(columns)
    applicable, skipped = [], []
    for index, exp in suite.row_level():
        (applicable if exp.column in present else skipped).append((index, exp))
    return RowRules(applicable, skipped)


def compile_row_rules(
    suite: SuiteLike, relation: str, columns: Columns | None = None, dialect: Dialect = DUCKDB
) -> tuple[list[CompiledRule], list[tuple[int, Expectation]]]:
    """Violation predicate per applicable row rule, plus the rules skipped for missing columns.

    ``relation`` is ``name`` or ``schema.name``, quoted here in ``dialect``.
    ``columns`` maps names to types (warehouse or config types; float types treat NaN as null).
    """
    suite = resolve_suite(suite)
    types = _column_types(columns)
    if columns is None:
        rules, skipped = suite.row_level(), []
    else:
        rules, skipped = applicable_row_rules(suite, types)
    reasons = suite.reasons
    rel = ".".join(dialect.ident(part) for part in relation.split("."))
    compiled = []
    for index, exp in rules:
        try:
            condition, params = _violation(exp, rel, types.get(exp.column or "", ""), dialect)
        except (ValueError, TypeError) as exc:
            raise suite.error(index, f"{exp.type}: {exc}") from exc
        compiled.append(CompiledRule(index, reasons[index], condition, tuple(params)))
    return compiled, skipped


def row_failure_query(
    relation: str, suite: SuiteLike, row_id_column: str = "_row_num", *, columns: Columns | None = None
) -> tuple[str, list[Any]]:
    """SQL + params yielding ``(<row_id_column>, reasons)`` for each failing row of ``relation``.

    ``reasons`` is a ``VARCHAR[]`` of reason strings in suite order. Pass ``columns`` (names, or
    name -> DuckDB type as from ``DESCRIBE``) to skip rules whose column is missing and to treat
    NaN in float columns as null, as GX does; without it every row rule is compiled as is.
    """
    rules, _ = compile_row_rules(suite, relation, columns)
    return _failure_sql(relation, row_id_column, rules)


def _failure_sql(relation: str, row_id_column: str, rules: list[CompiledRule]) -> tuple[str, list[Any]]:
    rid = quote_ident(row_id_column)
    rel = quote_relation(relation)
    if not rules:
        return f"SELECT {rid}, []::VARCHAR[] AS reasons FROM {rel} WHERE false", []
    cases = ", ".join(f"CASE WHEN {r.condition} THEN {string_literal(r.reason)} END" for r in rules)
    any_violation = " OR ".join(f"({r.condition})" for r in rules)
    params = [p for r in rules for p in r.params]
    sql = (
        f"SELECT {rid}, list_filter([{cases}], lambda r: r IS NOT NULL) AS reasons "
        f"FROM {rel} WHERE {any_violation}"
    )
    return sql, params + params


def describe(con: Any, relation: str) -> dict[str, str]:
    """Column name -> DuckDB type, in relation order."""
    rows = con.execute(f"DESCRIBE {quote_relation(relation)}").fetchall()
    return {row[0]: row[1] for row in rows}


def split(
    con: Any,
    relation: str,
    suite: SuiteLike,
    row_id_column: str = "_row_num",
    *,
    collect_limit: int = DEFAULT_COLLECT_LIMIT,
) -> SplitResult:
    """Count passing/failing rows and, if at most ``collect_limit`` fail, return their reasons.

    For large batches use :func:`materialize_verdicts`, which keeps the verdicts in DuckDB.
    """
    suite = resolve_suite(suite)
    columns = _require_row_id(con, relation, row_id_column)
    rules, skipped = compile_row_rules(suite, relation, columns)
    rows, failing, rule_failures = _counts(con, relation, rules)
    failures: dict[int, list[str]] | None = None
    if failing <= collect_limit:
        sql, params = _failure_sql(relation, row_id_column, rules)
        fetched = con.execute(f"{sql} ORDER BY 1", params).fetchall()
        failures = {row_id: list(reasons) for row_id, reasons in fetched}
    return SplitResult(
        rows=rows,
        failing=failing,
        passing=rows - failing,
        failures=failures,
        rule_failures=rule_failures,
        skipped_rules=tuple(suite.reasons[i] for i, _ in skipped),
    )


def materialize_verdicts(
    con: Any,
    relation: str,
    suite: SuiteLike,
    target_table: str,
    row_id_column: str = "_row_num",
) -> SplitResult:
    """Write ``(<row_id_column>, reasons)`` of every failing row to ``target_table`` (replaced)."""
    suite = resolve_suite(suite)
    columns = _require_row_id(con, relation, row_id_column)
    rules, skipped = compile_row_rules(suite, relation, columns)
    sql, params = _failure_sql(relation, row_id_column, rules)
    target = quote_relation(target_table)
    con.execute(f"CREATE OR REPLACE TABLE {target} AS {sql}", params)
    rows = con.execute(f"SELECT count(*) FROM {quote_relation(relation)}").fetchall()[0][0]
    failing = con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]
    counted = dict(
        con.execute(
            f"SELECT r, count(*) FROM (SELECT unnest(reasons) AS r FROM {target}) GROUP BY r"
        ).fetchall()
    )
    return SplitResult(
        rows=rows,
        failing=failing,
        passing=rows - failing,
        failures=None,
        rule_failures={r.reason: counted.get(r.reason, 0) for r in rules},
        skipped_rules=tuple(suite.reasons[i] for i, _ in skipped),
        verdicts_table=target_table,
    )


def table_checks(con: Any, relation: str, suite: SuiteLike) -> list[TableCheck]:
    """Evaluate table-level expectations in SQL; row rules on missing columns are reported as failed."""
    suite = resolve_suite(suite)
    row_count = con.execute(f"SELECT count(*) FROM {quote_relation(relation)}").fetchall()[0][0]
    return evaluate_table_checks(suite, list(describe(con, relation)), row_count)


def evaluate_table_checks(suite: Suite, columns: list[str], row_count: int) -> list[TableCheck]:
    """Table-level expectations against a relation's columns and row count, in suite order; row rules
    on missing columns are reported as failed."""
    reasons = suite.reasons
    checks = []
    for index, exp in suite.table_level():
        checks.append(table_check(exp, columns, row_count, reasons[index], index))
    for index, exp in applicable_row_rules(suite, columns).skipped:
        checks.append(
            TableCheck(
                type=exp.type,
                columns=(exp.column or "",),
                success=False,
                observed={"missing_columns": [exp.column]},
                expected=dict(exp.kwargs),
                reason=reasons[index],
                index=index,
                details={"message": f"column {exp.column!r} is missing, so the row rule was not evaluated"},
            )
        )
    return sorted(checks, key=lambda c: c.index if c.index is not None else -1)


def table_check(
    exp: Expectation, columns: list[str], row_count: int | None, reason: str, index: int
) -> TableCheck:
    kw = exp.kwargs
    details: dict[str, Any] = {}
    if exp.type == "expect_table_columns_to_match_set":
        expected = list(kw["column_set"])
        unexpected = sorted(set(columns) - set(expected))
        missing = sorted(set(expected) - set(columns))
        exact = kw.get("exact_match", True)
        success = not missing and (not unexpected or exact is not True)
        details = {"unexpected": unexpected, "missing": missing}
        return TableCheck(exp.type, tuple(expected), success, columns, expected, reason, index, details)
    if exp.type == "expect_table_columns_to_match_ordered_list":
        expected = list(kw["column_list"])
        success = columns == expected
        if not success:
            details = {
                "mismatched": [
                    {"position": i, "expected": e, "found": f}
                    for i, (e, f) in enumerate(_zip_longest(expected, columns))
                    if e != f
                ]
            }
        return TableCheck(exp.type, tuple(expected), success, columns, expected, reason, index, details)
    if exp.type == "expect_column_to_exist":
        column, position = kw["column"], kw.get("column_index")
        if position:
            success = -len(columns) <= position < len(columns) and columns[position] == column
        else:
            success = column in columns
        return TableCheck(exp.type, (column,), success, columns, dict(kw), reason, index)
    if exp.type == "expect_table_column_count_to_equal":
        return TableCheck(exp.type, (), len(columns) == kw["value"], len(columns), kw["value"], reason, index)
    if exp.type == "expect_table_row_count_to_equal":
        return TableCheck(exp.type, (), row_count == kw["value"], row_count, kw["value"], reason, index)
    if exp.type == "expect_table_row_count_to_be_between":
        bounds = {k: kw.get(k) for k in ("min_value", "max_value", "strict_min", "strict_max")}
        return TableCheck(exp.type, (), _within(row_count, **bounds), row_count, bounds, reason, index)
    raise ValueError(f"{exp.type} is not a table-level expectation")


def _within(value: Any, min_value: Any, max_value: Any, strict_min: Any, strict_max: Any) -> bool:
    if value is None:
        return False
    above = min_value is None or (value > min_value if strict_min else value >= min_value)
    below = max_value is None or (value < max_value if strict_max else value <= max_value)
    return above and below


def _zip_longest(a: list[str], b: list[str]) -> list[tuple[str | None, str | None]]:
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else None, b[i] if i < len(b) else None) for i in range(n)]


def _column_types(columns: Columns | None) -> dict[str, str]:
    if columns is None:
        return {}
    if hasattr(columns, "items"):
        return {name: str(kind).upper() for name, kind in columns.items()}
    return dict.fromkeys(columns, "")


def _require_row_id(con: Any, relation: str, row_id_column: str) -> dict[str, str]:
    columns = describe(con, relation)
    if row_id_column not in columns:
        raise ValueError(
            f"relation {relation!r} has no row id column {row_id_column!r}; add one "
            "(e.g. row_number() OVER () - 1 or the pandas index) before splitting"
        )
    return columns


def _counts(con: Any, relation: str, rules: list[CompiledRule]) -> tuple[int, int, dict[str, int]]:
    rel = quote_relation(relation)
    if not rules:
        return con.execute(f"SELECT count(*) FROM {rel}").fetchall()[0][0], 0, {}
    per_rule = ", ".join(f"count(*) FILTER (WHERE {r.condition})" for r in rules)
    any_violation = " OR ".join(f"({r.condition})" for r in rules)
    params = [p for r in rules for p in r.params]
    row = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {any_violation}), {per_rule} FROM {rel}", params + params
    ).fetchall()[0]
    return row[0], row[1], {r.reason: n for r, n in zip(rules, row[2:], strict=True)}


def _violation(exp: Expectation, rel: str, column_type: str, dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL predicate that is TRUE exactly when a row violates ``exp`` (NULL/FALSE otherwise)."""
    kw = exp.kwargs
    col = dialect.ident(kw["column"])
    nan = dialect.nan_test.format(value=col)
    is_null = f"({col} IS NULL OR {nan})" if column_type in _FLOAT_TYPES else f"{col} IS NULL"
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
        op = "NOT IN" if want_in else "IN"
        return f"{present} AND {col} {op} ({placeholders})", values
    if kind in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
        pattern = dialect.regex_pattern(kw["regex"])
        negate = "NOT " if kind == "expect_column_values_to_match_regex" else ""
        return f"{present} AND {negate}{dialect.regex_search.format(value=col)}", [pattern]
    if kind == "expect_column_values_to_be_unique":
        dupes = f"SELECT {col} FROM {rel} WHERE {present} GROUP BY {col} HAVING COUNT(*) > 1"
        return f"{present} AND {col} IN ({dupes})", []
    raise ValueError(f"{kind} has no row-level SQL")


def _bounds(expr: str, kw: Mapping[str, Any]) -> tuple[str, list[Any]]:
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
