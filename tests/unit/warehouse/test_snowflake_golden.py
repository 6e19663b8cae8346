"""Golden tests: the Snowflake SQL that the one rule compiler and the one insight query generate.

A change to the generated text shows up here as a diff to review. ``UPDATE_GOLDEN=1 pytest <this file>``
rewrites the files after a deliberate change. Every golden predicate must also parse as Snowflake SQL,
and every rule type used by any suite must appear in a golden file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from salestalk.config.loader import load_sources
from salestalk.insights import summary_sql
from salestalk.pii import landed_suite
from salestalk.quality.sql import compile_row_rules
from salestalk.quality.suite import load_suite, parse_suite, suite_path
from salestalk.warehouse.dialect import SNOWFLAKE
from salestalk.warehouse.tables import BATCH_ROWS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SUITES_DIR = suite_path("x").parent


# Every row-rule type the compiler supports, on columns of each config type.
EVERY_ROW_RULE = {
    "name": "every_row_rule",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "s"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "f"}},
        {"type": "expect_column_values_to_be_null", "kwargs": {"column": "i"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "f", "min_value": 0, "max_value": 1}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "i", "min_value": 1, "strict_min": True}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "d", "min_value": "2020-01-01", "max_value": "2030-12-31"}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "s", "value_set": ["a", "b"]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "i", "value_set": []}},
        {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "s", "value_set": ["x"]}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "^[a-z]+@[a-z]+$"}},
        {"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "s", "regex": "[0-9]"}},
        {"type": "expect_column_value_lengths_to_be_between",
         "kwargs": {"column": "s", "min_value": 1, "max_value": 3}},
        {"type": "expect_column_value_lengths_to_equal", "kwargs": {"column": "s", "value": 2}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "s"}},
    ],
}  # fmt: skip
EVERY_TYPE = {"s": "string", "i": "integer", "f": "float", "d": "date"}


def rules_text(suite, types: dict[str, str], title: str) -> str:
    """Each row rule of ``suite``: its reason, bound values and Snowflake predicate."""
    rules, _ = compile_row_rules(suite, BATCH_ROWS, types, SNOWFLAKE)
    blocks = [
        f"-- {r.reason}\n-- params: {json.dumps(list(r.params), default=str)}\n{r.condition};\n"
        for r in rules
    ]
    return f"-- {title}, compiled for Snowflake.\n\n" + "\n".join(blocks)


def source_rules_text(source) -> str:
    suite = landed_suite(load_suite(suite_path(source.expectation_suite)), source.table_schema.pii)
    types = {c.name: c.type for c in source.table_schema.columns}
    return rules_text(suite, types, f"Row rules of suite {source.expectation_suite!r} as landed")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert text == path.read_text(encoding="utf-8"), f"generated Snowflake SQL differs from {path}"


def golden_sources():
    configs = load_sources().configs
    by_suite = {c.expectation_suite: c for c in configs.values()}
    names = sorted(
        p.name.removesuffix(".snowflake.sql").removeprefix("rules.") for p in GOLDEN.glob("rules.*")
    )
    return [pytest.param(by_suite.get(n), id=n) for n in names if n != "every_row_rule"]


@pytest.mark.parametrize("source", golden_sources())
def test_suite_rule_sql_matches_its_golden_file(source) -> None:
    assert source is not None, "a golden file names a suite no source uses any more; delete it"
    check_golden(f"rules.{source.expectation_suite}.snowflake.sql", source_rules_text(source))


def test_every_supported_rule_type_matches_its_golden_file() -> None:
    suite = parse_suite(EVERY_ROW_RULE, source="every_row_rule")
    check_golden(
        "rules.every_row_rule.snowflake.sql", rules_text(suite, EVERY_TYPE, "Every supported row rule")
    )


def test_every_golden_predicate_parses_as_snowflake() -> None:
    import sqlglot

    predicates = [
        block.strip().rstrip(";")
        for path in GOLDEN.glob("rules.*.snowflake.sql")
        for block in path.read_text().split("\n\n")[1:]
    ]
    assert predicates
    for predicate in predicates:
        condition = "\n".join(line for line in predicate.splitlines() if not line.startswith("--"))
        sqlglot.parse_one(f"SELECT 1 FROM {SNOWFLAKE.ident(BATCH_ROWS)} WHERE {condition}", read="snowflake")


def test_every_rule_type_in_every_suite_has_a_golden_example() -> None:
    used = {
        exp["type"]
        for path in SUITES_DIR.glob("*.json")
        for exp in json.loads(path.read_text())["expectations"]
        if exp["kwargs"].get("column") is not None and exp["type"] != "expect_column_to_exist"
    }
    golden = (GOLDEN / "rules.every_row_rule.snowflake.sql").read_text()
    assert used, "the suites use row rules"
    missing = sorted(t for t in used if f"-- {t}(" not in golden)
    assert not missing, f"rule types with no golden Snowflake SQL: {missing}"


def test_insight_summary_sql_matches_its_golden_file() -> None:
    text = summary_sql("snowflake")
    assert text.count("?") == 5, "the five values stay bound"
    check_golden("insight_summary.snowflake.sql", text + "\n")
