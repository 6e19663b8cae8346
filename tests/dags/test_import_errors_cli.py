"""A broken config shows up in `airflow dags list-import-errors`, and every good DAG is still listed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from dev.localairflow import airflow_env
from salestalk import REPO_ROOT
from tests.dags.policy import expected_dag_ids
from tests.support.sources import a_source, copy_sources, source_file
from tests.support.subprocesses import REPO_PYTHONPATH

AIRFLOW = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"


def airflow(*args: str, env: dict[str, str], ok_codes: tuple[int, ...] = (0,)) -> str:
    result = subprocess.run(
        [AIRFLOW, *args], capture_output=True, text=True, env=env, check=False, timeout=180, cwd=REPO_ROOT
    )
    assert result.returncode in ok_codes, result.stderr[-3000:]
    return result.stdout


def last_json(output: str):
    return json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("[")))


def test_cli_lists_exactly_one_import_error_naming_the_file(tmp_path: Path) -> None:
    sources = copy_sources(tmp_path / "sources")
    broken = a_source(kind="rest_api", folder=sources, what="to break")
    path = source_file(broken, sources)
    data = yaml.safe_load(path.read_text())
    data["extract"]["pagination"]["page_size"] = -5
    path.write_text(yaml.safe_dump(data))
    env = {
        **os.environ,
        **airflow_env(tmp_path / "airflow"),
        "SALESTALK_SOURCES_DIR": str(sources),
        "PYTHONPATH": REPO_PYTHONPATH,
    }
    airflow("db", "migrate", env=env)
    airflow("dags", "reserialize", env=env)
    errors = last_json(airflow("dags", "list-import-errors", "-o", "json", env=env, ok_codes=(1,)))
    assert len(errors) == 1
    assert errors[0]["filepath"] == "source_config_errors.py"
    assert f"{broken.name}.yaml: extract.pagination.page_size: must be > 0 (got -5)" in errors[0]["error"]
    dags = last_json(airflow("dags", "list", "-o", "json", env=env))
    assert sorted(d["dag_id"] for d in dags) == sorted(expected_dag_ids(sources) - {broken.dag_id})
