"""Every route against a local receiver: loopback HTTP for Slack and PagerDuty, moto SNS -> SQS."""

from __future__ import annotations

import json

import pytest

from salestalk.alerting.routes import deliver, read_alert_log
from tests.unit.alerting.test_payload import make

SLACK = {"kind": "slack"}
PAGERDUTY = {"kind": "pagerduty"}
LOG = {"kind": "log"}


def routes(*specs):
    from salestalk.config.alerting import AlertingConfig

    return AlertingConfig.model_validate({"routes": list(specs)}).routes


def test_local_log_route_writes_one_json_line(alert_dir) -> None:
    alert = make()
    assert deliver(alert, routes(LOG)) == {"log": "sent"}
    (entry,) = read_alert_log()
    assert entry == json.loads(alert.to_json())


def test_slack_webhook_gets_text_with_links(alert_dir, receiver) -> None:
    alert = make()
    assert deliver(alert, routes(SLACK)) == {"slack": "sent"}
    (request,) = receiver.at("/slack")
    body = request.json
    assert request.headers["Content-Type"] == "application/json"
    assert alert.dedup_key in body["text"] and "docs/runbooks/task-failed.md" in body["text"]
    assert "/dags/source_deals/runs/" in json.dumps(body["blocks"])


def test_pagerduty_events_v2_with_dedup_key(alert_dir, receiver) -> None:
    alert = make()
    assert deliver(alert, routes(PAGERDUTY)) == {"pagerduty": "sent"}
    (request,) = receiver.at("/pagerduty")
    body = request.json
    assert body["routing_key"] == "routing-key-123" and body["event_action"] == "trigger"
    assert body["dedup_key"] == alert.dedup_key
    assert body["payload"]["severity"] == "error" and body["payload"]["source"] == "source_deals"
    assert body["payload"]["custom_details"]["tenants"] == ["globex"]
    assert {link["text"] for link in body["links"]} == {"Airflow run", "Runbook"}


def test_pagerduty_skips_alerts_below_its_severity(alert_dir, receiver) -> None:
    alert = make(alert_type="dq_error_rate")  # warning
    assert deliver(alert, routes(PAGERDUTY)) == {"pagerduty": "skipped"}
    assert receiver.at("/pagerduty") == []


def test_the_same_incident_is_sent_once_per_route(alert_dir, receiver) -> None:
    every = routes(LOG, SLACK, PAGERDUTY)
    assert deliver(make(), every) == {"log": "sent", "slack": "sent", "pagerduty": "sent"}
    later = make(created_at="2099-01-01T00:00:00Z", what="the same incident, reported again")
    assert deliver(later, every) == {"log": "duplicate", "slack": "duplicate", "pagerduty": "duplicate"}
    assert len(receiver.at("/slack")) == len(receiver.at("/pagerduty")) == len(read_alert_log()) == 1


def test_a_failed_send_is_retried_later_and_does_not_block_other_routes(alert_dir, receiver) -> None:
    receiver.status = 500
    outcome = deliver(make(), routes(SLACK, LOG))
    assert outcome["slack"].startswith("error: HTTPError") and outcome["log"] == "sent"
    receiver.status = 200
    assert deliver(make(), routes(SLACK, LOG)) == {"slack": "sent", "log": "duplicate"}
    assert len(receiver.at("/slack")) == 2


@pytest.fixture
def sns_to_sqs(moto_server, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERTS_AWS",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_server.endpoint_url, "region_name": "us-east-1"},
            }
        ),
    )
    sns, sqs = moto_server.client("sns"), moto_server.client("sqs")
    topic = sns.create_topic(Name="salestalk-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="salestalk-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return topic, sqs, queue_url


def test_sns_route_publishes_through_the_provider_notifier(alert_dir, sns_to_sqs) -> None:
    topic, sqs, queue_url = sns_to_sqs
    alert = make()
    sns_route = {"kind": "sns", "topic_arn": topic, "aws_conn_id": "alerts_aws"}
    assert deliver(alert, routes(sns_route)) == {"sns": "sent"}
    assert deliver(alert, routes(sns_route)) == {"sns": "duplicate"}
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["TopicArn"] == topic and envelope["Subject"] == alert.title[:100]
    assert envelope["MessageAttributes"]["dedup_key"]["Value"] == alert.dedup_key
    assert json.loads(envelope["Message"])["dedup_key"] == alert.dedup_key


def test_route_config_refuses_unknown_kinds_and_duplicate_names() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        routes({"kind": "email"})
    with pytest.raises(ValidationError, match="duplicate route name"):
        routes(SLACK, SLACK)
    assert [r.name for r in routes(SLACK, {"kind": "slack", "name": "slack-oncall", "connection": "c2"})] == [
        "slack",
        "slack-oncall",
    ]
