"""Stored GX results: removed after the retention (with their pages), and the index lists only the newest."""

from __future__ import annotations

import os
import re
import shutil
import time

import pandas as pd
import pytest
import yaml

from salestalk.quality import retention
from salestalk.quality.suite import GX_ROOT, parse_suite

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

DAY = retention.DAY_SECONDS
TINY_SUITE = parse_suite(
    {
        "name": "retention_probe",
        "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}],
    }
)


def result_file(results, run: str, run_time: str, age_days: float, now: float):
    path = results / "suite" / run / run_time / "batch.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_prune_removes_only_results_past_the_retention_and_their_empty_run_folders(tmp_path) -> None:
    results = tmp_path / "validations"
    now = time.time()
    old = result_file(results, "run-a", "20261101T000000Z", 15, now)
    kept = result_file(results, "run-b", "20261120T000000Z", 13, now)
    shared_old = result_file(results, "run-c", "20261101T000000Z", 20, now)
    shared_new = shared_old.with_name("other.json")
    shared_new.write_text("{}")

    assert retention.prune_results(results, 14, now=now) == 2

    assert not old.exists() and not old.parent.parent.exists(), "an emptied run folder goes with its result"
    assert kept.exists() and shared_new.exists()
    assert (results / "suite").is_dir(), "the suite's folder stays"
    assert retention.prune_results(results, 14, now=now) == 0


def test_prune_if_due_runs_at_most_once_an_hour_per_gx_root(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(retention.RETENTION_DAYS_ENV, raising=False)
    results = tmp_path / "uncommitted" / retention.RESULTS
    now = time.time()
    result_file(results, "run-a", "t1", 30, now)

    assert retention.prune_if_due(tmp_path, now=now) == 1
    late = result_file(results, "run-b", "t2", 30, now)
    assert retention.prune_if_due(tmp_path, now=now + retention.PRUNE_EVERY_SECONDS - 1) is None
    assert late.exists()
    assert retention.prune_if_due(tmp_path, now=now + retention.PRUNE_EVERY_SECONDS) == 1
    assert not late.exists()


@pytest.mark.parametrize("raw", ["0", "-3", "two weeks", "nan"])
def test_a_bad_retention_setting_names_the_variable(raw, monkeypatch) -> None:
    monkeypatch.setenv(retention.RETENTION_DAYS_ENV, raw)
    with pytest.raises(ValueError, match=retention.RETENTION_DAYS_ENV):
        retention.retention_days()


def test_a_bad_retention_setting_prunes_nothing_and_says_why_without_failing(
    tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv(retention.RETENTION_DAYS_ENV, "-1")
    old = result_file(tmp_path / "uncommitted" / retention.RESULTS, "run-a", "t1", 30, time.time())
    assert retention.prune_if_due(tmp_path) is None
    assert old.exists()
    assert retention.RETENTION_DAYS_ENV in caplog.text and "not pruned" in caplog.text


def test_retention_days_default_and_override(monkeypatch) -> None:
    monkeypatch.delenv(retention.RETENTION_DAYS_ENV, raising=False)
    assert retention.retention_days() == retention.DEFAULT_RETENTION_DAYS
    monkeypatch.setenv(retention.RETENTION_DAYS_ENV, "2.5")
    assert retention.retention_days() == 2.5


def test_the_shipped_site_index_lists_a_bounded_number_of_results() -> None:
    config = yaml.safe_load((GX_ROOT / "great_expectations.yml").read_text())
    limit = config["data_docs_sites"]["local_site"]["site_index_builder"]["validation_results_limit"]
    assert isinstance(limit, int) and limit > 0


@pytest.fixture
def small_gx_root(tmp_path, monkeypatch):
    """A copy of the GX project whose index lists at most 2 results."""
    from salestalk.quality import gx_runner

    root = tmp_path / "great_expectations"
    shutil.copytree(GX_ROOT, root, ignore=shutil.ignore_patterns("uncommitted"))
    config_path = root / "great_expectations.yml"
    config = yaml.safe_load(config_path.read_text())
    config["data_docs_sites"]["local_site"]["site_index_builder"]["validation_results_limit"] = 2
    config_path.write_text(yaml.safe_dump(config))
    monkeypatch.setattr(gx_runner, "GX_ROOT", root)
    monkeypatch.delenv(retention.RETENTION_DAYS_ENV, raising=False)
    return root


def test_real_gx_index_lists_the_newest_results_and_drops_the_pages_of_pruned_ones(small_gx_root) -> None:
    from salestalk.quality import gx_runner

    frame = pd.DataFrame({"id": ["a", None, "c"]})
    pages = {}
    with gx_runner.deferred_docs_index():
        for run in ("probe-run-1", "probe-run-2", "probe-run-3"):
            pages[run] = gx_runner.run_gx(frame, TINY_SUITE, ["id"], build_docs=True, run_name=run).docs_page
    index = small_gx_root / "uncommitted" / "data_docs" / "local_site" / "index.html"
    listed = set(re.findall(r"probe-run-\d", index.read_text(encoding="utf-8")))
    assert listed == {"probe-run-2", "probe-run-3"}, "the index lists the newest results only"
    assert all(page.is_file() for page in pages.values()), "every result keeps its own page"

    results = small_gx_root / "uncommitted" / retention.RESULTS
    (oldest,) = [p for p in results.rglob("*.json") if "probe-run-1" in p.parts]
    aged = time.time() - (retention.DEFAULT_RETENTION_DAYS + 1) * DAY
    os.utime(oldest, (aged, aged))
    (small_gx_root / "uncommitted" / retention.MARKER).unlink(missing_ok=True)

    with gx_runner.deferred_docs_index():
        gx_runner.run_gx(frame, TINY_SUITE, ["id"], build_docs=True, run_name="probe-run-4")

    assert not oldest.exists()
    assert not pages["probe-run-1"].exists(), "the pruned result's page goes at the next index build"
    assert pages["probe-run-2"].is_file() and pages["probe-run-3"].is_file()
    listed = set(re.findall(r"probe-run-\d", index.read_text(encoding="utf-8")))
    assert listed == {"probe-run-3", "probe-run-4"}
