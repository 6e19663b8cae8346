"""Config errors name the file, the field path and the reason; good files always load."""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TYPE_CHECKING

import pytest
import yaml

from salestalk.__main__ import main
from salestalk.config.loader import DEFAULTS_FILE_NAME, SOURCES_DIR, load_sources, source_files
from tests.support.sources import a_source, copy_sources

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    return copy_sources(tmp_path / "include" / "sources")


@pytest.fixture
def rest(sources: Path) -> str:
    """The source most tests break: a REST one (it has pagination), found by kind, never by name."""
    return a_source(kind="rest_api", folder=sources).name


@pytest.fixture
def other(sources: Path, rest: str) -> str:
    """Any second source."""
    return a_source(lambda c: c.name != rest, folder=sources, what="besides the REST one").name


def names(folder: Path) -> list[str]:
    return sorted(p.stem for p in source_files(folder))


def edit(folder: Path, name: str, change) -> Path:
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def only_error(folder: Path) -> str:
    result = load_sources(folder)
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    assert len(result.configs) == len(names(folder)) - 1, "the good sources must still load"
    return str(result.errors[0])


def test_repository_configs_are_valid() -> None:
    result = load_sources()
    assert result.errors == []
    assert sorted(result.configs) == names(SOURCES_DIR) != []


# Errors in one file's shape: the loader names each, and the JSON Schema for editors rejects each too
# (tests/unit/config/test_config_schema.py). (id, change to the parsed YAML of a REST source, the message
# after "<file>: "). A change that returns a value replaces the whole document.
FILE_SHAPE_ERRORS = [
    ("missing-field", lambda d: d.pop("schedule") and None, "schedule: required field is missing"),
    (
        "nested-unknown-key",
        lambda d: d["extract"]["pagination"].update(pagesize=10),
        "extract.pagination.pagesize: unknown key (did you mean 'page_size'?)",
    ),
    (
        "wrong-type",
        lambda d: d["extract"]["pagination"].update(page_size="100"),
        "extract.pagination.page_size: input should be a valid integer (got str '100')",
    ),
    (
        "bound",
        lambda d: d["extract"]["pagination"].update(page_size=-5),
        "extract.pagination.page_size: must be > 0 (got -5)",
    ),
    (
        "enum",
        lambda d: d["extract"]["pagination"].update(style="offset"),
        "extract.pagination.style: must be one of 'cursor' or 'page' (got 'offset')",
    ),
    (
        "extract-kind",
        lambda d: d["extract"].update(kind="ftp"),
        "extract.kind: must be one of 'rest_api', 's3_files', 'events' (got 'ftp')",
    ),
    ("cron", lambda d: d.update(schedule="61 * * * *"), "schedule: must be a cron expression"),
    (
        "tenant-id",
        lambda d: d.update(tenants=["acme", "Globex"]),
        "tenants[1]: tenant id 'Globex' must be lowercase letters",
    ),
    (
        "duplicate-tenant",
        lambda d: d.update(tenants=["acme", "acme"]),
        "tenants: duplicate tenant(s) ['acme']",
    ),
    ("unknown-tag", lambda d: d.update(tags=["crm", "urgent"]), "tags: unknown tag(s) ['urgent']"),
    (
        "column-name",
        lambda d: d["schema"]["columns"].append({"name": "Amount EUR", "type": "float"}),
        "schema.columns[",
    ),
    (
        "retry-after-cap",
        lambda d: d["extract"].update(max_retry_after_seconds=86400),
        "extract.max_retry_after_seconds: must be <= 3600 (got 86400)",
    ),
    (
        "clock-skew",
        lambda d: d["extract"].update(max_clock_skew_minutes=-1),
        "extract.max_clock_skew_minutes: must be >= 0 (got -1)",
    ),
    ("not-a-mapping", lambda d: ["just", "a list"], "must be a YAML mapping of keys to values"),
]


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in FILE_SHAPE_ERRORS], ids=[c[0] for c in FILE_SHAPE_ERRORS]
)
def test_a_file_shape_error_names_the_file_and_field(sources: Path, rest: str, change, message: str) -> None:
    path = sources / f"{rest}.yaml"
    data = yaml.safe_load(path.read_text())
    replaced = change(data)
    path.write_text(yaml.safe_dump(data if replaced is None else replaced, sort_keys=False))
    messages = [str(e) for e in load_sources(sources).errors]
    assert any(f"{rest}.yaml: {message}" in m for m in messages), messages
    assert rest not in load_sources(sources).configs


