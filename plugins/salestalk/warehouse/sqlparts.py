"""SQL fragments shared by the warehouse backends. Identifiers are checked, then quoted."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")

META_COLUMNS = {
    "_record_num": "BIGINT",
    "_tenant_id": "VARCHAR",
    "_run_id": "VARCHAR",
    "_interval_start": "TIMESTAMPTZ",
    "_interval_end": "TIMESTAMPTZ",
    "_loaded_at": "TIMESTAMPTZ",
    "_raw_record": "VARCHAR",
    "_cast_failures": "VARCHAR[]",
    "_load_id": "VARCHAR",
}
SQL_TYPES = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}


def q(identifier: str) -> str:
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError(f"unsafe SQL identifier {identifier!r}")
    return f'"{identifier}"'


def table(schema: str, name: str) -> str:
    return f"{q(schema)}.{q(name)}"


def cast_expression(column: str, column_type: str) -> str:
    raw = q(column)
    if column_type == "string":
        return raw
    if column_type == "integer":
        return f"CASE WHEN regexp_full_match(trim({raw}), '[+-]?[0-9]{{1,18}}') THEN TRY_CAST(trim({raw}) AS BIGINT) END"
    if column_type == "boolean":
        return f"CASE lower(trim({raw})) WHEN 'true' THEN true WHEN 'false' THEN false END"
    return f"TRY_CAST({raw} AS {SQL_TYPES[column_type]})"


def column_definitions(source: SourceConfig) -> list[str]:
    return [f"{q(c.name)} {SQL_TYPES[c.type]}" for c in source.table_schema.columns]


def staging_select(source: SourceConfig) -> str:
    """SELECT over a raw part (text columns) that casts to the schema and records cast failures,
    together with the part's pre-landing rejections."""
    columns = source.table_schema.columns
    casts = [f"{cast_expression(c.name, c.type)} AS {q(c.name)}" for c in columns]
    failures = ", ".join(
        f"CASE WHEN {q(c.name)} IS NOT NULL AND ({cast_expression(c.name, c.type)}) IS NULL "
        f"THEN 'cast_to_{c.type}({c.name})' END"
        for c in columns
        if c.type != "string"
    )
    raw_pairs = ", ".join(f"'{c.name}', {q(c.name)}" for c in columns)
    raw_json = f"json_merge_patch(json_object({raw_pairs}), coalesce(_extra_json, '{{}}'))::VARCHAR"
    return (
        "SELECT "
        + ", ".join(casts)
        + ", _record_num, ? AS _tenant_id, ? AS _run_id, ?::TIMESTAMPTZ AS _interval_start, "
        "?::TIMESTAMPTZ AS _interval_end, ?::TIMESTAMPTZ AS _loaded_at, "
        f"{raw_json} AS _raw_record, "
        + "list_concat("
        + (f"list_filter([{failures}], lambda x: x IS NOT NULL)" if failures else "[]::VARCHAR[]")
        + ", coalesce(string_split(_rejections, chr(31)), []::VARCHAR[])) AS _cast_failures, ? AS _load_id "
        "FROM raw_part"
    )
