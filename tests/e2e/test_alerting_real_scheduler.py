"""Deadline and failure alerts under a real scheduler: api-server, scheduler, dag-processor, triggerer.

Three copies of the deals source, one tenant each, run at the same time against the fake API:
- ``alert_late`` (acme): every API request is slowed, so the run outlives its 15-second deadline; the
  deadline watch must page exactly once with a correct payload, delivered to a loopback receiver
  (the Slack route) and the local alert log, while the run itself still succeeds;
- ``alert_ontime`` (initech): a 10-minute deadline and clean data: no alert of any kind;
- ``alert_failing`` (globex): half the rows are broken, publish is held back and fails: exactly one
  alert, ``dq_error_rate``, saying nothing was published (neither the publish task's failure nor the
  ``report`` task's roll-up failure is paged again, and no deadline alert follows the failed run).

The deadline watch waits in the triggerer and only runs under the scheduler (never in ``dag.test()``),
hence this test.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time

import pytest
import yaml

from salestalk.config.loader import SOURCES_DIR
from tests.support.receiver import Receiver
from tests.support.sources import a_source, demo_resource, source_file

pytestmark = pytest.mark.e2e

LATE, ONTIME, FAILING = "alert_late", "alert_ontime", "alert_failing"
TENANT = {LATE: "acme", ONTIME: "initech", FAILING: "globex"}
DEADLINE_MINUTES = {LATE: 0.25, ONTIME: 10, FAILING: 10}
SLOW_SECONDS = 2.0


def write_sources(folder, today: dt.date) -> None:
    """The test sources: deals copies with one tenant, a start date of today (so unpausing schedules
    nothing), quiet DQ thresholds, and alert routes to the local log and the Slack receiver."""
    folder.mkdir()
    shutil.copy(SOURCES_DIR / "_defaults.yaml", folder / "_defaults.yaml")
    template = a_source(
        lambda c: demo_resource(c) == "deals", kind="rest_api", what="reading the fake API's deals"
    )
    deals = yaml.safe_load(source_file(template).read_text())
    for name, tenant in TENANT.items():
        config = {
            **deals,
            "name": name,
            "description": f"deals, {name} alerting scenario",
            "tenants": [tenant],
            "start_date": today.isoformat(),
            "retries": 2,
            "retry_delay_seconds": 1,
            "max_retry_delay_seconds": 2,
            "alerting": {
                "routes": [{"kind": "log"}, {"kind": "slack"}],
                "deadlines": [{"name": "freshness_target", "minutes": DEADLINE_MINUTES[name]}],
                "data_quality": {"max_error_rate": 0.05, "min_completeness": 0.9},
            },
        }
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from dev.airflow_stack import AirflowStack, free_port, stack_env
    from dev.embedded import ensure_bucket, start_embedded
    from dev.fakeapi.app import FakeSourceApi
    from dev.fakeapi.server import serve

    root = tmp_path_factory.mktemp("alerting-real-scheduler")
    today = dt.datetime.now(dt.UTC).date()
    write_sources(root / "sources", today)
    embedded = start_embedded()
    # The fake API serves yesterday: the day a manual run with today's logical date extracts.
    api = serve(api=FakeSourceApi(days=[today - dt.timedelta(days=1)]))
    receiver = Receiver().start()
    ensure_bucket(embedded.s3_client(), "alerts-e2e")
    api.api.set_faults(
        [
            {"mode": "slow", "seconds": SLOW_SECONDS, "resource": "deals", "tenant": TENANT[LATE]},
            {"mode": "bad_rows", "fraction": 0.5, "resource": "deals", "tenant": TENANT[FAILING]},
        ]
    )
    extra = {
        **embedded.connection_env(),
        "AIRFLOW_CONN_SALESTALK_SOURCE_API": json.dumps({"conn_type": "http", "host": api.url}),
        "AIRFLOW_CONN_SALESTALK_SLACK": json.dumps({"conn_type": "http", "host": receiver.url("/slack")}),
        "SALESTALK_SOURCES_DIR": str(root / "sources"),
        "SALESTALK_ALERT_DIR": str(root / "alerts"),
        "SALESTALK_DUCKDB_PATH": str(root / "warehouse.duckdb"),
        "SALESTALK_BUCKET": "alerts-e2e",
        "SALESTALK_CONFIG_CACHE": "off",
        "AIRFLOW__CORE__PARALLELISM": "8",
    }
    env = stack_env(root / "airflow", api_port=free_port(), extra=extra)
    began = time.monotonic()
    stack = AirflowStack(env)
    try:
        stack.start()
        print(f"\nairflow stack healthy after {time.monotonic() - began:.1f}s")
        yield stack, receiver, root, today
    finally:
        stack.stop()
        receiver.stop()
        api.stop()
        embedded.stop()


def alerts_for(receiver: Receiver, source: str) -> list[dict]:
    return [r.json for r in receiver.at("/slack") if f"source_{source}" in json.dumps(r.json)]


def test_deadline_and_failure_alerts_under_a_real_scheduler(world) -> None:
    stack, receiver, root, today = world
    began = time.monotonic()
    dag_ids = [f"source_{name}" for name in TENANT]
    stack.wait_for_dags(dag_ids, timeout=180)
    logical_date = f"{today.isoformat()}T00:00:00Z"
    runs = {}
    for name in TENANT:
        stack.unpause(f"source_{name}")
        runs[name] = stack.trigger(f"source_{name}", logical_date=logical_date)
    states = {
        name: stack.wait_for_run(f"source_{name}", run_id, timeout=420) for name, run_id in runs.items()
    }
    receiver.wait_for("/slack", count=2, timeout=30)
    time.sleep(5)  # anything sent twice would arrive by now
    print(f"runs finished after {time.monotonic() - began:.1f}s: {states}")

    log_entries = [
        json.loads(line)
        for line in (root / "alerts" / "alerts.jsonl").read_text().splitlines()
        if line.strip()
    ]
    by_source: dict[str, list[dict]] = {}
    for entry in log_entries:
        by_source.setdefault(entry["source"], []).append(entry)

    # The late run: one deadline alert, the run itself still succeeds.
    assert states[LATE] == "success", stack.task_instances(f"source_{LATE}", runs[LATE])
    (late,) = by_source.get(LATE, [])
    assert late["alert_type"] == "deadline_missed"
    assert late["tenants"] == [TENANT[LATE]] and late["run_id"] == runs[LATE]
    assert late["counts"]["deadline_minutes"] == DEADLINE_MINUTES[LATE]
    assert late["details"]["deadline"] == "freshness_target" and late["details"]["reference"] == "run_started"
    assert late["counts"]["tenants_published"] == 0 and "published 0 of 1 tenant(s)" in late["what"]
    assert late["links"]["run"].endswith(
        f"/dags/source_{LATE}/runs/{runs[LATE].replace(':', '%3A').replace('+', '%2B')}"
    )
    assert late["links"]["runbook_path"] == "docs/runbooks/deadline-missed.md"
    (slack_late,) = alerts_for(receiver, LATE)
    assert late["dedup_key"] in slack_late["text"]
    delivered = next(r for r in receiver.at("/slack") if late["dedup_key"] in r.json["text"]).received_at
    deadline_time = dt.datetime.fromisoformat(late["details"]["deadline_time"].replace("Z", "+00:00"))
    delay = delivered - deadline_time.timestamp()
    called = dt.datetime.fromisoformat(late["details"]["callback_called_at"].replace("Z", "+00:00"))
    print(
        f"deadline {deadline_time.isoformat()} -> callback called "
        f"{called.timestamp() - deadline_time.timestamp():.2f}s later -> alert delivered {delay:.2f}s later"
    )
    assert 0 <= delay < 30, "paged from the triggerer: within a few polls of the deadline"

    # The on-time run: nothing at all.
    assert states[ONTIME] == "success", stack.task_instances(f"source_{ONTIME}", runs[ONTIME])
    assert by_source.get(ONTIME, []) == [] and alerts_for(receiver, ONTIME) == []

    # The failing run: one DQ alert for the held-back publish, claiming nothing was published.
    assert states[FAILING] == "failed"
    (failed,) = by_source.get(FAILING, [])
    assert failed["alert_type"] == "dq_error_rate" and failed["tenants"] == [TENANT[FAILING]]
    assert (
        f"publish held back for {TENANT[FAILING]}: nothing of this interval was published" in failed["what"]
    )
    assert "passing rows were published" not in failed["what"]
    assert failed["counts"]["by_tenant"][TENANT[FAILING]]["published"] == 0
    assert (
        failed["run_id"] == runs[FAILING]
        and failed["links"]["runbook_path"] == "docs/runbooks/dq-error-rate.md"
    )
    assert len(alerts_for(receiver, FAILING)) == 1
    watch = {ti["task_id"]: ti["state"] for ti in stack.task_instances(f"source_{FAILING}", runs[FAILING])}
    assert watch["deadline"] == "success", "the watch ends with the run and never pages a finished run"

    # Every alert went to both routes exactly once.
    assert len(receiver.at("/slack")) == len(log_entries) == len({e["dedup_key"] for e in log_entries}) == 2
