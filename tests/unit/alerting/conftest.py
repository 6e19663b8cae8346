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
def source():
    """A source with the default data-quality thresholds (alert above 0.1% failing rows, below 99.5%
    completeness), found by that property, never by name."""
    from tests.support.sources import a_source

    def default_thresholds(config) -> bool:
        policy = config.alerting.data_quality
        return (policy.max_error_rate, policy.min_completeness) == (0.001, 0.995)

    return a_source(default_thresholds, what="with the default data-quality thresholds")


@pytest.fixture
def deals():
    """The demo source of the fake API's deals, found by its shape: only for test_freshness.py, which builds
    its curated table with the deal columns; new tests take ``source``."""
    from tests.support.sources import a_source, demo_resource

    return a_source(
        lambda c: demo_resource(c) == "deals", kind="rest_api", what="reading the fake API's deals"
    )


def with_routes(source, *routes):
    from salestalk.config.alerting import AlertingConfig

    alerting = AlertingConfig.model_validate({"routes": list(routes)})
    return source.model_copy(update={"alerting": alerting})
