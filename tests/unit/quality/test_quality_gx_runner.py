from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from salestalk.quality import sql
from salestalk.quality.suite import GX_ROOT, REPO_ROOT, load_suite, parse_suite, suite_path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

SOURCES = ("deals", "calls", "product_usage")
DOCS_DIR = GX_ROOT / "uncommitted" / "data_docs" / "local_site"


@pytest.fixture(scope="module")
def gx_runner():
    from salestalk.quality import gx_runner

    gx_runner.gx_context()
    return gx_runner


def deals_frame(n: int = 4) -> pd.DataFrame:
    stages = ["prospecting", "bogus", None, "closed_won"]
    return pd.DataFrame(
        {
            "deal_id": pd.Series([f"d{i}" for i in range(n)], dtype="str"),
            "account_name": pd.Series(["Acme"] * n, dtype="str"),
            "stage": pd.Series([stages[i % 4] for i in range(n)], dtype="str"),
            "amount": pd.Series(
                [[10.0, -1.0, 10_000_000.0, float("nan")][i % 4] for i in range(n)], dtype="float64"
            ),
            "currency": pd.Series([["USD", "EUR", "JPY", "GBP"][i % 4] for i in range(n)], dtype="str"),
            "owner_email": pd.Series(
                [["a@b.co", "nope", None, "x@y.io\n"][i % 4] for i in range(n)], dtype="str"
            ),
            "close_date": pd.Series([dt.date(2024, 1, 1 + i % 28) for i in range(n)], dtype="object"),
            "updated_at": pd.Series([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * n, dtype="object"),
        }
    )


def checked_in_state() -> tuple[str, dict[str, str]]:
    """git status of great_expectations/ (minus uncommitted/) and a hash of every file there."""
    hashes = {
        str(p.relative_to(GX_ROOT)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(GX_ROOT.rglob("*"))
        if p.is_file() and "uncommitted" not in p.relative_to(GX_ROOT).parts
    }
    status = ""
    if shutil.which("git"):
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=all", "--", "great_expectations",
             ":(exclude)great_expectations/uncommitted"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    return status, hashes


def test_file_context_is_rooted_at_great_expectations(gx_runner) -> None:
    context = gx_runner.gx_context()
    assert type(context).__name__ == "FileDataContext"
    assert os.path.realpath(context.root_directory) == os.path.realpath(GX_ROOT)
    assert gx_runner.gx_context() is context
    assert sorted(context.suites.all(), key=lambda s: s.name)


@pytest.mark.parametrize("source", SOURCES)
def test_gx_reads_each_committed_suite_like_our_loader_and_file_is_canonical(gx_runner, source: str) -> None:
    context = gx_runner.gx_context()
    gx_suite = context.suites.get(source)
    ours = load_suite(suite_path(source))
    assert gx_suite.name == ours.name
    assert [(e.type, e.kwargs, e.meta, e.id) for e in (x.configuration for x in gx_suite.expectations)] == [
        (e.type, dict(e.kwargs), dict(e.meta), e.id) for e in ours.expectations
    ]
    text = suite_path(source).read_text(encoding="utf-8")
    assert context.expectations_store.serialize(gx_suite) == text
    raw = json.loads(text)
    assert all(e["notes"] == e["meta"]["notes"] for e in raw["expectations"])


def test_run_gx_reports_results_and_failing_keys_with_sql_reason_strings(gx_runner) -> None:
    outcome = gx_runner.run_gx(deals_frame(), "deals", ["deal_id"])
    assert outcome.success is False
    assert outcome.suite_name == "deals"
    by_reason = {r.reason: r for r in outcome.results}
    assert list(by_reason) == list(load_suite(suite_path("deals")).reasons)
    assert by_reason["expect_table_columns_to_match_set"].success
    assert by_reason["expect_table_row_count_to_be_between"].observed_value == 4
    assert by_reason["expect_column_values_to_be_between(amount)"].unexpected_count == 1
    assert outcome.failing_keys == {
        ("d1",): [
            "expect_column_values_to_be_between(amount)",
            "expect_column_values_to_be_in_set(stage)",
            "expect_column_values_to_match_regex(owner_email)",
        ],
        ("d2",): [
            "expect_column_values_to_not_be_null(stage)",
            "expect_column_values_to_be_in_set(currency)",
        ],
        ("d3",): ["expect_column_values_to_not_be_null(amount)"],
    }


def test_run_gx_schema_drift_and_missing_column(gx_runner) -> None:
    df = deals_frame().drop(columns=["amount"]).assign(discount=1.0)
    outcome = gx_runner.run_gx(df, suite_path("deals"), ["deal_id"])
    by_reason = {r.reason: r for r in outcome.results}
    assert not by_reason["expect_table_columns_to_match_set"].success
    missing = by_reason["expect_column_values_to_be_between(amount)"]
    assert not missing.success
    assert missing.exception
    assert all("amount" not in r for reasons in outcome.failing_keys.values() for r in reasons)


def test_date_and_timestamp_columns_agree_with_sql_whether_objects_or_from_duckdb(gx_runner) -> None:
    suite = parse_suite({
        "name": "dates",
        "expectations": [
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "close_date", "min_value": "2024-01-02", "max_value": "2024-01-03"}},
            {"type": "expect_column_values_to_be_between",
             "kwargs": {"column": "updated_at", "min_value": "2024-01-02T00:00:00Z", "max_value": "2024-01-03T00:00:00Z"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "updated_at"}},
        ],
    })  # fmt: skip
    utc = dt.UTC
    rows = [
        (0, dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=utc)),
        (1, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 12, tzinfo=utc)),
        (2, dt.date(2024, 1, 3), dt.datetime(2024, 1, 3, tzinfo=utc)),
        (3, dt.date(2024, 1, 4), None),
        (4, None, dt.datetime(2024, 1, 3, 0, 0, 1, tzinfo=utc)),
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (_row_num INTEGER, close_date DATE, updated_at TIMESTAMPTZ)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    expected = sql.split(con, "t", suite).failures
    assert expected == {
        0: [
            "expect_column_values_to_be_between(close_date)",
            "expect_column_values_to_be_between(updated_at)",
        ],
        3: [
            "expect_column_values_to_be_between(close_date)",
            "expect_column_values_to_not_be_null(updated_at)",
        ],
        4: ["expect_column_values_to_be_between(updated_at)"],
    }
    from_duckdb = con.sql("SELECT * FROM t ORDER BY _row_num").df()
    as_objects = pd.DataFrame(rows, columns=["_row_num", "close_date", "updated_at"]).astype(object)
    for df in (from_duckdb, as_objects):
        outcome = gx_runner.run_gx(df, suite, ["_row_num"])
        assert [r.exception for r in outcome.results] == [None, None, None]
        assert {k[0]: v for k, v in outcome.failing_keys.items()} == expected


