from __future__ import annotations

import re
from typing import Any

import duckdb
import pytest

from salestalk.quality import sql
from salestalk.quality.suite import SuiteError, load_suite, parse_suite, suite_path
from salestalk.warehouse.dialect import DUCKDB
from tests.support.sources import configs

INJECTION = "x'); drop table t; --"


def make_suite(*expectations: tuple[str, dict[str, Any]]) -> Any:
    return parse_suite(
        {"name": "t", "expectations": [{"type": t, "kwargs": kw, "meta": {}} for t, kw in expectations]},
        source="t.json",
    )


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def table(con: duckdb.DuckDBPyConnection, ddl: str, rows: list[tuple]) -> str:
    con.execute(f"CREATE OR REPLACE TABLE t (_row_num INTEGER, {ddl})")
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO t VALUES (?, {marks})", [(i, *r) for i, r in enumerate(rows)])
    return "t"


def failing(con: duckdb.DuckDBPyConnection, suite: Any, relation: str = "t") -> dict[int, list[str]]:
    result = sql.split(con, relation, suite)
    assert result.failures is not None
    assert result.failing == len(result.failures)
    assert result.passing == result.rows - result.failing
    return result.failures


def test_not_null_flags_null_and_float_nan(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "a VARCHAR, f DOUBLE", [("x", 1.0), (None, float("nan")), ("", None)])
    suite = make_suite(
        ("expect_column_values_to_not_be_null", {"column": "a"}),
        ("expect_column_values_to_not_be_null", {"column": "f"}),
    )
    assert failing(con, suite) == {
        1: ["expect_column_values_to_not_be_null(a)", "expect_column_values_to_not_be_null(f)"],
        2: ["expect_column_values_to_not_be_null(f)"],
    }


def test_be_null(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "a VARCHAR", [("x",), (None,)])
    assert failing(con, make_suite(("expect_column_values_to_be_null", {"column": "a"}))) == {
        0: ["expect_column_values_to_be_null(a)"]
    }


@pytest.mark.parametrize(
    ("kwargs", "expected_failing"),
    [
        ({"min_value": 0, "max_value": 10}, {0, 4, 5}),
        ({"min_value": 0, "max_value": 10, "strict_min": True}, {0, 1, 4, 5}),
        ({"min_value": 0, "max_value": 10, "strict_max": True}, {0, 3, 4, 5}),
        ({"min_value": 0, "max_value": 10, "strict_min": True, "strict_max": True}, {0, 1, 3, 4, 5}),
        ({"min_value": 0}, {0}),
        ({"max_value": 10}, {4, 5}),
        ({"min_value": 0.0, "max_value": 10.0}, {0, 4, 5}),
    ],
)
def test_between_bounds_and_strictness_nulls_and_nan_pass(
    con: duckdb.DuckDBPyConnection, kwargs: dict, expected_failing: set[int]
) -> None:
    values = [-0.5, 0.0, 5.0, 10.0, 10.000001, float("inf"), None, float("nan")]
    table(con, "v DOUBLE", [(v,) for v in values])
    suite = make_suite(("expect_column_values_to_be_between", {"column": "v", **kwargs, "mostly": 0.1}))
    assert set(failing(con, suite)) == expected_failing


def test_between_on_integers(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "duration_seconds BIGINT", [(-1,), (0,), (14400,), (14401,), (None,)])
    suite = load_suite(suite_path("calls"))
    only = make_suite(
        *[(e.type, dict(e.kwargs)) for e in suite.expectations if e.column == "duration_seconds"][1:]
    )
    assert set(failing(con, only)) == {0, 3}


def test_in_set_nulls_pass_and_matching_is_exact(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "c VARCHAR", [("USD",), ("usd",), (" USD",), (None,), ("",), (INJECTION,)])
    suite = make_suite(
        ("expect_column_values_to_be_in_set", {"column": "c", "value_set": ["USD", "EUR", None]})
    )
    assert set(failing(con, suite)) == {1, 2, 4, 5}


