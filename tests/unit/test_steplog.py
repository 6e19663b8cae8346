"""The step summary that ends each task log, the next step per failure, and quieting library loggers."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys

import pytest
import requests

from salestalk import REPO_ROOT, pipeline
from salestalk.batch import Batch
from salestalk.config.loader import load_sources
from salestalk.extract.rest import ExtractError
from salestalk.logs import THIRD_PARTY, quiet_third_party
from salestalk.names import EXTRACT, PUBLISH, QUARANTINE, VALIDATE
from salestalk.steplog import (
    NextStep,
    aligned,
    next_step,
    report_next_step,
    step_table,
    top_reasons,
    truncated,
)
from salestalk.storage.keys import UnsafeKey
from tests.support.subprocesses import REPO_PYTHONPATH

START = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
BATCH = Batch("src", "tenant-a", START, START + dt.timedelta(days=1), "run-1")
WHERE = "--source src --tenant tenant-a --interval 2030-01-01T00:00:00Z"


def test_aligned_rows_share_one_right_aligned_value_column() -> None:
    lines = aligned([("rows in", "1,234"), ("a much longer label", "5"), ("error rate", "1.35%")])
    assert lines == [
        "  rows in              1,234",
        "  a much longer label      5",
        "  error rate           1.35%",
    ]
    assert aligned([]) == []


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        pytest.param({"a": 1, "b": 3, "c": 2}, [("b", "3"), ("c", "2"), ("a", "1")], id="by-count"),
        pytest.param({"z": 2, "m": 2, "a": 1}, [("m", "2"), ("z", "2"), ("a", "1")], id="ties-by-name"),
        pytest.param({"big": 12345}, [("big", "12,345")], id="thousands"),
        pytest.param({}, [], id="none"),
    ],
)
def test_reasons_are_sorted_by_count_most_first(reasons, expected) -> None:
    assert top_reasons(reasons) == expected


def test_reasons_past_the_limit_fold_into_one_row_with_their_total() -> None:
    reasons = {f"rule_{i:02d}": 100 - i for i in range(14)}
    rows = top_reasons(reasons, limit=10)
    assert rows[:2] == [("rule_00", "100"), ("rule_01", "99")]
    assert len(rows) == 11
    assert rows[-1] == ("... and 4 more", str(sum(100 - i for i in range(10, 14))))


@pytest.mark.parametrize(
    ("count", "limit", "expected_tail"),
    [
        pytest.param(3, 5, "k2", id="short-list-whole"),
        pytest.param(5, 5, "k4", id="exactly-the-limit"),
        pytest.param(12, 5, "... and 7 more", id="long-list-truncated"),
    ],
)
def test_long_key_lists_are_truncated(count, limit, expected_tail) -> None:
    keys = [f"k{i}" for i in range(count)]
    shown = truncated(keys, limit)
    assert shown[: min(count, limit)] == keys[:limit]
    assert shown[-1] == expected_tail
    assert len(shown) == min(count, limit) + (count > limit)


def test_validate_table_has_counts_reasons_by_count_and_no_dict() -> None:
    counts = {
        "rows": 1297,
        "failing": 4,
        "passing": 1293,
        "passed": 1287,
        "duplicates_dropped": 6,
        "error_rate": 4 / 1297,
        "reasons": {"rule_in_set(currency)": 1, "rule_between(amount)": 3, "rule_not_null(stage)": 1},
        "table_failures": [],
        "unexpected_columns": ["surprise"],
        "missing_columns": [],
        "s3_writes": {"attempted": 0, "blocked": 0, "written": 0, "duplicate": 0, "dead_lettered": 0},
    }
    assert step_table(VALIDATE, BATCH, counts).splitlines() == [
        f"validate {BATCH.describe()}: done",
        "  rows in                  1,297",
        "  failing (to quarantine)      4",
        "  passed                   1,287",
        "  duplicates dropped           6",
        "  error rate               0.31%",
        "  reason                    rows",
        "  rule_between(amount)         3",
        "  rule_in_set(currency)        1",
        "  rule_not_null(stage)         1",
        "  S3 objects written           0",
        "  unexpected columns: surprise",
    ]


def test_extract_table_shows_rejections_and_truncates_the_keys_it_wrote() -> None:
    keys = [f"tenants/tenant-a/raw/src/part-{i:05d}.parquet" for i in range(8)]
    counts = {
        "extracted": 80,
        "landed": 78,
        "parts": 7,
        "rejected_before_landing": 2,
        "rejection_reasons": {"contract_tenant_mismatch(tenant_id)": 2},
        "window_since": "2029-12-31T18:00:00Z",
        "s3_writes": {"attempted": 9, "blocked": 0, "written": 8, "duplicate": 1, "dead_lettered": 0},
    }
    lines = step_table(EXTRACT, BATCH, counts, keys).splitlines()
    assert "  rejected before landing                 2" in lines
    assert "  contract_tenant_mismatch(tenant_id)     2" in lines
    assert "  S3 objects written                      8" in lines
    assert "  S3 objects already there                1" in lines
    assert lines[-6:] == [f"    {k}" for k in keys[:5]] + ["    ... and 3 more"]
    assert not any("window_since" in line for line in lines)


def test_quarantine_table_lists_reasons_and_the_quarantine_object() -> None:
    key = "tenants/tenant-a/quarantine/src/interval=x/quarantined-abc.parquet"
    counts = {"quarantined": 3, "quarantine_key": key, "reasons": {"r1": 1, "r2": 3}}
    table = step_table(QUARANTINE, BATCH, counts, [key])
    assert table.splitlines()[1:] == [
        "  quarantined            3",
        "  reason              rows",
        "  r2                     3",
        "  r1                     1",
        "  S3 objects written     1",
        f"    {key}",
    ]


def test_a_failed_step_ends_with_the_error_the_next_step_and_the_runbook() -> None:
    error = RuntimeError("first line of the error\nsecond line")
    advice = NextStep("do this", "docs/runbooks/task-failed.md")
    lines = step_table(PUBLISH, BATCH, None, error=error, advice=advice).splitlines()
    assert lines[0] == f"publish {BATCH.describe()}: FAILED (RuntimeError)"
    assert lines[-3:] == [
        "  error: first line of the error",
        "  next: do this",
        "  runbook: docs/runbooks/task-failed.md",
    ]
    long = step_table(PUBLISH, BATCH, None, error=RuntimeError("x" * 1000), advice=advice)
    assert max(len(line) for line in long.splitlines()) < 320


def a_source():
    configs = load_sources().configs
    return configs[sorted(configs)[0]]


def held_back(validation: dict) -> pipeline.PublishHeldBack:
    source = a_source()
    source = source.model_copy(
        update={"quarantine": source.quarantine.model_copy(update={"on_table_failure": "hold"})}
    )
    reason = pipeline.hold_back_reason(source, validation)
    assert reason, validation
    return pipeline.PublishHeldBack(f"publish held back for {BATCH.describe()}: {reason}")


ERROR_RATE = {"table_failures": [], "error_rate": 0.9, "failing": 9, "rows": 10}
TABLE_CHECK = {
    "table_failures": ["expect_table_row_count: observed 0"],
    "error_rate": 0.0,
    "failing": 0,
    "rows": 0,
}


@pytest.mark.parametrize(
    ("step", "make_error", "runbook", "hint"),
    [
        pytest.param(PUBLISH, lambda: held_back(ERROR_RATE), "quarantine-redrive", f"quarantine list {WHERE}", id="held-back-rate"),
        pytest.param(PUBLISH, lambda: held_back(TABLE_CHECK), "schema-drift", f"status {WHERE}", id="held-back-table"),
        pytest.param(EXTRACT, lambda: ExtractError("GET /x failed after 5 attempts"), "source-api", "source API", id="api"),
        pytest.param(EXTRACT, lambda: requests.ConnectionError("refused"), "source-api", "source API", id="connection"),
        pytest.param(EXTRACT, lambda: UnsafeKey("key 'x' is not inside 'tenants/b/'"), "cross-tenant-write-blocked", "another tenant", id="unsafe-key"),
        pytest.param(QUARANTINE, lambda: RuntimeError("quarantine for tenant a wrote under other tenants: ['a', 'b']"), "cross-tenant-write-blocked", "another tenant", id="other-tenant"),
        pytest.param(VALIDATE, lambda: pipeline.MissingUpstream("no staged rows"), "task-failed", "clear this tenant's extract", id="missing-upstream"),
        pytest.param("load_to_staging", lambda: ValueError("checksum mismatch for k"), "task-failed", "re-land", id="checksum"),
        pytest.param(EXTRACT, lambda: ValueError("inbound/a.csv is not valid csv"), "task-failed", "resend", id="bad-file"),
        pytest.param(VALIDATE, lambda: RuntimeError("GX and the compiled SQL disagree"), "task-failed", f"status {WHERE}", id="other"),
    ],
)  # fmt: skip
def test_each_failure_leads_to_its_runbook(step, make_error, runbook, hint) -> None:
    advice = next_step(step, make_error(), BATCH)
    assert advice.runbook == f"docs/runbooks/{runbook}.md"
    assert (REPO_ROOT / advice.runbook).is_file()
    assert hint in advice.action
    assert advice.lines() == [f"next: {advice.action}", f"runbook: {advice.runbook}"]


def test_the_report_points_at_status_for_the_interval() -> None:
    advice = report_next_step("src", START)
    assert "status --source src --interval 2030-01-01T00:00:00Z" in advice.action
    assert (REPO_ROOT / advice.runbook).is_file()


@pytest.fixture
def logger_levels():
    names = (*THIRD_PARTY, "salestalk", "salestalk.pipeline")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_quiet_raises_library_loggers_and_leaves_ours_and_explicit_ones(logger_levels) -> None:
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.NOTSET)
    logging.getLogger("botocore").setLevel(logging.DEBUG)  # set on purpose by the deployment
    logging.getLogger("salestalk").setLevel(logging.NOTSET)
    quiet_third_party()
    quiet_third_party()
    assert logging.getLogger("great_expectations._docs_decorators").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("urllib3.connectionpool").getEffectiveLevel() == logging.WARNING
    assert logging.getLogger("botocore").level == logging.DEBUG
    assert logging.getLogger("salestalk").level == logging.NOTSET
    assert not logging.getLogger("great_expectations.core").isEnabledFor(logging.INFO)
    assert logging.getLogger("great_expectations.core").isEnabledFor(logging.WARNING)


GX_IMPORT = """
import sys
import airflow  # configures logging: a stdout handler on the root logger, at INFO
if sys.argv[1] == "quiet":
    from salestalk.logs import quiet_third_party
    quiet_third_party()
from salestalk.quality.gx_runner import gx_context
gx_context()
"""


def gx_import_output(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", GX_IMPORT, mode],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": REPO_PYTHONPATH,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # Airflow's default; the tests run at WARNING
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    return done.stdout + done.stderr


def test_quiet_keeps_gx_import_and_context_lines_out_of_the_output() -> None:
    assert "Skipping registering function" in gx_import_output("loud")
    quiet = gx_import_output("quiet")
    assert "Skipping registering" not in quiet and "great_expectations" not in quiet, quiet[-2000:]
