"""What differs between warehouses' SQL, as data: identifier case, types, and the few functions that differ.

The pipeline, the rule compiler and the readers write one SQL text per statement and take the
differences from a :class:`Dialect`. Queries kept in files (the insight summary) are written for DuckDB
and transpiled with sqlglot. Identifiers are checked against :data:`IDENTIFIER`, then quoted.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def check_identifier(name: str) -> str:
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise ValueError(f"unsafe SQL identifier {name!r}: must match {IDENTIFIER.pattern}")
    return name


def string_literal(text: str) -> str:
    """``text`` as a SQL string literal (the same quoting on DuckDB and Snowflake)."""
    return "'" + text.replace("'", "''") + "'"


def is_identifier(name: str) -> bool:
    return isinstance(name, str) and IDENTIFIER.fullmatch(name) is not None


@dataclass(frozen=True)
class Dialect:
    """One warehouse's SQL spelling. Templates take ``{}`` placeholders filled with SQL fragments."""

    name: str
    upper_identifiers: bool
    types: dict[str, str]
    array_type: str
    json_object: str  # {pairs}: 'key', value, ...
    compact_array: str  # {items}: expressions; NULLs dropped
    ordered_array_agg: str  # {value}, {order}
    flatten: str  # {array}: a FROM item named f
    flatten_pos: str  # f's 0-based position
    flatten_value: str  # f's value as text
    full_match: str  # {value}, {pattern}: regex full match (pattern is a literal)
    regex_search: str  # {value}: unanchored search against a bound pattern
    nan_test: str  # {value}
    utc_date: str  # {value}: a timestamp's calendar date in UTC (sqlglot leaves TIMEZONE() for Snowflake)
    own_tables: str  # a condition on information_schema.tables: this session's database only
    sqlglot: str

    def ident(self, name: str) -> str:
        check_identifier(name)
        return f'"{name.upper() if self.upper_identifiers else name}"'

    def table(self, schema: str, name: str) -> str:
        return f"{self.ident(schema)}.{self.ident(name)}"

    def column_type(self, config_type: str) -> str:
        return self.types[config_type]

    def as_list(self, value: Any) -> list[str]:
        """An array value as fetched (a list on DuckDB, JSON text on Snowflake) as a Python list."""
        if value is None:
            return []
        return list(json.loads(value)) if isinstance(value, str) else list(value)

    def regex_pattern(self, python_pattern: str) -> str:
        """The bound pattern for :attr:`regex_search` that means Python's ``re.search(python_pattern)``."""
        from salestalk.quality import regex

        if self.name == "snowflake":
            return regex.snowflake_search_pattern(python_pattern)
        return regex.python_regex_to_re2(python_pattern)

    def transpile(self, duckdb_sql: str) -> str:
        return transpile(duckdb_sql, self.sqlglot)


@cache
def transpile(duckdb_sql: str, target: str) -> str:
    if target == "duckdb":
        return duckdb_sql
    import sqlglot

    return ";\n".join(sqlglot.transpile(duckdb_sql, read="duckdb", write=target, pretty=True))


DUCKDB = Dialect(
    name="duckdb",
    upper_identifiers=False,
    types={
        "string": "VARCHAR",
        "integer": "BIGINT",
        "float": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMPTZ",
        "bigint": "BIGINT",
    },
    array_type="VARCHAR[]",
    json_object="CAST(json_object({pairs}) AS VARCHAR)",
    compact_array="list_filter([{items}], lambda x: x IS NOT NULL)",
    ordered_array_agg="array_agg({value} ORDER BY {order})",
    flatten="unnest({array}) WITH ORDINALITY AS f(value, ordinal)",
    flatten_pos="f.ordinal - 1",
    flatten_value="f.value",
    full_match="regexp_full_match({value}, '{pattern}')",
    regex_search="regexp_matches(CAST({value} AS VARCHAR), ?)",
    nan_test="isnan({value})",
    utc_date="CAST(timezone('UTC', {value}) AS DATE)",
    own_tables="table_catalog = current_database()",  # one process's engine may attach several files
    sqlglot="duckdb",
)

SNOWFLAKE = Dialect(
    name="snowflake",
    upper_identifiers=True,
    types={
        "string": "VARCHAR",
        "integer": "NUMBER(38, 0)",
        "float": "DOUBLE",
        "boolean": "BOOLEAN",
        "date": "DATE",
        "timestamp": "TIMESTAMP_TZ",
        "bigint": "NUMBER(38, 0)",
    },
    array_type="ARRAY",
    json_object="TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL({pairs}))",
    compact_array="ARRAY_CONSTRUCT_COMPACT({items})",
    ordered_array_agg="ARRAY_AGG({value}) WITHIN GROUP (ORDER BY {order})",
    flatten="LATERAL FLATTEN(input => {array}) f",
    flatten_pos="f.index",
    flatten_value="CAST(f.value AS VARCHAR)",
    full_match="REGEXP_LIKE({value}, '{pattern}')",
    regex_search="REGEXP_LIKE(CAST({value} AS VARCHAR), ?, 's')",
    nan_test="{value} = CAST('NaN' AS DOUBLE)",
    utc_date="CAST(CONVERT_TIMEZONE('UTC', {value}) AS DATE)",
    own_tables="TRUE",  # information_schema is per database
    sqlglot="snowflake",
)

DIALECTS = {d.name: d for d in (DUCKDB, SNOWFLAKE)}
