"""Injected faults: parsing the admin payload and the deterministic record changes they make.

Records are picked by their position in the full (updated_at, pk) ordering of their tenant's
resource (``seq``), never at random, so identical requests get identical answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dev.fakeapi.seed import CURSOR_FIELD, DEMO_TENANTS, ENUM_VALUES, FIELDS, HTTP_RESOURCES, PRIMARY_KEYS

FAULT_MODES: tuple[str, ...] = (
    "server_error",
    "slow",
    "repeated_page",
    "late_records",
    "duplicates",
    "new_column",
    "removed_column",
    "unknown_enum",
    "bad_rows",
    "throttle",
    "clock_skew",
    "duplicate_keys",
)
SERVER_ERROR_STATUSES = (500, 502, 503, 504)
BROKEN_CALL_SECONDS = 99_999
_BROKEN_COLUMNS = {"deals": "amount", "calls": "duration_seconds", "product_usage": "event_count"}


class FaultError(ValueError):
    """An admin fault payload that cannot be applied."""


@dataclass
class Fault:
    mode: str
    options: dict[str, Any]
    resource: str | None = None
    tenant: str | None = None
    matched: int = 0
    fired: int = 0

    def matches(self, resource: str, tenant: str) -> bool:
        return self.resource in (None, resource) and self.tenant in (None, tenant)

    def describe(self) -> dict[str, Any]:
        targets = {"resource": self.resource, "tenant": self.tenant}
        return {"mode": self.mode, **targets, **self.options, "matched": self.matched, "fired": self.fired}

    def fails_now(self) -> bool:
        """For server_error, called once per matching request after ``matched`` was counted."""
        count, every = self.options.get("count"), self.options.get("every")
        if count is not None and self.fired >= count:
            return False
        if every is not None and self.matched % every:
            return False
        self.fired += 1
        return True

    def picks(self, seq: int) -> bool:
        """For the every-n-th-record faults: whether the record at ``seq`` is one of them."""
        return seq % self.options["every"] == self.options["every"] - 1

    def repeats_now(self, page_number: int) -> bool:
        """For repeated_page: serve page 1 instead of page 2, ``count`` times."""
        if page_number != 2 or self.fired >= self.options["count"]:
            return False
        self.fired += 1
        return True


def parse_faults(payload: Any) -> list[Fault]:
    """Faults from an admin payload: one fault object or a list of them."""
    items = payload if isinstance(payload, list) else [payload]
    return [parse_fault(item) for item in items]


def parse_fault(item: Any) -> Fault:
    if not isinstance(item, dict):
        raise FaultError("each fault must be a JSON object with a 'mode'")
    options = dict(item)
    mode = options.pop("mode", None)
    if mode not in FAULT_MODES:
        raise FaultError(f"unknown fault mode {mode!r}; expected one of {list(FAULT_MODES)}")
    resource, tenant = options.pop("resource", None), options.pop("tenant", None)
    if resource is not None and resource not in HTTP_RESOURCES:
        raise FaultError(f"fault resource {resource!r} is not one of {list(HTTP_RESOURCES)}")
    if tenant is not None and tenant not in DEMO_TENANTS:
        raise FaultError(f"fault tenant {tenant!r} is not one of {list(DEMO_TENANTS)}")
    rules = _OPTION_RULES[mode]
    unknown = sorted(set(options) - set(rules))
    if unknown:
        raise FaultError(f"{mode} fault does not take option {unknown[0]!r}; it takes {sorted(rules)}")
    checked = {name: rules[name](name, value) for name, value in options.items()}
    fault = Fault(mode, {**_defaults(mode, checked), **checked}, resource, tenant)
    _check_column(fault)
    return fault


def apply_record_faults(
    faults: list[Fault], resource: str, seq: int, record: dict[str, Any]
) -> dict[str, Any]:
    """A copy of ``record`` as the active faults change it."""
    changed = dict(record)
    for fault in faults:
        change = _RECORD_CHANGES.get(fault.mode)
        if change:
            change(fault, resource, seq, changed)
    return changed


def default_removed_column(resource: str) -> str:
    """The second non-pk field of the resource."""
    return [name for name in FIELDS[resource] if name != PRIMARY_KEYS[resource]][1]


def _defaults(mode: str, given: dict[str, Any]) -> dict[str, Any]:
    if mode == "server_error":
        return {"status": 503, "count": None if "every" in given else 1, "every": None}
    if mode == "throttle":
        return {"retry_after": "86400", "count": None if "every" in given else 1, "every": None}
    return dict(_DEFAULTS.get(mode, {}))


def _check_column(fault: Fault) -> None:
    if fault.mode not in ("removed_column", "unknown_enum", "duplicate_keys"):
        return
    resources = [fault.resource] if fault.resource else list(HTTP_RESOURCES)
    columns_by_resource = ENUM_VALUES if fault.mode == "unknown_enum" else FIELDS
    known = {name for resource in resources for name in columns_by_resource[resource]}
    if not known:
        raise FaultError(f"{fault.resource} has no enum column for an unknown_enum fault")
    column = fault.options["column"]
    if column is not None and column not in known:
        raise FaultError(f"{fault.mode} column {column!r} is not one of {sorted(known)}")


def _int_between(low: int, high: int) -> Callable[[str, Any], int]:
    def check(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FaultError(f"fault option {name!r} must be an integer from {low} to {high}")
        return value

    return check


def _number_between(low: float, high: float) -> Callable[[str, Any], float]:
    def check(name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise FaultError(f"fault option {name!r} must be a number from {low} to {high}")
        return float(value)

    return check


def _status(name: str, value: Any) -> int:
    if value not in SERVER_ERROR_STATUSES or isinstance(value, bool):
        raise FaultError(f"fault option {name!r} must be one of {list(SERVER_ERROR_STATUSES)}")
    return value


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise FaultError(f"fault option {name!r} must be a non-empty string")
    return value


def _json_value(name: str, value: Any) -> Any:
    return value


_OPTION_RULES: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "server_error": {
        "status": _status,
        "count": _int_between(1, 1_000_000),
        "every": _int_between(1, 1_000_000),
    },
    "slow": {"seconds": _number_between(0, 60)},
    "repeated_page": {"count": _int_between(1, 1_000_000)},
    "late_records": {"count": _int_between(1, 1000)},
    "duplicates": {},
    "new_column": {"column": _text, "value": _json_value},
    "removed_column": {"column": _text},
    "unknown_enum": {"column": _text, "value": _text},
    "bad_rows": {"fraction": _number_between(0, 1)},
    "throttle": {
        "retry_after": _text,
        "count": _int_between(1, 1_000_000),
        "every": _int_between(1, 1_000_000),
    },
    "clock_skew": {"at": _text, "every": _int_between(1, 1_000_000)},
    "duplicate_keys": {"column": _text, "every": _int_between(1, 1_000_000)},
}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "slow": {"seconds": 1.0},
    "repeated_page": {"count": 1},
    "late_records": {"count": 5},
    "new_column": {"column": "region", "value": "emea"},
    "removed_column": {"column": None},
    "unknown_enum": {"column": None, "value": "mystery"},
    "bad_rows": {"fraction": 0.1},
    "clock_skew": {"at": "2099-01-01T00:00:00Z", "every": 10},
    "duplicate_keys": {"column": None, "every": 10},
}


def _break_record(fault: Fault, resource: str, seq: int, record: dict[str, Any]) -> None:
    fraction = fault.options["fraction"]
    column = _BROKEN_COLUMNS[resource]
    if int((seq + 1) * fraction) > int(seq * fraction) and isinstance(record.get(column), int | float):
        record[column] = BROKEN_CALL_SECONDS if resource == "calls" else -abs(record[column]) - 1


def _unknown_enum(fault: Fault, resource: str, seq: int, record: dict[str, Any]) -> None:
    enum_columns = list(ENUM_VALUES[resource])
    column = fault.options["column"] or (enum_columns[0] if enum_columns else None)
    if column in enum_columns and seq % 10 == 9:
        record[column] = fault.options["value"]


def _stamp_in_the_future(fault: Fault, resource: str, seq: int, record: dict[str, Any]) -> None:
    if fault.picks(seq):
        record[CURSOR_FIELD] = fault.options["at"]


def repeated_key(faults: list[Fault], resource: str, seq: int) -> str | None:
    """The column the ``duplicate_keys`` fault sends twice in the record at ``seq``, if any."""
    for fault in faults:
        if fault.mode == "duplicate_keys" and fault.picks(seq):
            return fault.options["column"] or _BROKEN_COLUMNS[resource]
    return None


def _remove_column(fault: Fault, resource: str, seq: int, record: dict[str, Any]) -> None:
    record.pop(fault.options["column"] or default_removed_column(resource), None)


def _add_column(fault: Fault, resource: str, seq: int, record: dict[str, Any]) -> None:
    record[fault.options["column"]] = fault.options["value"]


_RECORD_CHANGES: dict[str, Callable[[Fault, str, int, dict[str, Any]], None]] = {
    "bad_rows": _break_record,
    "unknown_enum": _unknown_enum,
    "removed_column": _remove_column,
    "new_column": _add_column,
    "clock_skew": _stamp_in_the_future,
}