def test_unknown_key_is_an_error_with_a_hint(sources: Path, rest: str) -> None:
    edit(sources, rest, lambda d: d.update(schedul=d.pop("schedule")))
    result = load_sources(sources)
    messages = sorted(str(e) for e in result.errors)
    assert any(m.endswith(f"{rest}.yaml: schedul: unknown key (did you mean 'schedule'?)") for m in messages)
    assert any(m.endswith(f"{rest}.yaml: schedule: required field is missing") for m in messages)


def test_schema_references_must_exist(sources: Path, rest: str) -> None:
    edit(sources, rest, lambda d: d["schema"].update(primary_key=["deal_uuid"]))
    assert f"{rest}.yaml: schema: primary_key names undeclared column(s) ['deal_uuid']" in only_error(sources)


def test_missing_suite_file(sources: Path, rest: str) -> None:
    edit(sources, rest, lambda d: d.update(expectation_suite="no_such_suite"))
    assert (
        f"{rest}.yaml: expectation_suite: no suite file great_expectations/expectations/no_such_suite.json"
        in (only_error(sources))
    )


def test_duplicate_source_name(sources: Path, rest: str) -> None:
    (sources / "crm").mkdir()
    shutil.copy(sources / f"{rest}.yaml", sources / "crm" / f"{rest}.yaml")
    result = load_sources(sources)
    assert sorted(result.configs) == names(SOURCES_DIR)
    assert len(result.errors) == 1
    message = str(result.errors[0])
    first, second = sorted([f"{rest}.yaml", f"crm/{rest}.yaml"])  # files load in path order
    assert f"sources/{second}: name: duplicate source name {rest!r}, already defined in" in message
    assert message.endswith(f"sources/{first}")


def test_name_must_match_file(sources: Path, rest: str) -> None:
    shutil.move(sources / f"{rest}.yaml", sources / f"crm_{rest}.yaml")
    result = load_sources(sources)
    assert [str(e).split("sources/")[-1] for e in result.errors] == [
        f"crm_{rest}.yaml: name: must match the file name 'crm_{rest}' (got {rest!r})"
    ]


def test_invalid_yaml_names_the_line(sources: Path, rest: str) -> None:
    (sources / f"{rest}.yaml").write_text(f"name: {rest}\nschedule: [unclosed\n")
    assert f"{rest}.yaml: line 3, column 1: invalid YAML" in only_error(sources)


def test_duplicate_yaml_key_is_rejected(sources: Path, rest: str) -> None:
    path = sources / f"{rest}.yaml"
    path.write_text(path.read_text() + "\nschedule: '@hourly'\n")
    assert "invalid YAML: duplicate key 'schedule' (first at line" in only_error(sources)


def test_defaults_merge_and_override(sources: Path, rest: str) -> None:
    defaults = yaml.safe_load((sources / DEFAULTS_FILE_NAME).read_text())

    def own_values(data: dict) -> None:
        data.update(owner="owner-from-the-file", quarantine={"max_error_rate": 0.05})
        data.pop("oncall", None)
        data.pop("retries", None)

    edit(sources, rest, own_values)
    config = load_sources(sources).configs[rest]
    assert config.owner == "owner-from-the-file"
    assert config.oncall.team == defaults["oncall"]["team"]
    assert config.quarantine.max_error_rate == 0.05
    assert config.quarantine.on_table_failure == defaults["quarantine"]["on_table_failure"]
    assert config.retries == defaults["retries"]


