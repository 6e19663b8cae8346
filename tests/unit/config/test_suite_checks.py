"""`validate-config` checks each suite against its source: columns, supported types, its own name.

Errors read like config errors: ``<suite file>: expectations[<i>] (<type>): <reason> (used by <yaml>)``.
"""

from __future__ import annotations

import json
import string
import uuid
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salestalk.__main__ import main
from salestalk.config import loader
from salestalk.quality.suite import ROW_LEVEL_TYPES
from tests.support.sources import a_source, copy_sources, copy_suites


@pytest.fixture
def folders(tmp_path: Path, monkeypatch):
    """A copy of the config folder and of the suites, the loader reading both."""
    sources = copy_sources(tmp_path / "sources")
    suites = copy_suites(tmp_path / "expectations")
    monkeypatch.setattr(loader, "SUITES_DIR", suites)
    return sources, suites


def edit_suite(suites: Path, name: str, change) -> Path:
    path = suites / f"{name}.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))
    return path


def errors(sources: Path) -> list[str]:
    return [str(e) for e in loader.load_sources(sources).errors]


def test_a_rule_on_a_column_not_in_the_schema_is_named_by_index_and_type(folders) -> None:
    sources, suites = folders
    source = a_source(folder=sources)
    edit_suite(
        suites,
        source.expectation_suite,
        lambda d: d["expectations"].append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}
        ),
    )
    index = len(json.loads((suites / f"{source.expectation_suite}.json").read_text())["expectations"]) - 1

    [message] = errors(sources)

    assert message.startswith(
        f"{suites / source.expectation_suite}.json: expectations[{index}] "
        "(expect_column_values_to_not_be_null): column(s) ['no_such_column'] not in the source's schema"
    )
    assert message.endswith(f"(used by {sources / source.name}.yaml)") or f"{source.name}.yaml" in message
    result = loader.load_sources(sources)
    assert (
        source.name not in result.configs and len(result.configs) == len(list(sources.glob("[!_]*.yaml"))) - 1
    )


def test_an_unsupported_expectation_type_and_a_foreign_name_are_each_listed(folders, capsys) -> None:
    sources, suites = folders
    source = a_source(folder=sources)
    other = a_source(lambda c: c.expectation_suite != source.expectation_suite, folder=sources)

    def break_it(data: dict) -> None:
        data["name"] = other.expectation_suite  # copied from another source and not renamed
        data["expectations"].insert(0, {"type": "expect_column_kl_divergence_to_be_less_than", "kwargs": {}})
        data["expectations"].append({"type": "expect_column_values_to_be_between", "kwargs": {"column": "x"}})

    path = edit_suite(suites, source.expectation_suite, break_it)

    assert main(["validate-config", "--folder", str(sources)]) == 1
    err = capsys.readouterr().err
    assert (
        f"{path}: name: must be {source.expectation_suite!r}, the suite's file name (got {other.expectation_suite!r})"
        in err
    )
    assert (
        f"{path}: expectations[0] (expect_column_kl_divergence_to_be_less_than): unsupported expectation type"
        in err
    )
    last = len(json.loads(path.read_text())["expectations"]) - 1
    assert f"{path}: expectations[{last}] (expect_column_values_to_be_between): " in err
    assert "min_value and max_value cannot both be null" in err


def test_a_regex_neither_warehouse_can_run_is_an_error(folders) -> None:
    sources, suites = folders
    source = a_source(folder=sources)
    column = source.table_schema.column_names[0]
    edit_suite(
        suites,
        source.expectation_suite,
        lambda d: d["expectations"].append(
            {"type": "expect_column_values_to_match_regex", "kwargs": {"column": column, "regex": "(?<=a)b"}}
        ),
    )
    [message] = errors(sources)
    assert "(expect_column_values_to_match_regex): regex cannot be evaluated in SQL" in message


def test_table_rules_naming_columns_are_checked_too(folders) -> None:
    sources, suites = folders
    source = a_source(folder=sources)
    columns = source.table_schema.column_names
    edit_suite(
        suites,
        source.expectation_suite,
        lambda d: d["expectations"].append(
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": [*columns, "ghost"]}}
        ),
    )
    [message] = errors(sources)
    assert "(expect_table_columns_to_match_set): column(s) ['ghost'] not in the source's schema" in message


def test_every_shipped_suite_passes() -> None:
    assert loader.load_sources().errors == []


# -- generated suites and schemas --------------------------------------------------------------------------