def test_injection_looking_values_are_bound_not_spliced(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "c VARCHAR", [(INJECTION,), ("a",)])
    suite = make_suite(
        (
            "expect_column_values_to_be_in_set",
            {"column": "c", "value_set": [INJECTION, "'; DROP TABLE t; --"]},
        ),
        ("expect_column_values_to_not_match_regex", {"column": "c", "regex": "'; drop table t; --"}),
    )
    query, params = sql.row_failure_query("t", suite)
    assert "drop" not in query.lower()
    assert INJECTION in params
    assert failing(con, suite) == {1: ["expect_column_values_to_be_in_set(c)"]}
    assert con.execute("SELECT count(*) FROM t").fetchall()[0][0] == 2


def test_not_in_set_and_empty_sets(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "c VARCHAR", [("a",), ("b",), (None,)])
    assert set(
        failing(
            con, make_suite(("expect_column_values_to_not_be_in_set", {"column": "c", "value_set": ["a"]}))
        )
    ) == {0}
    assert (
        failing(con, make_suite(("expect_column_values_to_not_be_in_set", {"column": "c", "value_set": []})))
        == {}
    )
    assert set(
        failing(con, make_suite(("expect_column_values_to_be_in_set", {"column": "c", "value_set": []})))
    ) == {0, 1}


def test_regex_is_an_unanchored_python_search(con: duckdb.DuckDBPyConnection) -> None:
    values = ["a@b.co", "x a@b.co y", "a@b.co\n", "a@b.co\n\n", "A@B.CO", "é@b.co", None, "a\nb@c.de"]
    table(con, "e VARCHAR", [(v,) for v in values])
    for pattern in [r"@", r"^[a-z]+@[a-z]+\.[a-z]{2,}$", r"\S+@\S+", r"b\.co$", r"^\w@"]:
        suite = make_suite(("expect_column_values_to_match_regex", {"column": "e", "regex": pattern}))
        expected = {i for i, v in enumerate(values) if v is not None and not re.search(pattern, v)}
        assert set(failing(con, suite)) == expected, pattern
        negated = make_suite(("expect_column_values_to_not_match_regex", {"column": "e", "regex": pattern}))
        expected = {i for i, v in enumerate(values) if v is not None and re.search(pattern, v)}
        assert set(failing(con, negated)) == expected, pattern


def test_regex_that_duckdb_cannot_reproduce_is_rejected_with_file_and_index() -> None:
    suite = make_suite(
        ("expect_column_values_to_not_be_null", {"column": "e"}),
        ("expect_column_values_to_match_regex", {"column": "e", "regex": r"(?<=@)x"}),
    )
    with pytest.raises(SuiteError, match=r"t\.json: expectations\[1\]: .*lookahead/lookbehind"):
        sql.row_failure_query("t", suite)


def test_value_lengths_count_code_points(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "s VARCHAR", [("ab",), ("abc",), ("e\u0301",), ("😀😀😀",), ("",), (None,)])
    between = make_suite(
        ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 1, "max_value": 2})
    )
    assert set(failing(con, between)) == {1, 3, 4}
    equal = make_suite(("expect_column_value_lengths_to_equal", {"column": "s", "value": 3}))
    assert set(failing(con, equal)) == {0, 2, 4}


def test_unique_flags_every_duplicate(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "k VARCHAR", [("a",), ("b",), ("a",), (None,), (None,)])
    assert set(failing(con, make_suite(("expect_column_values_to_be_unique", {"column": "k"})))) == {0, 2}


