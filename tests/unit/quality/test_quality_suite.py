from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from salestalk.quality.suite import (
    REPO_ROOT,
    ROW_LEVEL_TYPES,
    TABLE_LEVEL_TYPES,
    SuiteError,
    UnsupportedExpectationError,
    load_suite,
    parse_suite,
    resolve_suite,
    suite_path,
)
from tests.support.sources import configs
from tests.support.subprocesses import REPO_PYTHONPATH

if TYPE_CHECKING:
    from pathlib import Path

# Every suite a source config uses, whatever the sources are called.
SUITES = sorted({c.expectation_suite for c in configs().values()})


def write(tmp_path: Path, doc: object, name: str = "s.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def suite_doc(*expectations: dict) -> dict:
    return {"name": "s", "expectations": list(expectations), "meta": {}}


def test_suite_path_is_under_the_repo_great_expectations_folder() -> None:
    assert REPO_ROOT.joinpath("great_expectations", "expectations", "deals.json") == suite_path("deals")
    assert (REPO_ROOT / "pyproject.toml").is_file()
    with pytest.raises(ValueError, match="invalid source name"):
        suite_path("../etc/passwd")


@pytest.mark.parametrize("source", SUITES)
def test_committed_suites_load_and_only_use_supported_types(source: str) -> None:
    suite = load_suite(suite_path(source))
    assert suite.name == source
    assert suite.row_level() and suite.table_level()
    assert {e.type for e in suite.expectations} <= ROW_LEVEL_TYPES | TABLE_LEVEL_TYPES
    assert all(isinstance(e.meta.get("notes"), str) and e.meta["notes"] for e in suite.expectations)
    assert len(set(suite.reasons)) == len(suite.reasons)
    assert any(e.type == "expect_table_columns_to_match_set" for e in suite.expectations)


def test_deals_rules_match_the_contract() -> None:
    suite = load_suite(suite_path("deals"))
    by_reason = dict(zip(suite.reasons, suite.expectations, strict=True))
    not_null = {e.column for e in suite.expectations if e.type == "expect_column_values_to_not_be_null"}
    assert not_null == {"deal_id", "stage", "amount", "currency", "updated_at"}
    amount = by_reason["expect_column_values_to_be_between(amount)"].kwargs
    assert (amount["min_value"], amount["max_value"]) == (0, 10_000_000)
    assert set(by_reason["expect_column_values_to_be_in_set(currency)"].kwargs["value_set"]) == {
        "USD",
        "EUR",
        "GBP",
    }
    assert len(by_reason["expect_column_values_to_be_in_set(stage)"].kwargs["value_set"]) == 6
    assert by_reason["expect_table_row_count_to_be_between"].kwargs["max_value"] == 1_000_000
    assert by_reason["expect_table_columns_to_match_set"].kwargs.get("exact_match", True) is True


def test_reason_strings_are_type_and_column_and_unique_in_suite_order() -> None:
    suite = parse_suite(
        suite_doc(
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "min_value": 0}},
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "max_value": 9}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        )
    )
    assert suite.reasons == (
        "expect_table_row_count_to_be_between",
        "expect_column_values_to_be_between(a)",
        "expect_column_values_to_be_between(a)#2",
        "expect_column_values_to_not_be_null(a)",
    )
    assert [i for i, _ in suite.row_level()] == [1, 2, 3]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"nope\.json: cannot read suite file"):
        load_suite(tmp_path / "nope.json")


def test_malformed_json_names_the_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path, '{"name": "s", "expectations": [\n  {"type": }\n]}', "broken.json")
    with pytest.raises(SuiteError, match=r"broken\.json: malformed JSON: .*line 2, column 12") as info:
        load_suite(path)
    assert info.value.source == str(path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "top level must be a JSON object"),
        ({"expectations": []}, "missing or empty 'name'"),
        ({"name": "s", "expectations": {}}, "'expectations' must be a list"),
    ],
)
def test_malformed_top_level(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(SuiteError, match=message):
        load_suite(write(tmp_path, doc))


def test_unsupported_type_names_file_and_index(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        suite_doc(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {"type": "expect_column_kl_divergence_to_be_less_than", "kwargs": {"column": "a"}},
        ),
        "deals.json",
    )
    with pytest.raises(UnsupportedExpectationError) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: expectations[1]: unsupported expectation type")
    assert info.value.index == 1


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        ("not an object", "expectation must be a JSON object"),
        ({"kwargs": {}}, "missing expectation 'type'"),
        ({"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {}}, "GX 0.x key"),
        ({"type": "expect_column_values_to_not_be_null", "kwargs": []}, "'kwargs' must be an object"),
        (
            {"type": "expect_column_values_to_not_be_null", "kwargs": {}},
            r"missing required kwargs \['column'\]",
        ),
        ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "a"}}, "cannot both be null"),
        (
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "a", "value_set": "USD"}},
            "must be a list",
        ),
        (
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "a", "row_condition": "b > 1"},
            },
            r"unsupported kwargs \['row_condition'\]",
        ),
        (
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "a", "min_value": {"$PARAMETER": "x"}},
            },
            "suite parameter",
        ),
    ],
)
def test_bad_expectation_names_file_and_index(tmp_path: Path, expectation: object, message: str) -> None:
    ok = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}
    path = write(tmp_path, suite_doc(ok, ok, expectation))
    with pytest.raises(SuiteError, match=message) as info:
        load_suite(path)
    assert str(info.value).startswith(f"{path}: expectations[2]: ")


def test_presentation_kwargs_and_mostly_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        suite_doc(
            {
                "type": "expect_column_values_to_not_be_null",
                "kwargs": {
                    "column": "a",
                    "mostly": 0.9,
                    "result_format": "COMPLETE",
                    "catch_exceptions": True,
                },
                "meta": {"notes": "n"},
                "id": "abc",
                "severity": "critical",
            }
        ),
    )
    exp = load_suite(path).expectations[0]
    assert (exp.type, exp.column, exp.id, exp.meta) == (
        "expect_column_values_to_not_be_null",
        "a",
        "abc",
        {"notes": "n"},
    )


def test_resolve_suite_accepts_name_path_or_suite(tmp_path: Path) -> None:
    by_name = resolve_suite("calls")
    assert resolve_suite(by_name) is by_name
    assert resolve_suite(suite_path("calls")) == by_name
    assert resolve_suite(str(suite_path("calls"))) == by_name


def test_quality_modules_import_nothing_heavy() -> None:
    code = (
        "import sys, json\n"
        "import salestalk.quality.suite, salestalk.quality.sql, salestalk.quality.regex, salestalk.quality.gx_runner\n"
        "print(json.dumps([m for m in ('great_expectations', 'pandas', 'duckdb', 'pyarrow') if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": REPO_PYTHONPATH}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == []
