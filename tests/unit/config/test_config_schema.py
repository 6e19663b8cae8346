"""The committed JSON Schema for source YAML: in step with the models, true to every file, strict on shape."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from salestalk.__main__ import main
from salestalk.config.json_schema import MODELINE, SCHEMA_FILE, render, source_file_schema
from salestalk.config.loader import SOURCES_DIR, source_files
from tests.support.sources import a_source, add_source_copy, copy_sources
from tests.unit.config.test_config_loader import FILE_SHAPE_ERRORS

# What only `make validate-config` can check, as it needs more than one file's shape (covered by
# test_config_loader.py and test_suite_checks.py): cross-field references (schema columns, cursor_field,
# events fields, retry delays), the name against the file name, duplicate names across files, the suite,
# runbook and contract files, and YAML syntax (duplicate keys included).


def validator(schema: dict | None = None) -> jsonschema.protocols.Validator:
    schema = schema or json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def as_json(data):
    """What an editor's YAML server validates: YAML dates are plain strings to it."""
    return json.loads(json.dumps(data, default=str))


def test_the_committed_schema_is_generated_from_the_models_and_defaults(capsys) -> None:
    assert SCHEMA_FILE.read_text() == render(), "run `make config-schema` and commit the result"
    assert main(["config-schema", "--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


@pytest.mark.parametrize("path", source_files(SOURCES_DIR), ids=lambda p: p.stem)
def test_every_source_file_validates_and_points_editors_at_the_schema(path) -> None:
    errors = [e.message for e in validator().iter_errors(as_json(yaml.safe_load(path.read_text())))]
    assert errors == []
    assert path.read_text().splitlines()[0] == MODELINE


def test_a_source_added_as_the_readme_says_validates(tmp_path) -> None:
    folder = copy_sources(tmp_path / "sources")
    path = add_source_copy(folder, a_source(kind="rest_api", folder=folder), "orders", template_folder=folder)
    assert list(validator().iter_errors(as_json(yaml.safe_load(path.read_text())))) == []


@pytest.mark.parametrize(
    ("change", "message"), [c[1:] for c in FILE_SHAPE_ERRORS], ids=[c[0] for c in FILE_SHAPE_ERRORS]
)
def test_the_schema_rejects_each_file_shape_error_the_loader_rejects(change, message: str) -> None:
    path = SOURCES_DIR / f"{a_source(kind='rest_api').name}.yaml"
    data = yaml.safe_load(path.read_text())
    replaced = change(data)
    document = as_json(data if replaced is None else replaced)
    errors = list(validator().iter_errors(document))
    assert errors, f"the schema accepts what the loader refuses with {message!r}"


def test_keys_from_the_defaults_are_optional_and_merge(tmp_path) -> None:
    schema = source_file_schema(SOURCES_DIR)
    defaults = yaml.safe_load((SOURCES_DIR / "_defaults.yaml").read_text())
    assert not set(defaults) & set(schema["required"])
    assert {"name", "extract", "schema", "expectation_suite", "schedule"} <= set(schema["required"])
    path = SOURCES_DIR / f"{a_source(kind='rest_api').name}.yaml"
    data = as_json(yaml.safe_load(path.read_text()))
    data["oncall"] = {"contact": "#another-channel"}  # merged over the defaults' team and url
    assert list(validator().iter_errors(data)) == []