def test_error_inherited_from_defaults_says_so(sources: Path) -> None:
    defaults = sources / "_defaults.yaml"
    defaults.write_text(defaults.read_text().replace("retries: 3", "retries: 1"))
    result = load_sources(sources)
    assert len(result.errors) == len(list(sources.glob("[!_]*.yaml")))
    assert all(
        "retries: must be >= 2 (got 1) (inherited from _defaults.yaml)" in str(e) for e in result.errors
    )


def test_unknown_key_in_defaults(sources: Path) -> None:
    defaults = sources / "_defaults.yaml"
    defaults.write_text(defaults.read_text() + "retrys: 4\n")
    result = load_sources(sources)
    assert [str(e).split("sources/")[-1] for e in result.errors] == [
        "_defaults.yaml: retrys: unknown key (did you mean 'retries'?)"
    ]


def test_checker_lists_every_problem_and_exits_non_zero(sources: Path, rest: str, other: str, capsys) -> None:
    edit(sources, rest, lambda d: d["extract"]["pagination"].update(page_size=-5))
    edit(sources, other, lambda d: d.update(schedul="@daily"))
    assert main(["validate-config", "--folder", str(sources)]) == 1
    captured = capsys.readouterr()
    assert "extract.pagination.page_size: must be > 0 (got -5)" in captured.err
    assert f"{other}.yaml: schedul: unknown key (did you mean 'schedule'?)" in captured.err
    assert f"{len(names(sources)) - 2} valid source(s), 2 problem(s)" in captured.out


def test_checker_passes_on_the_repository(capsys) -> None:
    assert main(["validate-config"]) == 0
    assert f"{len(names(SOURCES_DIR))} valid source(s), 0 problem(s)" in capsys.readouterr().out


def test_cached_parse_equals_a_fresh_parse(sources: Path, rest: str, tmp_path: Path, monkeypatch) -> None:
    """A load of every source keeps the folder's parsed YAML in one entry; a load of one source (a task
    process) in one entry per file. Both give what a fresh parse gives."""
    import json

    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    first = load_sources(sources)
    parsed = {p.read_bytes() for p in [*source_files(sources), sources / DEFAULTS_FILE_NAME]}
    entries = list((tmp_path / "cache").glob("*.json"))
    suite_checks = [p for p in entries if p.name.startswith("suite-")]
    packs = [p for p in entries if p.name.startswith("pack-")]
    assert len(packs) == 1 and len(entries) == len(suite_checks) + 1, [p.name for p in entries]
    assert len(json.loads(packs[0].read_text())) == len(parsed), "every source and the defaults"
    assert 1 <= len(suite_checks) <= len(first.configs), "one suite check per suite, name and columns"
    written = packs[0].stat().st_mtime_ns
    again = load_sources(sources)
    assert packs[0].stat().st_mtime_ns == written, "nothing changed: the entry is not written again"
    one = load_sources(sources, only=rest)
    assert len(list((tmp_path / "cache").glob("*.json"))) == len(entries) + 2, "the source and the defaults"
    one_again = load_sources(sources, only=rest)
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", "off")
    fresh = load_sources(sources)
    assert first.configs == again.configs == fresh.configs
    assert one.configs == one_again.configs == {rest: fresh.configs[rest]}
    assert type(again.configs[rest].start_date) is dt.date


def test_the_folder_entry_drops_files_that_are_gone(
    sources: Path, rest: str, tmp_path: Path, monkeypatch
) -> None:
    import json

    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    load_sources(sources)
    (pack,) = (tmp_path / "cache").glob("pack-*.json")
    before = len(json.loads(pack.read_text()))
    (sources / f"{rest}.yaml").unlink()
    assert rest not in load_sources(sources).configs
    assert len(json.loads(pack.read_text())) == before - 1


def test_an_edited_file_is_parsed_again(sources: Path, rest: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    load_sources(sources)
    edit(sources, rest, lambda d: d.update(schedul="@daily"))
    assert "schedul: unknown key" in only_error(sources)
