"""Test isolation: Airflow gets its own home and SQLite DB, set before anything imports airflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from dev.localairflow import configure

configure(Path(tempfile.mkdtemp(prefix="salestalk-test-airflow-")))
os.environ.setdefault("SALESTALK_BUCKET", "salestalk-test")
os.environ.setdefault("SALESTALK_ALERT_DIR", tempfile.mkdtemp(prefix="salestalk-test-alerts-"))


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if "/e2e/" in item.nodeid or item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)
    # The long files (real schedulers, live stacks, both warehouses end to end) go first, so that under
    # `pytest -n 2 --dist loadfile --no-loadscope-reorder` the short ones fill the gaps instead of one long
    # file ending the run alone (xdist's default reorder would put the files with the fewest tests last).
    items.sort(key=lambda item: not any(item.get_closest_marker(m) for m in ("e2e", "services", "long")))


def pytest_runtest_makereport(item, call):
    """Under CI=true a skipped test that needs Postgres or Redis is a failure, never a silent pass."""
    if call.excinfo is None or not call.excinfo.errisinstance(pytest.skip.Exception):
        return None
    if os.environ.get("CI", "").lower() == "true" and item.get_closest_marker("services"):
        from _pytest.reports import TestReport

        report = TestReport.from_item_and_call(item, call)
        report.outcome = "failed"
        report.longrepr = f"CI=true: a test that needs Postgres/Redis must not skip: {call.excinfo.value}"
        return report
    return None


pytest_plugins = ["tests.support.fixtures", "tests.support.warehouses"]
