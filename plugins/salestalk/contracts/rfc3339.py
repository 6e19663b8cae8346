"""Strict RFC 3339 ``date-time`` (always with an offset) and ``full-date`` checks.

Stricter than RFC 3339 in two documented ways, because no Python or warehouse timestamp can hold the
value: year 0000 and leap seconds (``:60``) are rejected. Lower-case ``t``/``z`` are accepted (RFC 3339
section 5.6 allows them); a space separator, a missing offset and any out-of-range field are not.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

_DATE = r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.[0-9]+)?"
_OFFSET = r"(?P<offset>[Zz]|[+-](?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
_DATE_TIME_RE = re.compile(f"{_DATE}[Tt]{_TIME}{_OFFSET}", re.ASCII)
_FULL_DATE_RE = re.compile(_DATE, re.ASCII)
_WITHOUT_OFFSET_RE = re.compile(f"{_DATE}[Tt ]{_TIME}", re.ASCII)
_DATE_TIME_SHAPE = "YYYY-MM-DDTHH:MM:SS[.fraction] followed by Z or ±HH:MM"


def check_date_time(value: str) -> None:
    """Raise ValueError saying why ``value`` is not an RFC 3339 date-time with offset."""
    match = _DATE_TIME_RE.fullmatch(value)
    if match is None:
        raise ValueError(_date_time_shape_problem(value))
    _check_date(int(match["year"]), int(match["month"]), int(match["day"]))
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    if second == 60:
        raise ValueError("leap seconds (:60) are not supported")
    try:
        dt.time(hour, minute, second)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if match["offset_hour"] is not None:
        _check_offset(int(match["offset_hour"]), int(match["offset_minute"]))


def check_full_date(value: str) -> None:
    """Raise ValueError saying why ``value`` is not an RFC 3339 full-date (``YYYY-MM-DD``)."""
    match = _FULL_DATE_RE.fullmatch(value)
    if match is None:
        raise ValueError("not in the form YYYY-MM-DD")
    _check_date(int(match["year"]), int(match["month"]), int(match["day"]))


def is_date_time(value: str) -> bool:
    return _passes(check_date_time, value)


def is_full_date(value: str) -> bool:
    return _passes(check_full_date, value)


def _passes(check: Callable[[str], None], value: str) -> bool:
    try:
        check(value)
    except ValueError:
        return False
    return True


def _date_time_shape_problem(value: str) -> str:
    if _WITHOUT_OFFSET_RE.fullmatch(value):
        if value[10] == " ":
            return f"date and time must be separated by 'T', not a space ({_DATE_TIME_SHAPE})"
        return f"missing UTC offset ({_DATE_TIME_SHAPE})"
    return f"not in the form {_DATE_TIME_SHAPE}"


def _check_date(year: int, month: int, day: int) -> None:
    if year == 0:
        raise ValueError("year 0000 is not supported")
    try:
        dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


def _check_offset(hours: int, minutes: int) -> None:
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset {hours:02d}:{minutes:02d} is out of range (at most 23:59)")
