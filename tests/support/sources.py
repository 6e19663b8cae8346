"""Source configs for tests, found by what they are, never by the name of a shipped source or tenant.

A data engineer adds a source by adding one YAML file and its suite (README, "Add a source"); no test may
then fail just because that source exists, or because a shipped one was renamed or removed. So a test:

- takes every source from the config folder (:func:`configs`, :func:`all_tenants`);
- picks the source it needs by kind or property (:func:`a_source`), e.g. "a rest_api source with a
  hashed PII column";
- or writes its own config into a temporary folder (:func:`copy_sources`, :func:`add_source_copy`) when
  it needs a shape of its own;
- and when it needs the fake API's demo data (the e2e oracle), selects the sources that have it by a
  property of their config (:func:`demo_sources`): tagged ``demo`` and reading what the fake API serves.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from dev import embedded
from salestalk.config.loader import SOURCES_DIR, SUITES_DIR, load_sources

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from salestalk.config.models import SourceConfig

DEMO_TAG = embedded.DEMO_TAG


def configs(folder: Path | None = None) -> dict[str, SourceConfig]:
    """Every valid source config in ``folder`` (default: the folder the DAGs read), by name."""
    return load_sources(folder).configs


def all_tenants(folder: Path | None = None) -> list[str]:
    """Every tenant of every source, sorted: the tenants the insight summaries run for."""
    return sorted({t for c in configs(folder).values() for t in c.tenants or []})


def sources_where(
    where: Callable[[SourceConfig], bool] | None = None,
    *,
    kind: str | None = None,
    folder: Path | None = None,
) -> list[SourceConfig]:
    """The sources of ``kind`` (any kind if None) that satisfy ``where``, sorted by name."""
    return [
        c
        for _, c in sorted(configs(folder).items())
        if (kind is None or c.extract.kind == kind) and (where is None or where(c))
    ]


def a_source(
    where: Callable[[SourceConfig], bool] | None = None,
    *,
    kind: str | None = None,
    folder: Path | None = None,
    what: str = "",
) -> SourceConfig:
    """The first source (by name) of ``kind`` that satisfies ``where``; the test fails, saying why, if none."""
    found = sources_where(where, kind=kind, folder=folder)
    if not found:
        pytest.fail(
            f"no {kind or 'source'} config {what or 'of the needed shape'} in {folder or 'the config folder'}"
        )
    return found[0]


def hashed_pii_columns(source: SourceConfig) -> list[str]:
    return sorted(c for c, action in source.table_schema.pii.items() if action == "hash")


def source_file(source: SourceConfig, folder: Path | None = None) -> Path:
    """The YAML file that defines ``source`` in ``folder``."""
    return load_sources(folder).files[source.name]


# The fake API's demo data (dev/fakeapi): what each kind of demo source reads.

demo_resource = embedded.demo_resource


def demo_sources(kind: str | None = None, folder: Path | None = None) -> list[SourceConfig]:
    """The sources whose demo data the embedded stack serves (:func:`demo_resource`), sorted by name."""
    return sources_where(lambda c: demo_resource(c) is not None, kind=kind, folder=folder)


# Temporary config folders.


def copy_sources(folder: Path, source_folder: Path = SOURCES_DIR) -> Path:
    """A copy of the config folder (``_defaults.yaml`` and every source file) at ``folder``."""
    shutil.copytree(source_folder, folder, dirs_exist_ok=True)
    return folder


def add_source_copy(
    folder: Path,
    template: SourceConfig,
    name: str,
    *,
    suites_dir: Path | None = None,
    changes: Callable[[dict[str, Any]], None] | None = None,
    template_folder: Path | None = None,
) -> Path:
    """Add ``<name>.yaml`` to ``folder``: ``template``'s own file with a new name, as the README says.

    With ``suites_dir``, the template's suite is copied there as ``<name>.json`` and the new source uses it;
    otherwise the new source keeps the template's suite. ``changes`` edits the parsed YAML before writing.
    ``template_folder`` is where the template's file is (default: the config folder).
    """
    data = yaml.safe_load(source_file(template, template_folder).read_text())
    data["name"] = name
    if suites_dir is not None:
        suite = json.loads((SUITES_DIR / f"{template.expectation_suite}.json").read_text())
        suite["name"] = name
        suites_dir.mkdir(parents=True, exist_ok=True)
        (suites_dir / f"{name}.json").write_text(json.dumps(suite, indent=2))
        data["expectation_suite"] = name
    if changes is not None:
        changes(data)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def copy_suites(folder: Path) -> Path:
    """A copy of the committed suites folder, for a temporary config folder whose sources bring suites."""
    shutil.copytree(SUITES_DIR, folder, dirs_exist_ok=True)
    return folder
