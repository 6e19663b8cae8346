"""Runbooks: one per alert type, every link resolves, each has the four sections and links to the DAG docs."""

from __future__ import annotations

import re

import pytest

from salestalk import REPO_ROOT
from salestalk.config.alerting import ALERT_TYPES, OTHER_RUNBOOKS, runbook_for

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
INCIDENT_RUNBOOKS = sorted(p for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", [*ALERT_TYPES, *OTHER_RUNBOOKS])
def test_every_alert_type_and_situation_has_a_runbook(name: str) -> None:
    assert (REPO_ROOT / runbook_for(name)).is_file()


@pytest.mark.parametrize("path", [*INCIDENT_RUNBOOKS, RUNBOOKS / "README.md"], ids=lambda p: p.name)
def test_relative_links_resolve(path) -> None:
    for target in LINK.findall(path.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = (path.parent / file_part).resolve() if file_part else path
        assert resolved.is_file(), f"{path.name}: broken link {target}"
        if anchor:
            headings = {
                re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", resolved.read_text(), flags=re.M)
            }
            assert anchor in headings, f"{path.name}: no heading for #{anchor} in {resolved.name}"


@pytest.mark.parametrize("path", INCIDENT_RUNBOOKS, ids=lambda p: p.name)
def test_runbook_shape(path) -> None:
    text = path.read_text()
    for section in ("## Symptoms", "## Diagnosis", "## Resolution", "## Prevention"):
        assert section in text, f"{path.name} lacks {section}"
    assert "DAG docs" in text and "/dags/" in text, f"{path.name} does not link back to the DAG docs"
    assert "```bash" in text, f"{path.name} has no command to run"


def test_the_index_lists_every_runbook() -> None:
    index = (RUNBOOKS / "README.md").read_text()
    for path in INCIDENT_RUNBOOKS:
        assert f"]({path.name})" in index, path.name


def test_config_runbook_links_resolve() -> None:
    from salestalk.config.loader import load_sources

    loaded = load_sources()
    assert not loaded.errors
    for source in loaded.configs.values():
        assert (REPO_ROOT / source.runbook).is_file(), source.name


def test_dag_docs_link_to_every_runbook() -> None:
    from salestalk.config.loader import load_sources
    from salestalk.dagfactory import DOCS_BASE_URL, doc_md

    for source in load_sources().configs.values():
        doc = doc_md(source)
        for name in (*ALERT_TYPES, *OTHER_RUNBOOKS):
            assert DOCS_BASE_URL + runbook_for(name) in doc, (source.name, name)
        for url in re.findall(r"\]\((https://[^)]+)\)", doc):
            if url.startswith(DOCS_BASE_URL):
                assert (REPO_ROOT / url.removeprefix(DOCS_BASE_URL)).is_file(), url
