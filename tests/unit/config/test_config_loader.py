"""Config errors name the file, the field path and the reason; good files always load."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest
import yaml

from salestalk.__main__ import main
from salestalk.config.loader import SOURCES_DIR, load_sources

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    folder = tmp_path / "include" / "sources"
    shutil.copytree(SOURCES_DIR, folder)
    return folder


def edit(folder: Path, name: str, change) -> Path:
    path = folder / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def only_error(folder: Path) -> str:
    result = load_sources(folder)
    assert len(result.errors) == 1, [str(e) for e in result.errors]
    assert sorted(result.configs) == ["calls", "classifications", "product_usage"], (
        "the good sources must still load"
    )
    return str(result.errors[0])


def test_repository_configs_are_valid() -> None:
    result = load_sources()
    assert result.errors == []
    assert sorted(result.configs) == ["calls", "classifications", "deals", "product_usage"]


def test_missing_field(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.pop("schedule"))
    assert only_error(sources).endswith("deals.yaml: schedule: required field is missing")


def test_unknown_key_is_an_error_with_a_hint(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(schedul=d.pop("schedule")))
    result = load_sources(sources)
    messages = sorted(str(e) for e in result.errors)
    assert any(m.endswith("deals.yaml: schedul: unknown key (did you mean 'schedule'?)") for m in messages)
    assert any(m.endswith("deals.yaml: schedule: required field is missing") for m in messages)


def test_nested_unknown_key_names_the_path(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["extract"]["pagination"].update(pagesize=10))
    assert "deals.yaml: extract.pagination.pagesize: unknown key (did you mean 'page_size'?)" in only_error(
        sources
    )


def test_wrong_type(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["extract"]["pagination"].update(page_size="100"))
    assert "deals.yaml: extract.pagination.page_size: input should be a valid integer (got str '100')" in (
        only_error(sources)
    )


def test_bound_violation_reads_like_the_spec(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["extract"]["pagination"].update(page_size=-5))
    assert only_error(sources).endswith("deals.yaml: extract.pagination.page_size: must be > 0 (got -5)")


def test_bad_enum(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["extract"]["pagination"].update(style="offset"))
    assert "extract.pagination.style: must be one of 'cursor' or 'page' (got 'offset')" in only_error(sources)


def test_bad_extract_kind(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["extract"].update(kind="ftp"))
    assert (
        "deals.yaml: extract.kind: must be one of 'rest_api', 's3_files', 'events' (got 'ftp')"
        in only_error(sources)
    )


def test_bad_cron(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(schedule="61 * * * *"))
    assert "deals.yaml: schedule: must be a cron expression" in only_error(sources)


def test_invalid_tenant_id(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(tenants=["acme", "Globex"]))
    assert "deals.yaml: tenants[1]: tenant id 'Globex' must be lowercase letters" in only_error(sources)


def test_duplicate_tenant(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(tenants=["acme", "acme"]))
    assert "deals.yaml: tenants: duplicate tenant(s) ['acme']" in only_error(sources)


def test_unknown_tag(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(tags=["crm", "urgent"]))
    assert "deals.yaml: tags: unknown tag(s) ['urgent']" in only_error(sources)


def test_schema_references_must_exist(sources: Path) -> None:
    edit(sources, "deals", lambda d: d["schema"].update(primary_key=["deal_uuid"]))
    assert "deals.yaml: schema: primary_key names undeclared column(s) ['deal_uuid']" in only_error(sources)


def test_missing_suite_file(sources: Path) -> None:
    edit(sources, "deals", lambda d: d.update(expectation_suite="no_such_suite"))
    assert (
        "deals.yaml: expectation_suite: no suite file great_expectations/expectations/no_such_suite.json"
        in (only_error(sources))
    )


def test_duplicate_source_name(sources: Path) -> None:
    (sources / "crm").mkdir()
    shutil.copy(sources / "deals.yaml", sources / "crm" / "deals.yaml")
    result = load_sources(sources)
    assert sorted(result.configs) == ["calls", "classifications", "deals", "product_usage"]
    assert len(result.errors) == 1
    message = str(result.errors[0])
    assert "sources/deals.yaml: name: duplicate source name 'deals', already defined in" in message
    assert message.endswith("crm/deals.yaml")


def test_name_must_match_file(sources: Path) -> None:
    shutil.move(sources / "deals.yaml", sources / "crm_deals.yaml")
    result = load_sources(sources)
    assert [str(e).split("sources/")[-1] for e in result.errors] == [
        "crm_deals.yaml: name: must match the file name 'crm_deals' (got 'deals')"
    ]


def test_invalid_yaml_names_the_line(sources: Path) -> None:
    (sources / "deals.yaml").write_text("name: deals\nschedule: [unclosed\n")
    assert "deals.yaml: line 3, column 1: invalid YAML" in only_error(sources)


def test_duplicate_yaml_key_is_rejected(sources: Path) -> None:
    path = sources / "deals.yaml"
    path.write_text(path.read_text() + "\nschedule: '@hourly'\n")
    assert "invalid YAML: duplicate key 'schedule' (first at line" in only_error(sources)


def test_a_non_mapping_file(sources: Path) -> None:
    (sources / "deals.yaml").write_text("- just\n- a list\n")
    assert only_error(sources).endswith("deals.yaml: must be a YAML mapping of keys to values")


def test_defaults_merge_and_override(sources: Path) -> None:
    config = load_sources(sources).configs["deals"]
    assert config.owner == "revenue-data"
    assert config.oncall.team == "data-platform"
    assert config.quarantine.max_error_rate == 0.05
    assert config.quarantine.on_table_failure == "hold"
    assert config.retries == 3


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


def test_checker_lists_every_problem_and_exits_non_zero(sources: Path, capsys) -> None:
    edit(sources, "deals", lambda d: d["extract"]["pagination"].update(page_size=-5))
    edit(sources, "calls", lambda d: d.update(schedul="@daily"))
    assert main(["validate-config", "--folder", str(sources)]) == 1
    captured = capsys.readouterr()
    assert "extract.pagination.page_size: must be > 0 (got -5)" in captured.err
    assert "calls.yaml: schedul: unknown key (did you mean 'schedule'?)" in captured.err
    assert "2 valid source(s), 2 problem(s)" in captured.out


def test_checker_passes_on_the_repository(capsys) -> None:
    assert main(["validate-config"]) == 0
    assert "4 valid source(s), 0 problem(s)" in capsys.readouterr().out


def test_cached_parse_equals_a_fresh_parse(sources: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    first = load_sources(sources)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 5, "four sources and the defaults"
    again = load_sources(sources)
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", "off")
    fresh = load_sources(sources)
    assert first.configs == again.configs == fresh.configs
    assert again.configs["deals"].start_date.isoformat() == "2026-10-01"


def test_an_edited_file_is_parsed_again(sources: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_CONFIG_CACHE", str(tmp_path / "cache"))
    load_sources(sources)
    edit(sources, "deals", lambda d: d.update(schedul="@daily"))
    assert "schedul: unknown key" in only_error(sources)