def test_gx_row_verdicts_uses_row_numbers_and_row_rules_only(gx_runner) -> None:
    verdicts = gx_runner.gx_row_verdicts(deals_frame(), "deals")
    assert sorted(verdicts) == [1, 2, 3]
    assert verdicts[3] == ["expect_column_values_to_not_be_null(amount)"]


def test_repeated_runs_are_fast_after_the_first(gx_runner) -> None:
    df = deals_frame(1000)
    gx_runner.run_gx(df, "deals", ["deal_id"])
    started = time.perf_counter()
    for _ in range(3):
        outcome = gx_runner.run_gx(df, "deals", ["deal_id"])
    per_run = (time.perf_counter() - started) / 3
    assert len(outcome.failing_keys) == 750
    assert per_run < 3.0


def test_build_docs_writes_index_and_leaves_checked_in_files_alone(gx_runner) -> None:
    before = checked_in_state()
    outcome = gx_runner.run_gx(deals_frame(), "deals", ["deal_id"], build_docs=True, run_name="pytest-docs")
    assert outcome.docs_index == DOCS_DIR / "index.html"
    assert outcome.docs_index.is_file()
    index_html = outcome.docs_index.read_text(encoding="utf-8")
    assert "deals" in index_html
    assert list((DOCS_DIR / "validations" / "deals" / "pytest-docs").rglob("*.html"))
    suite_page = (DOCS_DIR / "expectations" / "deals.html").read_text(encoding="utf-8")
    assert "Only currencies with FX rates" in suite_page
    assert checked_in_state() == before


def test_fresh_checkout_gets_no_scaffolding_outside_uncommitted(gx_runner, tmp_path, monkeypatch) -> None:
    root = tmp_path / "great_expectations"
    shutil.copytree(GX_ROOT, root, ignore=shutil.ignore_patterns("uncommitted"))
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    digests = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    monkeypatch.setattr(gx_runner, "GX_ROOT", root)

    outcome = gx_runner.run_gx(deals_frame(), "deals", ["deal_id"], build_docs=True, run_name="fresh")

    assert outcome.docs_index == root / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert outcome.docs_index.is_file()
    after = sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.relative_to(root).parts[0] != "uncommitted"
    )
    assert after == before
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in digests} == digests


def test_keys_normalise_numpy_and_missing_values(gx_runner) -> None:
    df = pd.DataFrame(
        {"k": np.array([1, 2, 3], dtype="int64"), "v": pd.Series([None, "a", None], dtype="str")}
    )
    suite = parse_suite(
        {
            "name": "k",
            "expectations": [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "v"}}],
        }
    )
    outcome = gx_runner.run_gx(df, suite, ["k", "v"])
    assert outcome.failing_keys == {
        (1, None): ["expect_column_values_to_not_be_null(v)"],
        (3, None): ["expect_column_values_to_not_be_null(v)"],
    }
    assert all(type(k[0]) is int for k in outcome.failing_keys)
    with pytest.raises(ValueError, match="key columns"):
        gx_runner.run_gx(df, suite, ["nope"])


def test_deferred_docs_index_builds_the_index_once_at_the_end_with_every_result(
    gx_runner, tmp_path, monkeypatch
) -> None:
    root = tmp_path / "great_expectations"
    shutil.copytree(GX_ROOT, root, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setattr(gx_runner, "GX_ROOT", root)
    index = root / "uncommitted" / "data_docs" / "local_site" / "index.html"

    with gx_runner.deferred_docs_index():
        pages = [
            gx_runner.run_gx(deals_frame(), "deals", ["deal_id"], build_docs=True, run_name=name).docs_page
            for name in ("deals-t001-run", "deals-t002-run")
        ]
        assert not index.exists(), "inside the block no result may rebuild the index"
        assert all(page.is_file() for page in pages), "each result's own page is built at once"

    html = index.read_text(encoding="utf-8")
    assert "deals-t001-run" in html and "deals-t002-run" in html

    with pytest.raises(RuntimeError), gx_runner.deferred_docs_index():
        gx_runner.run_gx(deals_frame(), "deals", ["deal_id"], build_docs=True, run_name="deals-t003-run")
        raise RuntimeError("a later tenant failed")
    assert "deals-t003-run" in index.read_text(encoding="utf-8"), "a failed block still indexes its results"
