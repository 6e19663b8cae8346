"""Data Docs views of great_expectations.yml: templates compiled once per process, pages as GX renders them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil

import jinja2
import pandas as pd
import pytest
import yaml

from salestalk.quality.suite import GX_ROOT

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DOCS = ("uncommitted", "data_docs", "local_site")
# What GX writes differently on each build: the time in asset URLs (?d=...) and element uuids.
VOLATILE = (
    re.compile(r"\d{8}T\d{6}\.\d{6}Z"),
    re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
)


@pytest.fixture(scope="module")
def gx_runner():
    from salestalk.quality import gx_runner

    gx_runner.gx_context()
    return gx_runner


PROBE = "docs_probe"  # a suite of our own, so that no test here depends on a shipped source
PROBE_SUITE = {
    "name": PROBE,
    "expectations": [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": ["item_id", "status", "amount", "email", "day"]},
        },
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0, "max_value": 1000}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "item_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0.0, "max_value": 100.0},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "status", "value_set": ["open", "closed"]},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "email", "regex": "^[^@ ]+@[^@ ]+$"},
        },
    ],
}


@pytest.fixture
def gx_root(gx_runner, tmp_path, monkeypatch):
    root = tmp_path / "cached" / "great_expectations"
    shutil.copytree(GX_ROOT, root, ignore=shutil.ignore_patterns("uncommitted"))
    (root / "expectations" / f"{PROBE}.json").write_text(json.dumps(PROBE_SUITE), encoding="utf-8")
    monkeypatch.setattr(gx_runner, "GX_ROOT", root)
    return root


def validate(gx_runner, gx_root, run_name: str):
    """A real GX validation of :func:`frame` against the probe suite, stored with its Data Docs pages."""
    suite = gx_root / "expectations" / f"{PROBE}.json"
    return gx_runner.run_gx(frame(), suite, ["item_id"], build_docs=True, run_name=run_name)


def frame(n: int = 20) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": pd.Series([f"i{i}" for i in range(n)], dtype="str"),
            "status": pd.Series([["open", "bogus", None][i % 3] for i in range(n)], dtype="str"),
            "amount": pd.Series([[10.0, -1.0, float("nan")][i % 3] for i in range(n)], dtype="float64"),
            "email": pd.Series([["a@b.co", "nope <x>"][i % 2] for i in range(n)], dtype="str"),
            "day": pd.Series([dt.date(2024, 1, 1 + i % 28) for i in range(n)], dtype="object"),
        }
    )


def count_compiles(monkeypatch) -> list[str | None]:
    """The names of the Jinja templates compiled from now on in this test."""
    compiled: list[str | None] = []
    compile_ = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return compile_(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return compiled


def test_the_site_uses_the_cached_views_for_every_section_and_the_index(gx_runner) -> None:
    from salestalk.quality.docs_view import (
        CachedJinjaIndexPageView,
        CachedJinjaPageView,
        TargetedSiteSectionBuilder,
    )

    context = gx_runner.gx_context()
    site = context._init_site_builder_for_data_docs_site_creation(
        site_name=gx_runner.DOCS_SITE, site_config=context.variables.data_docs_sites[gx_runner.DOCS_SITE]
    )
    assert {name: type(b.view_class) for name, b in site.site_section_builders.items()} == {
        "expectations": CachedJinjaPageView,
        "validations": CachedJinjaPageView,
        "profiling": CachedJinjaPageView,
    }
    assert type(site.site_index_builder.view_class) is CachedJinjaIndexPageView
    assert {type(b) for b in site.site_section_builders.values()} == {TargetedSiteSectionBuilder}
    # The rest of each section is GX's default.
    sections = {name: type(b.renderer_class).__name__ for name, b in site.site_section_builders.items()}
    assert sections == {
        "expectations": "ExpectationSuitePageRenderer",
        "validations": "ValidationResultsPageRenderer",
        "profiling": "ProfilingResultsPageRenderer",
    }
    assert site.site_section_builders["validations"].run_name_filter == {"not_includes": "profiling"}
    assert site.site_section_builders["profiling"].run_name_filter == {"includes": "profiling"}


def test_instances_share_one_environment_per_class_and_custom_directories(tmp_path) -> None:
    from salestalk.quality.docs_view import CachedJinjaIndexPageView, CachedJinjaPageView

    page, again = CachedJinjaPageView(), CachedJinjaPageView()
    assert page.env is again.env
    assert CachedJinjaIndexPageView().env is not page.env
    custom = CachedJinjaPageView(custom_views_directory=str(tmp_path))
    assert custom.env is not page.env
    assert custom.custom_views_directory == str(tmp_path)
    assert CachedJinjaPageView(custom_views_directory=str(tmp_path)).env is custom.env


def test_a_second_docs_build_compiles_no_template(gx_runner, gx_root, monkeypatch) -> None:
    from salestalk.quality import docs_view

    validate(gx_runner, gx_root, "probe-t001-run")
    compiled = count_compiles(monkeypatch)
    outcome = validate(gx_runner, gx_root, "probe-t002-run")

    assert outcome.docs_page.is_file() and outcome.docs_index.is_file()
    assert "probe-t002-run" in outcome.docs_index.read_text(encoding="utf-8")
    assert compiled == [], "templates were compiled again on the second build"
    assert docs_view.environment_builds
    assert set(docs_view.environment_builds.values()) == {1}


def test_pages_are_the_html_gx_default_views_write(gx_runner, gx_root, tmp_path) -> None:
    """The whole site, built from the same stored results with GX's default views and with ours."""
    import great_expectations as gx

    default_root = tmp_path / "default" / "great_expectations"
    shutil.copytree(gx_root, default_root)
    config = yaml.safe_load((default_root / "great_expectations.yml").read_text(encoding="utf-8"))
    site = config["data_docs_sites"]["local_site"]
    del site["site_section_builders"], site["site_index_builder"]["view"]
    (default_root / "great_expectations.yml").write_text(yaml.safe_dump(config), encoding="utf-8")

    for run in ("probe-t001-run", "probe-t002-run"):
        validate(gx_runner, gx_root, run)
    shutil.copytree(gx_root / "uncommitted" / "validations", default_root / "uncommitted" / "validations")
    for root in (default_root, gx_root):
        gx.get_context(mode="file", context_root_dir=root).build_data_docs(site_names=["local_site"])

    def pages(root) -> dict[str, str]:
        docs = root.joinpath(*DOCS)
        found = {}
        for path in sorted(docs.rglob("*.html")):
            text = path.read_text(encoding="utf-8")
            for pattern in VOLATILE:
                text = pattern.sub("<volatile>", text)
            found[str(path.relative_to(docs))] = text
        return found

    ours, default = pages(gx_root), pages(default_root)
    assert sorted(ours) == sorted(default)
    assert len([p for p in ours if p.startswith("validations/")]) == 2
    assert {"index.html", f"expectations/{PROBE}.html"} <= set(ours)
    assert [p for p in ours if ours[p] != default[p]] == []


