"""DAG policy as tests: exact DAG ids, no import errors, retries, docs, tags, task order, parse discipline.

The checks live in tests/dags/policy.py and take the expected DAG ids, tenants and doc facts from the config
folder; test_added_source_policy.py runs the same checks on a temporary folder with a source added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.dags.policy import (
    APP_DAGS,
    DAGS_DIR,
    check_app_dag_policy,
    check_dag_ids,
    check_doc_md_facts,
    check_insight_schedule,
    check_insight_tenants_mapped,
    check_no_import_errors,
    check_source_dag_policy,
    check_task_order,
    check_tenants_mapped,
    expected_dag_ids,
    expected_source_dag_ids,
    make_dagbag,
    source_configs,
)
from tests.support.sources import a_source, copy_sources, source_file

if TYPE_CHECKING:
    from pathlib import Path

SOURCE_DAG_IDS = sorted(expected_source_dag_ids())


@pytest.fixture(scope="module")
def dagbag():
    return make_dagbag()


@pytest.fixture(scope="module")
def configs():
    return source_configs()


def test_no_import_errors(dagbag) -> None:
    check_no_import_errors(dagbag)


def test_dag_ids_are_exactly_the_config_files(dagbag) -> None:
    check_dag_ids(dagbag)
    assert expected_source_dag_ids(), "the config folder holds no source"


@pytest.mark.parametrize("dag_id", SOURCE_DAG_IDS)
def test_dag_policy(dagbag, configs, dag_id: str) -> None:
    check_source_dag_policy(dagbag.dags[dag_id], configs[dag_id])


@pytest.mark.parametrize("dag_id", SOURCE_DAG_IDS)
def test_task_order(dagbag, dag_id: str) -> None:
    check_task_order(dagbag.dags[dag_id])


@pytest.mark.parametrize("dag_id", SOURCE_DAG_IDS)
def test_tenants_are_mapped_from_the_config(dagbag, configs, dag_id: str) -> None:
    check_tenants_mapped(dagbag.dags[dag_id], configs[dag_id])


@pytest.mark.parametrize("dag_id", sorted(APP_DAGS))
def test_app_dag_policy(dagbag, dag_id: str) -> None:
    check_app_dag_policy(dagbag.dags[dag_id])


def test_insight_summaries_run_for_every_tenant_of_every_source(dagbag) -> None:
    check_insight_tenants_mapped(dagbag)


def test_insight_summaries_are_scheduled_by_the_inputs_partitioned_assets(dagbag) -> None:
    check_insight_schedule(dagbag)


@pytest.mark.parametrize("dag_id", SOURCE_DAG_IDS)
def test_doc_md_is_generated_from_the_config(dagbag, configs, dag_id: str) -> None:
    check_doc_md_facts(dagbag.dags[dag_id], configs[dag_id])


def _broken_copy(tmp_path: Path) -> tuple[Path, str]:
    """A copy of the config folder with one REST source's page size broken; returns it and that source."""
    folder = copy_sources(tmp_path / "sources")
    broken = a_source(kind="rest_api", folder=folder, what="to break")
    path = source_file(broken, folder)
    data = yaml.safe_load(path.read_text())
    data["extract"]["pagination"]["page_size"] = -5
    path.write_text(yaml.safe_dump(data))
    return folder, broken.name


def test_a_broken_config_hides_no_other_dag(tmp_path: Path, monkeypatch) -> None:
    folder, broken = _broken_copy(tmp_path)
    monkeypatch.setenv("SALESTALK_SOURCES_DIR", str(folder))
    bag = make_dagbag()
    assert set(bag.dag_ids) == expected_dag_ids(folder) - {f"source_{broken}"}
    assert len(bag.import_errors) == 1
    ((path, message),) = bag.import_errors.items()
    assert path.endswith("source_config_errors.py")
    assert f"{broken}.yaml: extract.pagination.page_size: must be > 0 (got -5)" in message


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


@pytest.mark.parametrize("dag_id", sorted({SOURCE_DAG_IDS[0], SOURCE_DAG_IDS[-1]}))
def test_task_process_builds_only_its_own_dag(dag_id: str) -> None:
    probe = _run_python(
        PARSE_PROBE.format(dags=str(DAGS_DIR / "sources.py")),
        _AIRFLOW_PARSING_CONTEXT_DAG_ID=dag_id,
        _AIRFLOW_PARSING_CONTEXT_TASK_ID="tenant.extract",
    )
    assert probe["dag_ids"] == [dag_id]