NAMES = st.text(string.ascii_lowercase, min_size=1, max_size=6).map(lambda s: f"c_{s}")
KWARGS = {
    "expect_column_values_to_not_be_null": {},
    "expect_column_values_to_be_null": {},
    "expect_column_values_to_be_between": {"min_value": 0},
    "expect_column_values_to_be_in_set": {"value_set": ["a", "b"]},
    "expect_column_values_to_not_be_in_set": {"value_set": ["z"]},
    "expect_column_values_to_match_regex": {"regex": "^[a-z]+$"},
    "expect_column_values_to_not_match_regex": {"regex": "x{2,}"},
    "expect_column_value_lengths_to_be_between": {"min_value": 1, "max_value": 9},
    "expect_column_value_lengths_to_equal": {"value": 3},
    "expect_column_values_to_be_unique": {},
}
assert set(KWARGS) == ROW_LEVEL_TYPES, "a new row-level type needs valid kwargs here"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    schema=st.lists(NAMES, min_size=2, max_size=6, unique=True),
    rules=st.lists(st.tuples(st.sampled_from(sorted(KWARGS)), NAMES | st.just("__schema__")), max_size=8),
    picks=st.randoms(use_true_random=False),
)
def test_validate_config_reports_exactly_the_rules_on_missing_columns(
    tmp_path_factory, schema, rules, picks
) -> None:
    root = tmp_path_factory.mktemp("generated")
    sources, suites = root / "sources", root / "expectations"
    sources.mkdir()
    suites.mkdir()
    name = f"gen_{uuid.uuid4().hex[:8]}"
    columns = [*schema, "updated_at"]
    expectations = []
    for kind, column in rules:
        column = picks.choice(columns) if column == "__schema__" else column
        expectations.append({"type": kind, "kwargs": {"column": column, **KWARGS[kind]}})
    (suites / f"{name}.json").write_text(json.dumps({"name": name, "expectations": expectations}))
    config = {
        "name": name,
        "description": "generated",
        "owner": "tests",
        "oncall": {"team": "t", "contact": "#t", "url": "https://example.com"},
        "schedule": "@daily",
        "start_date": "2026-11-01",
        "tenants": ["acme"],
        "extract": {"kind": "s3_files", "prefix_pattern": "inbound/{ds}/", "format": "csv"},
        "schema": {
            "columns": [
                *({"name": c, "type": "string"} for c in schema),
                {"name": "updated_at", "type": "timestamp"},
            ],
            "primary_key": [schema[0]],
            "cursor_column": "updated_at",
            "business_date_column": "updated_at",
        },
        "expectation_suite": name,
        "runbook": "docs/runbooks/source-pipeline.md",
    }
    (sources / f"{name}.yaml").write_text(yaml.safe_dump(config))
    expected = sorted(
        f"expectations[{i}] ({e['type']})"
        for i, e in enumerate(expectations)
        if e["kwargs"]["column"] not in columns
    )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loader, "SUITES_DIR", suites)
        result = loader.load_sources(sources)

    reported = sorted(e.field for e in result.errors)
    assert reported == expected, [str(e) for e in result.errors]
    assert (name in result.configs) == (not expected), "a suite whose rules all apply is accepted"


def test_a_suite_is_checked_once_per_content_and_again_after_an_edit(folders, monkeypatch) -> None:
    """Many sources sharing one suite pay for one check per parse; an edited suite is checked again."""
    from salestalk.quality import suite as suite_module

    sources, suites = folders
    checked: list[str] = []
    real = suite_module._check_suite

    def counting(body, path, expected_name, columns):
        checked.append(expected_name)
        return real(body, path, expected_name, columns)

    monkeypatch.setattr(suite_module, "_check_suite", counting)
    monkeypatch.setattr(suite_module, "_PROBLEMS_CACHE", {})
    source = a_source(folder=sources, what="whose suite to check")
    checked.clear()  # loading the sources to pick one checked their suites
    monkeypatch.setattr(suite_module, "_PROBLEMS_CACHE", {})
    name, columns = source.expectation_suite, source.table_schema.column_names
    path = suites / f"{name}.json"
    first = suite_module.suite_problems(path, name, columns)
    for _ in range(3):
        assert suite_module.suite_problems(path, name, columns) == first
    assert checked == [name]
    assert suite_module.suite_problems(path, name, [*columns, "another"]) == first  # other columns: checked
    assert checked == [name, name]
    edit_suite(
        suites,
        name,
        lambda data: data["expectations"].append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}
        ),
    )
    after = suite_module.suite_problems(path, name, columns)
    assert len(checked) == 3
    assert any("no_such_column" in reason for _, reason in after), after


def test_the_config_cache_remembers_suite_checks_by_content(folders, tmp_path, monkeypatch) -> None:
    """A task process building one DAG reads the suite check from the config cache; an edited suite (or an
    edited checker) is checked again, and its problems still reach the loader's errors."""
    from salestalk.quality import suite as suite_module

    sources, suites = folders
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    source = a_source(folder=sources, what="whose suite the cache remembers")  # fills the cache
    assert list((tmp_path / "cache").glob("suite-*.json"))

    def not_again(*args, **kwargs):
        raise AssertionError("suite checked again although its content did not change")

    monkeypatch.setattr(suite_module, "suite_problems", not_again)
    assert source.name in loader.load_sources(sources, only=source.name).configs
    monkeypatch.undo()
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(loader, "SUITES_DIR", suites)
    edit_suite(
        suites,
        source.expectation_suite,
        lambda d: d["expectations"].append(
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "no_such_column"}}
        ),
    )
    found = [str(e) for e in loader.load_sources(sources, only=source.name).errors]
    assert any("no_such_column" in e for e in found), found
