from __future__ import annotations

import json

import pytest

from tests.support.receiver import Receiver


@pytest.fixture
def alert_dir(tmp_path, monkeypatch):
    folder = tmp_path / "alerts"
    monkeypatch.setenv("SALESTALK_ALERT_DIR", str(folder))
    monkeypatch.setenv("SALESTALK_AIRFLOW_UI_URL", "http://airflow.test:8080")
    return folder


@pytest.fixture
def receiver(monkeypatch):
    with Receiver() as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SALESTALK_SLACK", json.dumps({"conn_type": "http", "host": running.url("/slack")})
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SALESTALK_PAGERDUTY",
            json.dumps(
                {"conn_type": "http", "host": running.url("/pagerduty"), "password": "routing-key-123"}
            ),
        )
        yield running


@pytest.fixture
def deals():
    from salestalk.config.loader import load_sources

    return load_sources(only="deals").configs["deals"]


def with_routes(source, *routes):
    from salestalk.config.alerting import AlertingConfig

    alerting = AlertingConfig.model_validate({"routes": list(routes)})
    return source.model_copy(update={"alerting": alerting})