def test_a_results_page_build_lists_no_stored_result_and_writes_gx_s_page(
    gx_runner, gx_root, tmp_path
) -> None:
    """The page of one result, built while others are stored: no listing of the store, the same HTML as
    GX's own section builder writes for it."""
    from great_expectations.data_context.store.tuple_store_backend import TupleFilesystemStoreBackend

    import great_expectations as gx

    def stable(text: str) -> str:
        for pattern in VOLATILE:
            text = pattern.sub("<volatile>", text)
        return text

    for run in ("probe-t001-run", "probe-t002-run", "probe-t003-run"):
        outcome = validate(gx_runner, gx_root, run)
    context = gx_runner.gx_context()
    (key,) = [
        k for k in context.validation_results_store.list_keys() if k.run_id.run_name == "probe-t003-run"
    ]
    ours = outcome.docs_page.read_text(encoding="utf-8")
    outcome.docs_page.unlink()

    listed: list[str] = []
    real_list_keys = TupleFilesystemStoreBackend.list_keys

    def counting(self, prefix=()):
        listed.append(self.full_base_directory)
        return real_list_keys(self, prefix)

    TupleFilesystemStoreBackend.list_keys = counting
    try:
        context.build_data_docs(site_names=["local_site"], resource_identifiers=[key], build_index=False)
    finally:
        TupleFilesystemStoreBackend.list_keys = real_list_keys
    assert stable(outcome.docs_page.read_text(encoding="utf-8")) == stable(ours)
    assert not [d for d in listed if "validations" in d], f"the results store was listed: {listed}"

    default_root = tmp_path / "default" / "great_expectations"
    shutil.copytree(gx_root, default_root)
    config = yaml.safe_load((default_root / "great_expectations.yml").read_text(encoding="utf-8"))
    del config["data_docs_sites"]["local_site"]["site_section_builders"]
    (default_root / "great_expectations.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    default_page = default_root.joinpath(*DOCS) / outcome.docs_page.relative_to(gx_root.joinpath(*DOCS))
    default_page.unlink()
    gx.get_context(mode="file", context_root_dir=default_root).build_data_docs(
        site_names=["local_site"], resource_identifiers=[key], build_index=False
    )

    assert stable(default_page.read_text(encoding="utf-8")) == stable(ours)


def test_warmed_templates_leave_nothing_to_compile_for_the_first_page(
    gx_runner, gx_root, monkeypatch
) -> None:
    from salestalk.quality import docs_view

    monkeypatch.setattr(docs_view, "_environments", {})
    monkeypatch.setattr(docs_view, "environment_builds", {})
    assert docs_view.warm_templates() > 0
    compiled = count_compiles(monkeypatch)
    outcome = validate(gx_runner, gx_root, "probe-t001-run")
    assert outcome.docs_page.is_file() and outcome.docs_index.is_file()
    assert compiled == [], f"compiled after warming: {compiled}"
