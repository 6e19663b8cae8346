"""Source values to landed text, a column at a time: Arrow casts, and Python only for the values that need it.

Every configured column lands as UTF-8 text. A value that cannot be, or should not be, loaded as it
came still lands, with a rejection that names its column, so its row is quarantined and its
neighbours are not held up:

- ``invalid_text(col)``: a lone surrogate or invalid UTF-8 (kept with backslash escapes);
- ``non_finite(col)``: NaN or an infinity;
- ``not_scalar(col)``: an object or array where a column value belongs (kept as JSON text);
- ``too_long(col)``: text over :data:`MAX_TEXT_BYTES` (kept as a prefix).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_BYTES = 1 << 20
KEPT_PREFIX_CHARS = 256
Rejections = dict[int, list[str]]


@dataclass
class TextChunk:
    """Rows ready to land: the configured columns as text plus ``_extra_json`` and ``_absent``."""

    table: Any  # pyarrow.Table
    rejections: Rejections = field(default_factory=dict)
    observed: dict[str, int] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return self.table.num_rows


def reject_rows(rejections: Rejections, rows: Any, reason: str) -> None:
    for row in rows:
        reasons = rejections.setdefault(int(row), [])
        if reason not in reasons:
            reasons.append(reason)


def clean_text(value: str) -> tuple[str, bool]:
    """``value`` as valid UTF-8 text, and whether it had to be escaped (lone or smuggled surrogates)."""
    try:
        value.encode("utf-8")
        return value, False
    except UnicodeEncodeError:
        pass
    try:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), True
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8"), True


def json_text(value: Any) -> str:
    """Deterministic JSON text; ASCII-only, so no value can make it invalid UTF-8."""
    return json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def _python_text(values: list[Any], name: str, rejections: Rejections) -> list[str | None]:
    """The slow path, value by value: for columns Arrow cannot take whole (mixed types, bad text)."""
    import pyarrow as pa

    out: list[str | None] = []
    for row, value in enumerate(values):
        if value is None:
            out.append(None)
        elif isinstance(value, str):
            text, escaped = clean_text(value)
            if escaped:
                reject_rows(rejections, [row], f"invalid_text({name})")
            out.append(text)
        elif isinstance(value, bytes | bytearray | memoryview):
            text, escaped = clean_text(bytes(value).decode("utf-8", "surrogateescape"))
            if escaped:
                reject_rows(rejections, [row], f"invalid_text({name})")
            out.append(text)
        elif isinstance(value, dict | list | tuple):
            reject_rows(rejections, [row], f"not_scalar({name})")
            out.append(json_text(value))
        elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            out.append(str(value))
        else:
            try:
                out.append(_arrow_text(pa.array([value]), name, {}).to_pylist()[0])
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                out.append(clean_text(str(value))[0])
            if isinstance(value, float) and not math.isfinite(value):
                reject_rows(rejections, [row], f"non_finite({name})")
    return out


def _timestamp_text(array: Any) -> Any:
    """ISO 8601 like Python's ``isoformat``: ``T`` separator, no zero fraction, ``+00:00`` for UTC."""
    import pyarrow.compute as pc

    text = pc.replace_substring(array.cast("string"), " ", "T", max_replacements=1)
    text = pc.replace_substring_regex(text, r"\.0+(Z?)$", r"\1")
    return pc.replace_substring_regex(text, r"Z$", "+00:00")


