"""DAG policy as tests: exact DAG ids, no import errors, retries, docs, tags, task order, parse discipline."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from salestalk import REPO_ROOT
from salestalk.config.loader import SOURCES_DIR, source_files
from salestalk.config.tags import TAG_VOCABULARY

DAGS_DIR = REPO_ROOT / "dags"
STEP_ORDER = [
    "tenant.extract",
    "tenant.load_to_staging",
    "tenant.validate",
    "tenant.quarantine",
    "tenant.publish",
]


def make_dagbag(dag_folder: Path = DAGS_DIR):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


@pytest.fixture(scope="module")
def dagbag():
    return make_dagbag()


APP_DAGS = {"app_insight_summaries", "monitor_freshness"}


def expected_source_dag_ids() -> set[str]:
    return {f"source_{p.stem}" for p in source_files(SOURCES_DIR)}


def expected_dag_ids() -> set[str]:
    return expected_source_dag_ids() | APP_DAGS


def test_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_dag_ids_are_exactly_the_config_files(dagbag) -> None:
    assert set(dagbag.dag_ids) == expected_dag_ids()
    assert len(expected_source_dag_ids()) >= 3


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_dag_policy(dagbag, dag_id: str) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags[dag_id]
    assert dag.tags and set(dag.tags) <= TAG_VOCABULARY
    assert "source" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.doc_md and "Runbook" in dag.doc_md and "docs/runbooks/" in dag.doc_md
    assert set(dag.owner_links) >= {"runbook"} and len(dag.owner_links) == 2
    assert all(link.startswith("https://") for link in dag.owner_links.values())
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout <= dt.timedelta(hours=24)
        assert task.owner not in (None, "", "airflow"), task.task_id


@pytest.mark.parametrize("dag_id", sorted(expected_source_dag_ids()))
def test_task_order(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert sorted(dag.task_ids) == sorted([*STEP_ORDER, "report"])
    for upstream, downstream in zip(STEP_ORDER, [*STEP_ORDER[1:], "report"], strict=True):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("report").trigger_rule == "all_done"


@pytest.mark.parametrize("dag_id", sorted(APP_DAGS))
def test_app_dag_policy(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and set(dag.tags) <= TAG_VOCABULARY
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff and task.execution_timeout is not None


def test_doc_md_is_generated_from_the_config(dagbag) -> None:
    doc = dagbag.dags["source_deals"].doc_md
    for fact in ("acme, globex, initech", "@daily", "15 min", "deal_id", "5.00%", "revenue-data"):
        assert fact in doc


def _broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, folder)
    data = yaml.safe_load((folder / "calls.yaml").read_text())
    data["extract"]["pagination"]["page_size"] = -5
    (folder / "calls.yaml").write_text(yaml.safe_dump(data))
    return folder


def test_a_broken_config_hides_no_other_dag(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SALESTALK_SOURCES_DIR", str(_broken_copy(tmp_path)))
    bag = make_dagbag()
    assert set(bag.dag_ids) == expected_dag_ids() - {"source_calls"}
    assert len(bag.import_errors) == 1
    ((path, message),) = bag.import_errors.items()
    assert path.endswith("source_config_errors.py")
    assert "calls.yaml: extract.pagination.page_size: must be > 0 (got -5)" in message


def _run_python(code: str, **env: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


PARSE_PROBE = """
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1] if len(sys.argv) > 1 else {dags!r})
elapsed = time.perf_counter() - started
heavy = [m for m in ("great_expectations", "pandas", "boto3", "botocore", "duckdb", "snowflake.connector",
                     "pyarrow", "requests", "moto") if m in sys.modules]
print(json.dumps({{"dag_ids": sorted(bag.dag_ids), "heavy": heavy, "errors": list(bag.import_errors),
                  "seconds": elapsed}}))
"""


def test_parsing_imports_nothing_heavy() -> None:
    probe = _run_python(PARSE_PROBE.format(dags=str(DAGS_DIR)))
    assert probe["errors"] == []
    assert probe["heavy"] == []
    assert set(probe["dag_ids"]) == expected_dag_ids()


def test_task_process_builds_only_its_own_dag() -> None:
    probe = _run_python(
        PARSE_PROBE.format(dags=str(DAGS_DIR / "sources.py")),
        _AIRFLOW_PARSING_CONTEXT_DAG_ID="source_calls",
        _AIRFLOW_PARSING_CONTEXT_TASK_ID="tenant.extract",
    )
    assert probe["dag_ids"] == ["source_calls"]
