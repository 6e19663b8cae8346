"""The alert payload: its fields, links and dedup key."""

from __future__ import annotations

import pytest

from salestalk import REPO_ROOT
from salestalk.alerting.payload import Alert, dedup_key, run_url
from salestalk.config.alerting import ALERT_TYPES


def make(**overrides) -> Alert:
    values = {
        "alert_type": "task_failed",
        "source": "deals",
        "dag_id": "source_deals",
        "run_id": "manual__2026-11-02T00:00:00+00:00",
        "tenants": ("globex",),
        "what": "publish failed for tenant(s) globex: held back",
        "counts": {"failing": 12, "rows": 200},
        "incident": "task:tenant.publish",
    }
    return Alert(**{**values, **overrides})


def test_payload_carries_what_on_call_needs(alert_dir) -> None:
    payload = make().to_dict()
    assert payload["source"] == "deals" and payload["tenants"] == ["globex"]
    assert payload["run_id"] == "manual__2026-11-02T00:00:00+00:00"
    assert payload["what"].startswith("publish failed") and payload["counts"]["failing"] == 12
    assert payload["links"]["run"] == (
        "http://airflow.test:8080/dags/source_deals/runs/manual__2026-11-02T00%3A00%3A00%2B00%3A00"
    )
    assert payload["links"]["runbook"].endswith("docs/runbooks/task-failed.md")
    assert (REPO_ROOT / payload["links"]["runbook_path"]).is_file()
    assert (REPO_ROOT / payload["links"]["source_runbook_path"]).is_file()
    assert payload["dedup_key"].startswith("salestalk-") and payload["severity"] == "error"


def test_dedup_key_is_the_incident_not_the_moment() -> None:
    first, again = make(created_at="2026-11-02T00:00:00Z"), make(created_at="2026-11-02T01:00:00Z")
    assert first.dedup_key == again.dedup_key
    assert make(tenants=("acme",)).dedup_key != first.dedup_key
    assert make(run_id="scheduled__2026-11-03").dedup_key != first.dedup_key
    assert make(incident="task:tenant.extract").dedup_key != first.dedup_key
    assert make(alert_type="deadline_missed").dedup_key != first.dedup_key
    assert dedup_key("freshness", "d", None, ("b", "a"), "x") == dedup_key(
        "freshness", "d", None, ("a", "b"), "x"
    )


def test_task_links_point_at_the_mapped_instance(alert_dir) -> None:
    assert run_url("source_deals", "r1", "tenant.publish", 2).endswith(
        "/dags/source_deals/runs/r1/tasks/tenant.publish/mapped/2"
    )


@pytest.mark.parametrize("alert_type", ALERT_TYPES)
def test_every_alert_type_has_a_runbook(alert_type: str) -> None:
    alert = make(alert_type=alert_type)
    assert (REPO_ROOT / alert.runbook_path).is_file(), alert.runbook_path
    assert alert.runbook_path in alert.text() or alert.to_dict()["links"]["runbook"] in alert.text()


def test_unknown_alert_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alert type"):
        make(alert_type="sla_miss")
