"""DynamoDB item size, counted the way the DynamoDB developer guide documents it.

An item's size is the sum of its attribute names (UTF-8 bytes) and values:

* ``S``: UTF-8 bytes; ``B``: raw bytes; ``BOOL`` and ``NULL``: 1 byte.
* ``N``: 1 byte per two significant digits (leading and trailing zeros trimmed), plus 1 byte,
  plus 1 more for a negative number.
* ``L`` and ``M``: 3 bytes of overhead, plus 1 byte per element, plus the elements (a map element also
  counts its key's UTF-8 bytes).
* ``SS``, ``NS``, ``BS``: the sum of their elements.

The result is an estimate that errs on the large side; callers keep a margin below the 400 KB limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

CONTAINER_OVERHEAD = 3
ELEMENT_OVERHEAD = 1


def dynamodb_item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of an item in low-level attribute-value form (``{"name": {"S": "x"}}``)."""
    return sum(_utf8_len(name) + attribute_value_size(value) for name, value in item.items())


def attribute_value_size(value: Mapping[str, Any]) -> int:
    ((kind, raw),) = value.items()
    if kind == "S":
        return _utf8_len(raw)
    if kind == "N":
        return number_size(raw)
    if kind == "B":
        return _binary_len(raw)
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(_utf8_len(s) for s in raw)
    if kind == "NS":
        return sum(number_size(n) for n in raw)
    if kind == "BS":
        return sum(_binary_len(b) for b in raw)
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(ELEMENT_OVERHEAD + attribute_value_size(v) for v in raw)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(
            ELEMENT_OVERHEAD + _utf8_len(k) + attribute_value_size(v) for k, v in raw.items()
        )
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def number_size(number: str) -> int:
    """``1 + ceil(significant digits / 2)``, plus 1 for a negative number."""
    text = str(number).strip().lower()
    negative = text.startswith("-")
    mantissa = text.lstrip("+-").split("e")[0]
    digits = mantissa.replace(".", "").strip("0") or "0"
    return 1 + (len(digits) + 1) // 2 + (1 if negative else 0)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _binary_len(raw: bytes | bytearray | str) -> int:
    return len(raw) if isinstance(raw, bytes | bytearray) else _utf8_len(raw)
