"""The local stacks' OpenLineage settings (dev.localairflow.lineage_env) and the shipped transports, driven
through the real OpenLineage client: the file default, a loopback HTTP receiver, the compose default."""

from __future__ import annotations

import json
import re

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.transport import get_default_factory
from openlineage.client.uuid import generate_new_uuid

from dev.localairflow import LINEAGE_FILE, lineage_env
from salestalk import REPO_ROOT
from tests.support.receiver import Receiver


def emit(transport_config: dict) -> RunEvent:
    client = OpenLineageClient(transport=get_default_factory().create(transport_config))
    event = RunEvent(
        eventType=RunState.COMPLETE,
        eventTime="2026-11-02T00:05:00Z",
        run=Run(runId=str(generate_new_uuid())),
        job=Job(namespace="salestalk-test", name="source_x.tenant.extract"),
        producer="https://example.invalid/test",
    )
    client.emit(event)
    return event


def test_the_default_is_a_json_lines_file_under_the_home(tmp_path) -> None:
    env = lineage_env(tmp_path, environ={})
    transport = json.loads(env["AIRFLOW__OPENLINEAGE__TRANSPORT"])
    assert transport == {"type": "file", "log_file_path": str(tmp_path / LINEAGE_FILE), "append": True}
    assert env["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] == "True"
    first, second = emit(transport), emit(transport)
    lines = (tmp_path / LINEAGE_FILE).read_text().splitlines()
    assert [json.loads(line)["run"]["runId"] for line in lines] == [first.run.runId, second.run.runId]


@pytest.mark.parametrize(
    ("environ", "kept"),
    [
        pytest.param({"OPENLINEAGE_URL": "http://marquez:5000"}, {}, id="openlineage-url"),
        pytest.param({"OPENLINEAGE_CONFIG": "/etc/ol.yml"}, {}, id="openlineage-yml"),
        pytest.param(
            {"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'},
            {"AIRFLOW__OPENLINEAGE__TRANSPORT": '{"type": "console"}'},
            id="airflow-transport",
        ),
        pytest.param(
            {"AIRFLOW__OPENLINEAGE__DISABLED": "true"},
            {"AIRFLOW__OPENLINEAGE__DISABLED": "true"},
            id="disabled",
        ),
    ],
)
def test_a_developers_choice_wins(tmp_path, environ, kept) -> None:
    env = lineage_env(tmp_path, environ=environ)
    assert {k: v for k, v in env.items() if k in {"AIRFLOW__OPENLINEAGE__TRANSPORT", *kept}} == kept
    assert not (tmp_path / LINEAGE_FILE).parent.exists()


def test_http_transport_reaches_a_loopback_receiver() -> None:
    with Receiver() as receiver:
        event = emit({"type": "http", "url": receiver.url(""), "endpoint": "api/v1/lineage"})
        [received] = receiver.wait_for("/api/v1/lineage")
    assert received.json["run"]["runId"] == event.run.runId


def test_compose_default_transport_is_a_file_in_the_logs_volume() -> None:
    text = (REPO_ROOT / ".env.example").read_text()
    [line] = re.findall(r"^AIRFLOW__OPENLINEAGE__TRANSPORT=(.*)$", text, re.MULTILINE)
    transport = json.loads(line)
    assert transport["type"] == "file" and transport["log_file_path"].startswith("/opt/airflow/logs/")
    compose = (REPO_ROOT / "docker-compose.yaml").read_text()
    assert "- airflow-logs:/opt/airflow/logs" in compose
