"""The strict RFC 3339 checks, against examples and against an independent datetime-based oracle."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from salestalk.contracts import rfc3339


def oracle_date_time(value: str) -> bool:
    """RFC 3339 date-time decided by datetime's own parser plus an exact round trip, no regex."""
    if not value.isascii() or len(value) < 20 or value[10] not in "Tt":
        return False
    head = value[:10] + "T" + value[11:19]
    try:
        parsed = dt.datetime.fromisoformat(head)
    except ValueError:
        return False
    if parsed.isoformat() != head:
        return False
    rest = value[19:]
    if rest.startswith("."):
        digits = len(rest) - len(rest[1:].lstrip("0123456789")) - 1
        if digits == 0:
            return False
        rest = rest[1 + digits :]
    return oracle_offset(rest)


def oracle_offset(text: str) -> bool:
    if text in ("Z", "z"):
        return True
    if len(text) != 6 or text[0] not in "+-":
        return False
    try:
        with_offset = dt.datetime.fromisoformat("2000-01-01T00:00:00" + text)
    except ValueError:
        return False
    rendered = with_offset.isoformat()[-6:]
    return rendered == text or (text == "-00:00" and rendered == "+00:00")


def oracle_full_date(value: str) -> bool:
    if not value.isascii() or len(value) != 10:
        return False
    try:
        return dt.date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-01T10:00:00Z",
        "2026-11-01T10:00:00.1Z",
        "2026-11-01T10:00:00.123456789+05:30",
        "2026-11-01t10:00:00z",
        "2024-02-29T23:59:59-00:00",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",
    ],
)
def test_valid_date_times(value: str) -> None:
    assert rfc3339.is_date_time(value)
    assert oracle_date_time(value)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-11-01 10:00:00", "separated by 'T', not a space"),
        ("2026-11-01 10:00:00Z", "not in the form"),
        ("2026-11-01T10:00:00", "missing UTC offset"),
        ("2026-13-01T00:00:00Z", "month must be in 1..12"),
        ("2026-02-29T00:00:00Z", "day is out of range for month"),
        ("2026-11-01T24:00:00Z", "hour must be in 0..23"),
        ("2026-11-01T10:60:00Z", "minute must be in 0..59"),
        ("2026-12-31T23:59:60Z", "leap seconds"),
        ("0000-01-01T00:00:00Z", "year 0000"),
        ("2026-11-01T10:00:00+24:00", "out of range"),
        ("2026-11-01T10:00:00+0100", "not in the form"),
        ("2026-11-01T10:00:00.Z", "not in the form"),
        ("2026-11-01T10:00Z", "not in the form"),
        ("2026-11-01T10:00:00Z\n", "not in the form"),
        ("2026-11-0١T10:00:00Z", "not in the form"),
        ("20261101T100000Z", "not in the form"),
        ("", "not in the form"),
    ],
)
def test_invalid_date_times_say_why(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason.replace(".", r"\.").replace("(", r"\(")):
        rfc3339.check_date_time(value)
    assert not oracle_date_time(value)


@pytest.mark.parametrize("value", ["2026-11-01", "2024-02-29", "0001-01-01"])
def test_valid_full_dates(value: str) -> None:
    assert rfc3339.is_full_date(value)


@pytest.mark.parametrize(
    "value", ["2026-02-29", "2026-1-01", "2026-11-01T00:00:00Z", "0000-01-01", "2026-11-01\n"]
)
def test_invalid_full_dates(value: str) -> None:
    assert not rfc3339.is_full_date(value)


def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


FIELD_VARIANTS = {
    "year": st.one_of(
        st.integers(0, 9999).map(lambda n: f"{n:04d}"), st.sampled_from(["999", "10000", "２０２６"])
    ),
    "month": st.one_of(two(0, 13), st.sampled_from(["1", "001"])),
    "day": st.one_of(two(0, 32), st.just("7")),
    "sep": st.sampled_from(["T", "t", " ", "_", ""]),
    "hour": two(0, 25),
    "minute": two(0, 61),
    "second": two(0, 61),
    "fraction": st.one_of(st.just(""), st.from_regex(r"\.[0-9]{0,12}", fullmatch=True), st.just(",5")),
    "offset": st.one_of(
        st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "UTC", "+0100", "+01", "Z\n"]),
        st.builds(lambda s, h, m: f"{s}{h}:{m}", st.sampled_from("+-"), two(0, 25), two(0, 61)),
    ),
}


def render(parts: dict[str, str]) -> str:
    return "{year}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}".format(**parts)


@st.composite
def valid_parts(draw: st.DrawFn) -> dict[str, str]:
    moment = draw(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59))
    )
    offset_minutes = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    sign, magnitude = ("-" if offset_minutes < 0 else "+"), abs(offset_minutes)
    fraction = draw(st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,12}", fullmatch=True)))
    return {
        "year": f"{moment.year:04d}",
        "month": f"{moment.month:02d}",
        "day": f"{moment.day:02d}",
        "sep": draw(st.sampled_from("Tt")),
        "hour": f"{moment.hour:02d}",
        "minute": f"{moment.minute:02d}",
        "second": f"{moment.second:02d}",
        "fraction": fraction,
        "offset": draw(st.sampled_from(["Z", "z", f"{sign}{magnitude // 60:02d}:{magnitude % 60:02d}"])),
    }


@st.composite
def near_date_times(draw: st.DrawFn) -> str:
    """A valid date-time with, half the time, one field swapped for a nearby (often invalid) variant."""
    parts = draw(valid_parts())
    if draw(st.booleans()):
        field = draw(st.sampled_from(sorted(FIELD_VARIANTS)))
        parts[field] = draw(FIELD_VARIANTS[field])
    return render(parts)


@settings(max_examples=400, deadline=None)
@given(st.one_of(near_date_times(), st.text(max_size=40)))
@example("2026-11-01T10:00:00.Z")
@example("2026-11-01T10:00:00+24:00")
def test_date_time_check_agrees_with_the_datetime_oracle(value: str) -> None:
    assert rfc3339.is_date_time(value) == oracle_date_time(value), value


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.builds(
            lambda y, m, d: f"{y}-{m}-{d}",
            st.integers(0, 9999).map(lambda n: f"{n:04d}"),
            two(0, 13),
            two(0, 32),
        ),
        st.text(max_size=12),
    )
)
def test_full_date_check_agrees_with_the_date_oracle(value: str) -> None:
    assert rfc3339.is_full_date(value) == oracle_full_date(value), value