def test_reasons_list_all_failed_rules_in_suite_order(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "a DOUBLE, c VARCHAR", [(-1.0, "x"), (1.0, "USD")])
    suite = make_suite(
        ("expect_column_values_to_be_in_set", {"column": "c", "value_set": ["USD"]}),
        ("expect_table_row_count_to_be_between", {"min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "a", "min_value": 0}),
        ("expect_column_values_to_be_between", {"column": "a", "max_value": -5}),
    )
    assert failing(con, suite) == {
        0: [
            "expect_column_values_to_be_in_set(c)",
            "expect_column_values_to_be_between(a)",
            "expect_column_values_to_be_between(a)#2",
        ],
        1: ["expect_column_values_to_be_between(a)#2"],
    }
    result = sql.split(con, "t", suite)
    assert result.rule_failures == {
        "expect_column_values_to_be_in_set(c)": 1,
        "expect_column_values_to_be_between(a)": 1,
        "expect_column_values_to_be_between(a)#2": 2,
    }


def test_row_failure_query_shape_uses_the_row_id_column(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE staged AS SELECT range AS _record_num, range * 10.0 AS amount FROM range(5)")
    suite = make_suite(("expect_column_values_to_be_between", {"column": "amount", "max_value": 20}))
    query, params = sql.row_failure_query("staged", suite, row_id_column="_record_num")
    rows = con.execute(f"SELECT * FROM ({query}) ORDER BY 1", params).fetchall()
    assert rows == [
        (3, ["expect_column_values_to_be_between(amount)"]),
        (4, ["expect_column_values_to_be_between(amount)"]),
    ]
    assert [d[0] for d in con.execute(query, params).description] == ["_record_num", "reasons"]


@pytest.mark.parametrize("bad", ['a"; drop table t; --', "1abc", "a b", "", "a.b.c.d"])
def test_identifiers_are_validated(bad: str) -> None:
    suite = make_suite(("expect_column_values_to_not_be_null", {"column": "a"}))
    with pytest.raises(ValueError, match="unsafe SQL identifier|invalid relation name"):
        sql.row_failure_query(bad, suite)
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        sql.row_failure_query("t", suite, row_id_column=bad or "1")
    with pytest.raises(SuiteError, match=r"expectations\[0\].*unsafe SQL identifier"):
        sql.row_failure_query(
            "t", make_suite(("expect_column_values_to_not_be_null", {"column": bad or "1"}))
        )


def test_schema_qualified_relation(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA staging")
    con.execute("CREATE TABLE staging.deals AS SELECT 0 AS _row_num, NULL::VARCHAR AS a")
    suite = make_suite(("expect_column_values_to_not_be_null", {"column": "a"}))
    assert sql.split(con, "staging.deals", suite).failures == {0: ["expect_column_values_to_not_be_null(a)"]}


def test_missing_column_skips_the_rule_and_reports_it_as_a_table_failure(
    con: duckdb.DuckDBPyConnection,
) -> None:
    table(con, "deal_id VARCHAR, stage VARCHAR", [("d1", "bogus"), (None, "qualified")])
    suite = load_suite(suite_path("deals"))
    rules = sql.applicable_row_rules(suite, ["_row_num", "deal_id", "stage"])
    assert {e.column for _, e in rules.applicable} == {"deal_id", "stage"}
    assert {e.column for _, e in rules.skipped} == {"amount", "currency", "updated_at", "owner_email"}

    result = sql.split(con, "t", suite)
    assert result.failures == {
        0: ["expect_column_values_to_be_in_set(stage)"],
        1: ["expect_column_values_to_not_be_null(deal_id)"],
    }
    assert "expect_column_values_to_be_between(amount)" in result.skipped_rules

    checks = {c.reason: c for c in sql.table_checks(con, "t", suite)}
    skipped = checks["expect_column_values_to_be_between(amount)"]
    assert (skipped.success, skipped.columns, skipped.observed) == (
        False,
        ("amount",),
        {"missing_columns": ["amount"]},
    )
    drift = checks["expect_table_columns_to_match_set"]
    assert not drift.success
    assert drift.details["missing"] == sorted(
        ["account_name", "amount", "close_date", "currency", "owner_email", "updated_at"]
    )
    assert drift.details["unexpected"] == ["_row_num"]
    assert "expect_column_values_to_not_be_null(deal_id)" not in checks


def test_row_failure_query_without_columns_compiles_every_rule() -> None:
    suite = load_suite(suite_path("deals"))
    query, params = sql.row_failure_query("t", suite)
    assert query.count("CASE WHEN") == len(suite.row_level())
    partial, _ = sql.row_failure_query("t", suite, columns={"_row_num": "BIGINT", "amount": "DOUBLE"})
    assert partial.count("CASE WHEN") == 2
    assert "isnan" in partial


def test_no_applicable_rules_yields_no_rows(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "x INTEGER", [(1,)])
    result = sql.split(con, "t", load_suite(suite_path("deals")))
    assert (result.rows, result.failing, result.failures) == (1, 0, {})


def test_split_without_row_id_column_explains(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE n AS SELECT 1 AS a")
    with pytest.raises(ValueError, match="no row id column '_row_num'"):
        sql.split(con, "n", make_suite(("expect_column_values_to_not_be_null", {"column": "a"})))


def test_split_collect_limit_and_materialize(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TABLE big AS SELECT range AS _row_num, CASE WHEN range % 10 = 0 THEN NULL ELSE 'x' END AS a, "
        "(range % 7)::DOUBLE AS v FROM range(20000)"
    )
    suite = make_suite(
        ("expect_column_values_to_not_be_null", {"column": "a"}),
        ("expect_column_values_to_be_between", {"column": "v", "max_value": 5}),
    )
    small = sql.split(con, "big", suite, collect_limit=100)
    assert small.failures is None
    expected_failing = sum(1 for i in range(20000) if i % 10 == 0 or i % 7 == 6)
    assert (small.rows, small.failing) == (20000, expected_failing)

    result = sql.materialize_verdicts(con, "big", suite, "big_verdicts")
    assert (result.rows, result.failing, result.passing) == (small.rows, small.failing, small.passing)
    assert result.rule_failures == small.rule_failures
    assert result.verdicts_table == "big_verdicts"
    sql.table_checks(con, "big", make_suite(("expect_table_row_count_to_equal", {"value": 20000})))
    assert con.sql("SELECT 1").fetchall() == [(1,)], "a DuckDB 2 result was left unfinished"
    assert con.execute("SELECT reasons FROM big_verdicts WHERE _row_num = 20").fetchall()[0][0] == [
        "expect_column_values_to_not_be_null(a)",
        "expect_column_values_to_be_between(v)",
    ]


def test_table_checks(con: duckdb.DuckDBPyConnection) -> None:
    table(con, "a INTEGER, b VARCHAR", [(1, "x"), (2, "y")])
    suite = make_suite(
        ("expect_table_columns_to_match_set", {"column_set": ["_row_num", "a", "b"]}),
        ("expect_table_columns_to_match_set", {"column_set": ["a", "b", "c"], "exact_match": False}),
        ("expect_table_columns_to_match_set", {"column_set": ["a"], "exact_match": False}),
        ("expect_table_columns_to_match_set", {"column_set": ["a"], "exact_match": True}),
        ("expect_table_columns_to_match_ordered_list", {"column_list": ["_row_num", "a", "b"]}),
        ("expect_table_columns_to_match_ordered_list", {"column_list": ["_row_num", "b", "a"]}),
        ("expect_column_to_exist", {"column": "b"}),
        ("expect_column_to_exist", {"column": "b", "column_index": 2}),
        ("expect_column_to_exist", {"column": "b", "column_index": 1}),
        ("expect_column_to_exist", {"column": "zz"}),
        ("expect_table_row_count_to_be_between", {"min_value": 0, "max_value": 2}),
        ("expect_table_row_count_to_be_between", {"min_value": 2, "strict_min": True}),
        ("expect_table_row_count_to_equal", {"value": 2}),
        ("expect_table_column_count_to_equal", {"value": 3}),
    )
    checks = sql.table_checks(con, "t", suite)
    assert [c.success for c in checks] == [
        True, False, True, False, True, False, True, True, False, False, True, False, True, True,
    ]  # fmt: skip
    assert [c.index for c in checks] == list(range(14))
    assert checks[1].details == {"unexpected": ["_row_num"], "missing": ["c"]}
    assert checks[5].details["mismatched"] == [
        {"position": 1, "expected": "b", "found": "a"},
        {"position": 2, "expected": "a", "found": "b"},
    ]
    assert checks[10].observed == 2
    assert checks[0].observed == ["_row_num", "a", "b"]


@pytest.mark.parametrize("source", sorted(configs().values(), key=lambda c: c.name), ids=lambda c: c.name)
def test_committed_suites_compile_against_their_own_columns(con: duckdb.DuckDBPyConnection, source) -> None:
    """Every source's suite compiles against a table of its columns, typed as the source's schema says."""
    suite = load_suite(suite_path(source.expectation_suite))
    types = {c.name: DUCKDB.column_type(c.type) for c in source.table_schema.columns}
    columns = next(e for e in suite.expectations if e.type == "expect_table_columns_to_match_set")
    ddl = ", ".join(f'"{c}" {types.get(c, "VARCHAR")}' for c in columns.kwargs["column_set"])
    con.execute(f"CREATE OR REPLACE TABLE t (_row_num INTEGER, {ddl})")
    assert sql.split(con, "t", suite).rows == 0
    checks = sql.table_checks(con, "t", suite)
    assert [c.type for c in checks if not c.success] == ["expect_table_columns_to_match_set"]