def _arrow_text(array: Any, name: str, rejections: Rejections) -> Any:
    """``array`` (any Arrow type) as a string array; raises ArrowException where only Python can help."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_null(kind):
        return pa.nulls(len(array), pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        text = array.cast(pa.binary()).cast(pa.string(), safe=False)
        text.validate(full=True)
        return text
    if pa.types.is_floating(kind):
        bad = pc.or_(pc.is_nan(array), pc.is_inf(array))
        reject_rows(
            rejections, pc.indices_nonzero(pc.fill_null(bad, False)).to_pylist(), f"non_finite({name})"
        )
        return array.cast(pa.float64()).cast(pa.string())
    if pa.types.is_timestamp(kind):
        return _timestamp_text(array)
    if pa.types.is_nested(kind) or pa.types.is_dictionary(kind) and pa.types.is_nested(kind.value_type):
        raise pa.ArrowInvalid(f"{name}: nested values take the Python path")
    if pa.types.is_dictionary(kind):
        return _arrow_text(array.cast(kind.value_type), name, rejections)
    return array.cast(pa.string())


def _limit_length(text: Any, name: str, rejections: Rejections) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.binary_length(text)
    if (pc.max(lengths).as_py() or 0) <= MAX_TEXT_BYTES:
        return text
    long_rows = pc.indices_nonzero(pc.fill_null(pc.greater(lengths, MAX_TEXT_BYTES), False)).to_pylist()
    reject_rows(rejections, long_rows, f"too_long({name})")
    values = text.to_pylist()
    for row in long_rows:
        values[row] = values[row][:KEPT_PREFIX_CHARS]
    return pa.array(values, pa.string())


def column_text(array: Any, name: str, rejections: Rejections) -> Any:
    """One column as landed text, rejecting values per the module docstring."""
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    try:
        text = _arrow_text(array, name, rejections)
    except (pa.ArrowException, TypeError, ValueError):
        text = pa.array(_python_text(array.to_pylist(), name, rejections), pa.string())
    return _limit_length(text, name, rejections)


def values_text(values: list[Any], name: str, rejections: Rejections) -> Any:
    """A column of Python values (a JSON page) as landed text: one Arrow conversion when the types agree."""
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=False)
    except (pa.ArrowException, TypeError, ValueError, OverflowError, UnicodeEncodeError):
        array = None
    if array is None or pa.types.is_floating(array.type) and any(type(v) is bool for v in values):
        # Arrow would read True as 1.0 next to floats; "true" fails the cast instead.
        text = pa.array(_python_text(values, name, rejections), pa.string())
        return _limit_length(text, name, rejections)
    return column_text(array, name, rejections)


def table_chunk(table: Any, columns: list[str]) -> TextChunk:
    """An Arrow table from a file: its columns as text, unknown columns folded into ``_extra_json``."""
    import pyarrow as pa

    rows = table.num_rows
    rejections: Rejections = {}
    repeated = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
    if repeated:  # a header that names a column twice: keep the first, and quarantine every row
        seen: set[str] = set()
        keep = [i for i, n in enumerate(table.column_names) if not (n in seen or seen.add(n))]
        table = table.select(keep)
        for name in repeated:
            if name in columns:
                reject_rows(rejections, range(rows), f"duplicate_key({name})")
    names = set(table.column_names)
    arrays = {
        c: column_text(table[c], c, rejections) if c in names else pa.nulls(rows, pa.string())
        for c in columns
    }
    missing = [c for c in columns if c not in names]
    unknown = [c for c in table.column_names if c not in set(columns)]
    extras = None
    if unknown:
        extra_rows = table.select(unknown).to_pylist()
        extras = [json_text(r) if any(v is not None for v in r.values()) else None for r in extra_rows]
    arrays["_extra_json"] = pa.array(extras, pa.string()) if extras else pa.nulls(rows, pa.string())
    absent = ",".join(missing) if missing else None
    arrays["_absent"] = pa.array([absent] * rows, pa.string()) if absent else pa.nulls(rows, pa.string())
    return TextChunk(pa.table(arrays), rejections, dict.fromkeys(table.column_names, rows))


def records_chunk(
    records: list[Mapping[str, Any]], columns: list[str], rejections: Rejections | None = None
) -> TextChunk:
    """JSON records (a page, a file's lines): a column at a time, unknown fields into ``_extra_json``."""
    import pyarrow as pa

    rejections = {} if rejections is None else rejections
    first = records[0].keys() if records else {}.keys()
    if all(r.keys() == first for r in records):  # the usual page: every record has the same fields
        return _uniform_chunk(records, columns, rejections, list(first))
    arrays = {c: values_text([r.get(c) for r in records], c, rejections) for c in columns}
    observed = {c: n for c in columns if (n := sum(1 for r in records if c in r))}
    known = set(columns)
    extras: list[str | None] = []
    for record in records:
        unknown = {k: v for k, v in record.items() if k not in known}
        for key in unknown:
            observed[key] = observed.get(key, 0) + 1
        extras.append(json_text(unknown) if unknown else None)
    absent = [",".join(c for c in columns if c not in r) or None for r in records]
    arrays["_extra_json"] = pa.array(extras, pa.string())
    arrays["_absent"] = pa.array(absent, pa.string())
    return TextChunk(pa.table(arrays), rejections, observed)


def _uniform_chunk(
    records: list[Mapping[str, Any]], columns: list[str], rejections: Rejections, fields: list[str]
) -> TextChunk:
    import operator

    import pyarrow as pa

    rows = len(records)
    present = set(fields)
    arrays = {
        c: values_text(list(map(operator.itemgetter(c), records)), c, rejections)
        if c in present
        else pa.nulls(rows, pa.string())
        for c in columns
    }
    unknown = [f for f in fields if f not in set(columns)]
    if unknown:
        extras = [json_text({k: r[k] for k in unknown}) for r in records]
        arrays["_extra_json"] = pa.array(extras, pa.string())
    else:
        arrays["_extra_json"] = pa.nulls(rows, pa.string())
    missing = ",".join(c for c in columns if c not in present) or None
    arrays["_absent"] = pa.array([missing] * rows, pa.string()) if missing else pa.nulls(rows, pa.string())
    return TextChunk(pa.table(arrays), rejections, dict.fromkeys(fields, rows))


def map_column(table: Any, name: str, fn: Callable[[str], str | None]) -> Any:
    """``table`` with ``fn`` applied to each non-null value of text column ``name``."""
    import pyarrow as pa

    values = [None if v is None else fn(v) for v in table[name].to_pylist()]
    return table.set_column(table.schema.get_field_index(name), name, pa.array(values, pa.string()))


def malformed_chunk(columns: list[str], locations: list[dict[str, Any]]) -> TextChunk:
    """Rows that could not be read at all: every column NULL, where they came from in ``_extra_json``."""
    import pyarrow as pa

    rows = len(locations)
    arrays = {c: pa.nulls(rows, pa.string()) for c in columns}
    arrays["_extra_json"] = pa.array([json_text(where) for where in locations], pa.string())
    arrays["_absent"] = pa.nulls(rows, pa.string())
    return TextChunk(pa.table(arrays), {n: ["malformed_record"] for n in range(rows)}, {})
