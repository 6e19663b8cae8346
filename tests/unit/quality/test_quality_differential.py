"""Differential test: DuckDB SQL row verdicts must equal what real GX reports, row by row."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from salestalk.quality import sql
from salestalk.quality.suite import Suite, load_suite, parse_suite, suite_path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DEALS = load_suite(suite_path("deals"))
EMAIL = next(e.kwargs["regex"] for e in DEALS.expectations if "regex" in e.kwargs)
STAGES = next(
    e.kwargs["value_set"] for e in DEALS.expectations if e.column == "stage" and "value_set" in e.kwargs
)
WEIRD = [
    "",
    " ",
    "\n",
    "\x00",
    "é",
    "e\u0301",
    "😀",
    "NULL",
    "None",
    "nan",
    "x'); drop table t; --",
    "\u2028",
]

COLUMNS = [
    "deal_id",
    "account_name",
    "stage",
    "amount",
    "currency",
    "owner_email",
    "close_date",
    "updated_at",
]

text = st.text(max_size=12)


def mostly(valid: st.SearchStrategy, dirty: st.SearchStrategy) -> st.SearchStrategy:
    """Valid five times out of six, so that rows pass as well as fail (and boundaries are hit both ways)."""
    return st.integers(0, 5).flatmap(lambda k: dirty if k == 5 else valid)


def near_misses(values: list[str]) -> st.SearchStrategy[str]:
    misses = [v for s in values for v in (s.upper(), s.title(), f" {s}", f"{s} ", f"{s}\n", s[:-1])]
    return st.one_of(st.sampled_from(misses), st.sampled_from(WEIRD), text)


good_emails = st.one_of(
    st.from_regex(EMAIL, fullmatch=True).map(lambda e: e[:60]),
    st.sampled_from(["a@b.co", "rep@salestalk.io", "x.y+z@ex-ample.com", "a@b.co\n", "x a@b.co"]),
)
bad_emails = st.one_of(
    st.sampled_from(
        ["bad", "@b.co", "a@b", "a@b.c", "a@@b.co", "é@b.co", "a@b.c0m", "a@b.co\n\n", "a@b.co ", "a@b.\nco"]
    ),
    st.emails().map(lambda e: e[:60]),
    st.sampled_from(WEIRD),
    text,
)
good_amounts = st.one_of(
    st.sampled_from([0.0, -0.0, 10_000_000.0, 5e-324, 9_999_999.999999, 1.0]),
    st.floats(min_value=0, max_value=10_000_000),
)
bad_amounts = st.one_of(
    st.sampled_from([-5e-324, -1.0, 10_000_000.000001, 1e300, float("inf"), float("-inf"), float("nan")]),
    st.floats(max_value=-1e-9),
    st.floats(min_value=10_000_000.0000001),
    st.none(),
)
row = st.fixed_dictionaries(
    {
        "deal_id": mostly(st.text(max_size=8), st.none()),
        "account_name": st.one_of(st.none(), text),
        "stage": mostly(st.sampled_from(list(STAGES)), st.one_of(st.none(), near_misses(list(STAGES)))),
        "amount": mostly(good_amounts, bad_amounts),
        "currency": mostly(
            st.sampled_from(["USD", "EUR", "GBP"]), st.one_of(st.none(), near_misses(["USD", "EUR", "GBP"]))
        ),
        "owner_email": mostly(st.one_of(good_emails, st.none()), bad_emails),
        "close_date": st.one_of(
            st.none(), st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 1, 1))
        ),
        "updated_at": mostly(st.datetimes(timezones=st.just(dt.UTC)), st.none()),
    }
)


def frame(rows: list[dict]) -> pd.DataFrame:
    columns = {name: [r[name] for r in rows] for name in COLUMNS}
    return pd.DataFrame(
        {
            "_row_num": pd.Series(range(len(rows)), dtype="int64"),
            **{
                c: pd.Series(columns[c], dtype="str")
                for c in ("deal_id", "account_name", "stage", "currency", "owner_email")
            },
            "amount": pd.Series(columns["amount"], dtype="float64"),
            "close_date": pd.Series(columns["close_date"], dtype="object"),
            "updated_at": pd.to_datetime(pd.Series(columns["updated_at"], dtype="object"), utc=True),
        }
    )


def sql_verdicts(df: pd.DataFrame, suite: Suite, *, via_arrow: bool = False) -> dict[int, list[str]]:
    con = duckdb.connect()
    try:
        con.register("batch", pa.Table.from_pandas(df, preserve_index=False) if via_arrow else df)
        result = sql.split(con, "batch", suite)
    finally:
        con.close()
    assert result.failures is not None
    return result.failures


@pytest.fixture(scope="module")
def gx_row_verdicts():
    from salestalk.quality.gx_runner import gx_context, gx_row_verdicts

    gx_context()
    return gx_row_verdicts


def test_fixed_frame_agrees(gx_row_verdicts) -> None:
    rows = [
        {"deal_id": "d1", "account_name": "a", "stage": "prospecting", "amount": 0.0, "currency": "USD",
         "owner_email": "a@b.co", "close_date": dt.date(2024, 1, 1), "updated_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)},
        {"deal_id": None, "account_name": None, "stage": "Prospecting", "amount": 10_000_000.01, "currency": "usd",
         "owner_email": "a@b.co\n", "close_date": None, "updated_at": None},
        {"deal_id": "d3", "account_name": "é", "stage": None, "amount": float("nan"), "currency": None,
         "owner_email": "é@b.co", "close_date": dt.date(2024, 1, 3), "updated_at": dt.datetime(2024, 1, 3, tzinfo=dt.UTC)},
    ]  # fmt: skip
    df = frame(rows)
    expected = {
        1: [
            "expect_column_values_to_not_be_null(deal_id)",
            "expect_column_values_to_not_be_null(updated_at)",
            "expect_column_values_to_be_between(amount)",
            "expect_column_values_to_be_in_set(stage)",
            "expect_column_values_to_be_in_set(currency)",
        ],
        2: [
            "expect_column_values_to_not_be_null(stage)",
            "expect_column_values_to_not_be_null(amount)",
            "expect_column_values_to_not_be_null(currency)",
            "expect_column_values_to_match_regex(owner_email)",
        ],
    }
    assert gx_row_verdicts(df, DEALS) == expected
    assert sql_verdicts(df, DEALS) == expected
    assert sql_verdicts(df, DEALS, via_arrow=True) == expected


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@example(rows=[])
@given(rows=st.lists(row, max_size=25))
def test_sql_verdicts_equal_gx_verdicts(gx_row_verdicts, rows: list[dict]) -> None:
    df = frame(rows)
    from_gx = gx_row_verdicts(df, DEALS)
    from_sql = sql_verdicts(df, DEALS)
    assert from_sql.keys() == from_gx.keys()
    for row_num, reasons in from_gx.items():
        assert from_sql[row_num] == reasons, (row_num, df.iloc[row_num].to_dict())


@settings(max_examples=5, deadline=None)
@given(
    rows=st.lists(row, min_size=1, max_size=10),
    drop=st.sets(st.sampled_from(["amount", "owner_email", "stage"])),
)
def test_missing_columns_are_skipped_by_both(gx_row_verdicts, rows: list[dict], drop: set[str]) -> None:
    df = frame(rows).drop(columns=sorted(drop))
    assert sql_verdicts(df, DEALS) == gx_row_verdicts(df, DEALS)


OTHER_SOURCES = {
    "calls": {
        "call_id": mostly(text, st.none()),
        "deal_id": mostly(text, st.none()),
        "rep_email": st.one_of(st.none(), text),
        "duration_seconds": mostly(
            st.one_of(st.sampled_from([0, 14_400]), st.integers(0, 14_400)),
            st.one_of(
                st.none(), st.sampled_from([-1, 14_401]), st.integers(min_value=-(2**40), max_value=2**40)
            ),
        ),
        "sentiment": mostly(
            st.one_of(st.sampled_from([-1.0, 1.0, -0.0]), st.floats(-1, 1)),
            st.one_of(
                st.none(), st.sampled_from([-1.0000001, 1.0000001, float("nan"), float("inf")]), st.floats()
            ),
        ),
        "call_date": st.one_of(st.none(), st.dates()),
        "updated_at": mostly(st.datetimes(timezones=st.just(dt.UTC)), st.none()),
    },
    "product_usage": {
        "event_id": mostly(text, st.none()),
        "user_id": mostly(text, st.none()),
        "feature": mostly(
            st.sampled_from(["transcription", "summary", "coaching", "forecast"]),
            st.one_of(st.none(), near_misses(["transcription", "summary", "coaching", "forecast"])),
        ),
        "event_count": mostly(
            st.one_of(st.sampled_from([0, 1_000_000]), st.integers(0, 1_000_000)),
            st.one_of(st.none(), st.sampled_from([-1, 1_000_001])),
        ),
        "usage_date": mostly(st.dates(), st.none()),
        "updated_at": mostly(st.datetimes(timezones=st.just(dt.UTC)), st.none()),
    },
}


INTEGER_COLUMNS = {"duration_seconds", "event_count"}


def typed_frame(columns: dict[str, list]) -> pd.DataFrame:
    """Dtypes as an extract has them: str, nullable Int64, float64, date objects, UTC timestamps."""
    out = {"_row_num": pd.Series(range(len(next(iter(columns.values())))), dtype="int64")}
    for name, values in columns.items():
        if name == "updated_at":
            out[name] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True)
        elif name.endswith("_date"):
            out[name] = pd.Series(values, dtype="object")
        elif name in INTEGER_COLUMNS:
            out[name] = pd.Series(values, dtype="Int64")
        elif name == "sentiment":
            out[name] = pd.Series(values, dtype="float64")
        else:
            out[name] = pd.Series(values, dtype="str")
    return pd.DataFrame(out)


@pytest.mark.parametrize("source", sorted(OTHER_SOURCES))
def test_other_suites_sql_verdicts_equal_gx_verdicts(gx_row_verdicts, source: str) -> None:
    suite = load_suite(suite_path(source))
    columns = OTHER_SOURCES[source]

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(rows=st.lists(st.fixed_dictionaries(columns), min_size=1, max_size=20))
    def check(rows: list[dict]) -> None:
        df = typed_frame({name: [r[name] for r in rows] for name in columns})
        assert sql_verdicts(df, suite) == gx_row_verdicts(df, suite)

    check()


EVERY_ROW_RULE = parse_suite(
    {
        "name": "every_row_rule",
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "s"}},
            {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "s", "value_set": ["a", "", "é"]}},
            {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "s", "min_value": 1, "max_value": 3}},
            {"type": "expect_column_value_lengths_to_be_between",
             "kwargs": {"column": "s", "min_value": 1, "max_value": 3, "strict_min": True, "strict_max": True}},
            {"type": "expect_column_value_lengths_to_equal", "kwargs": {"column": "s", "value": 2}},
            {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "s", "regex": r"\d|\s$"}},
            {"type": "expect_column_values_to_be_null", "kwargs": {"column": "t"}},
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "x", "min_value": -1, "max_value": 1, "strict_min": True, "strict_max": True}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}},
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "x", "value_set": [0, 0.5, -1]}},
        ],
    },
    source="every_row_rule",
)  # fmt: skip


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(
                st.none(),
                st.sampled_from(["a", "ab", "abc", "abcd", "", "é", "e\u0301", "1", "a ", "a\n"]),
                text,
            ),
            st.one_of(st.none(), text),
            st.one_of(
                st.none(), st.sampled_from([-1.0, -0.5, 0.0, -0.0, 0.5, 1.0, float("nan")]), st.floats()
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_every_supported_row_rule_agrees_with_gx(gx_row_verdicts, rows: list[tuple]) -> None:
    df = pd.DataFrame(
        {
            "_row_num": pd.Series(range(len(rows)), dtype="int64"),
            "s": pd.Series([r[0] for r in rows], dtype="str"),
            "t": pd.Series([r[1] for r in rows], dtype="str"),
            "x": pd.Series([r[2] for r in rows], dtype="float64"),
        }
    )
    assert sql_verdicts(df, EVERY_ROW_RULE) == gx_row_verdicts(df, EVERY_ROW_RULE)
