"""Tenants from the registry through real Airflow (dag.test(), moto over HTTP, the fake API, DuckDB).

A copy of a demo REST source whose config says ``tenants: registry``. Onboarding a tenant (the operator
command) makes the next run include it, pausing leaves it out, an offboarded tenant's data stays in place,
and a registry entry with a bad id is reported by the ``tenants`` task and never run.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import DAYS
from tests.support.sources import add_source_copy, copy_sources, demo_sources
from tests.support.xcoms import xcom_values

pytestmark = pytest.mark.e2e

NAME = "registry_e2e"
BAD_ID = "Not-Canonical"


def run(dag, stack, day: str):
    """The run of ``day``'s interval (as dev.demo.run_source_day) and its DagRun."""
    from dev.demo import EXTRACTION_DELAY

    end = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    stack.api_server.api.set_clock(end + EXTRACTION_DELAY)
    dag_run = dag.test(logical_date=end)
    instances = dag_run.get_task_instances()
    failed = [f"{ti.task_id}[{ti.map_index}]" for ti in instances if ti.state == "failed"]
    mapped = {ti.rendered_map_index for ti in instances if ti.map_index >= 0}
    return dag_run, failed, mapped


def rejected(dag_run) -> list[str]:
    from salestalk.names import SELECT_TASK_ID

    return [v for value in xcom_values(dag_run, SELECT_TASK_ID, "registry_rejected") for v in value]


def cli(*args: str) -> int:
    from salestalk.__main__ import main

    return main(["tenants", *args])


@pytest.fixture
def registry_dag(harness, tmp_path, monkeypatch):
    """(dag, template tenants): the registry source's DAG; its config folder and registry are in force."""
    from salestalk.config.loader import SOURCES_DIR_ENV, load_sources
    from salestalk.dagfactory import build_dag

    folder = copy_sources(tmp_path / "sources", Path(os.environ[SOURCES_DIR_ENV]))
    template = demo_sources(kind="rest_api", folder=folder)[0]
    add_source_copy(
        folder, template, NAME, template_folder=folder, changes=lambda d: d.update(tenants="registry")
    )
    monkeypatch.setenv(SOURCES_DIR_ENV, str(folder))
    monkeypatch.setenv("SALESTALK_TENANT_REGISTRY", str(tmp_path / "tenants.yaml"))
    config = load_sources(folder).configs[NAME]
    assert config.tenants is None
    return build_dag(config, __file__), list(template.tenants)


def test_onboard_pause_offboard_take_effect_at_the_next_run(registry_dag, harness, tmp_path):
    dag, tenants = registry_dag
    first, second = tenants[:2]
    registry_file = tmp_path / "tenants.yaml"

    # Onboarded: the next run includes it. A bad id in the registry is reported and never run.
    assert cli("onboard", "--tenant", first, "--source", NAME) == 0
    doc = yaml.safe_load(registry_file.read_text())
    doc["tenants"].append({"tenant": BAD_ID, "status": "active", "sources": [NAME]})
    registry_file.write_text(yaml.safe_dump(doc))
    dag_run, failed, mapped = run(dag, harness.stack, DAYS[0])
    assert (str(dag_run.state), failed) == ("success", [])
    assert mapped == {first}
    assert [r for r in rejected(dag_run) if BAD_ID in r] and BAD_ID.lower() not in mapped
    assert harness.count(f"curated.{NAME}", first, DAYS[0]) > 0
    assert harness.count(f"curated.{NAME}", second, DAYS[0]) == 0

    # Onboard the second, pause the first: the next run has only the second.
    assert cli("onboard", "--tenant", second, "--source", NAME) == 0
    assert cli("pause", "--tenant", first) == 0
    dag_run, failed, mapped = run(dag, harness.stack, DAYS[1])
    assert (str(dag_run.state), failed) == ("success", [])
    assert mapped == {second}
    assert harness.count(f"curated.{NAME}", first, DAYS[1]) == 0
    assert harness.count(f"curated.{NAME}", second, DAYS[1]) > 0

    # Offboarded: no new runs for it, and every row and object it had stays in place.
    curated, objects = harness.curated(NAME), harness.objects(f"tenants/{second}/")
    assert any(f"/{NAME}/" in k for k in objects)
    assert cli("offboard", "--tenant", second) == 0
    dag_run, failed, mapped = run(dag, harness.stack, DAYS[1])
    assert failed == [] and mapped == set()
    assert harness.curated(NAME) == curated
    assert harness.objects(f"tenants/{second}/") == objects
