"""The JSON Schema of one source YAML file, generated from the pydantic models, for editors.

The committed copy is ``include/sources/source.schema.json`` (``make config-schema`` writes it; a test keeps
it in step with the models and ``_defaults.yaml``). Keys that ``_defaults.yaml`` sets are optional in a
source file, and mappings under them merge, so nothing under them is required either. The schema checks
each file's shape: keys, types, bounds, enums and patterns. ``make validate-config`` remains the full check
(cross-field rules, suites, runbook files, cron semantics).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

from salestalk.config.loader import DEFAULTS_FILE_NAME, SOURCES_DIR, load_defaults
from salestalk.config.models import SourceConfig

if TYPE_CHECKING:
    from pathlib import Path

SCHEMA_FILE_NAME = "source.schema.json"
SCHEMA_FILE = SOURCES_DIR / SCHEMA_FILE_NAME
SCHEMA_ID = "https://salestalk.example.com/schemas/source.schema.json"
MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE_NAME}"


def source_file_schema(folder: Path = SOURCES_DIR) -> dict[str, Any]:
    """The schema a source file in ``folder`` must satisfy, given that folder's ``_defaults.yaml``."""
    schema = SourceConfig.model_json_schema(by_alias=True, mode="validation")
    defaults = load_defaults(folder)
    schema["required"] = [key for key in schema.get("required", []) if key not in defaults]
    defs = schema.get("$defs", {})
    for key, value in defaults.items():
        if isinstance(value, dict) and key in schema["properties"]:
            schema["properties"][key] = _optional(schema["properties"][key], defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "SalesTalk source",
        "description": (
            f"One source file under include/sources/. Keys set in {DEFAULTS_FILE_NAME} are optional here. "
            "Generated from salestalk.config.models by `make config-schema`; `make validate-config` is "
            "the full check."
        ),
        **schema,
    }


def _optional(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``node`` with nothing required in it or in the objects under it (they merge over the defaults)."""
    ref = node.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        relaxed = f"{name}InSourceFile"
        if relaxed not in defs:
            defs[relaxed] = {}
            defs[relaxed] = _optional(copy.deepcopy(defs[name]), defs)
        return {**{k: v for k, v in node.items() if k != "$ref"}, "$ref": f"#/$defs/{relaxed}"}
    node = {k: v for k, v in node.items() if k != "required"}
    if "properties" in node:
        node["properties"] = {k: _optional(v, defs) for k, v in node["properties"].items()}
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            node[key] = [_optional(option, defs) for option in node[key]]
    return node


def render(folder: Path = SOURCES_DIR) -> str:
    return json.dumps(source_file_schema(folder), indent=2, sort_keys=True) + "\n"
