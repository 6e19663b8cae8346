"""Incident drill under a real scheduler, through ``make airflow``'s launcher (tests/support/live_stack.py).

A REST source's API starts failing for one tenant (the fake API's ``server_error`` fault), and the run
fails. Then, as on-call would: exactly one ``task_failed`` page with the tenant, interval and runbook;
the runbook's commands taken from docs/runbooks/task-failed.md and run as written; the failed task
cleared through the REST API while the run's deadline is still pending (HTTP 200, not #70368's 500);
the rerun goes green with no second page and no deadline alert. A second run, from the trigger form's
params, reruns one tenant and one day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time

import pytest
import yaml

from salestalk import REPO_ROOT
from salestalk.names import STEPS
from tests.support.live_stack import LiveStack
from tests.support.sources import add_source_copy

pytestmark = pytest.mark.e2e

RUNBOOK = REPO_ROOT / "docs" / "runbooks" / "task-failed.md"
BLOCK = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)
LOGICAL_DATE = "2026-11-02T00:00:00Z"  # a manual run covers the interval that ends at its logical date
INTERVAL_START = "2026-11-01T00:00:00Z"
DEADLINE_MINUTES = 30
SHARDED_SUFFIX = "_sharded"  # a copy of the drill's source whose step tasks take all its tenants at once


def drill_source():
    """A REST source from the config folder, with its YAML."""
    from salestalk.config.loader import load_sources

    loaded = load_sources()
    name = next(n for n, c in sorted(loaded.configs.items()) if c.extract.kind == "rest_api")
    return loaded.configs[name], yaml.safe_load(loaded.files[name].read_text())


def runbook_commands(source: str, tenant: str) -> list[str]:
    """The bash lines of the task-failed runbook, its example source and tenant replaced by the drill's."""
    lines = [
        line.strip()
        for block in BLOCK.findall(RUNBOOK.read_text())
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    text = "\n".join(lines)
    for example in set(re.findall(r"--source (\w+)", text)) | set(re.findall(r"\bsource_(\w+)", text)):
        text = re.sub(rf"\b{example}\b", source, text)
        text = re.sub(rf"\bsource_{example}\b", f"source_{source}", text)
    for example in set(re.findall(r"--tenant (\w+)", text)):
        text = re.sub(rf"--tenant {example}\b", f"--tenant {tenant}", text)
    return text.splitlines()


@pytest.fixture(scope="module")
def drill(tmp_path_factory):
    from salestalk.config.loader import SOURCES_DIR, load_sources

    config, raw = drill_source()
    folder = tmp_path_factory.mktemp("drill-sources")
    shutil.copy(SOURCES_DIR / "_defaults.yaml", folder / "_defaults.yaml")
    raw |= {
        "retries": 2,
        "retry_delay_seconds": 1,
        "max_retry_delay_seconds": 2,
        "alerting": {
            "routes": [{"kind": "log"}],
            "deadlines": [{"name": "freshness_target", "minutes": DEADLINE_MINUTES}],
            "data_quality": {"max_error_rate": 0.5, "min_completeness": 0.5},
        },
    }
    raw["extract"] = {**raw["extract"], "max_attempts": 2}
    (folder / f"{config.name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    shipped_suite = REPO_ROOT / "great_expectations" / "expectations" / f"{config.expectation_suite}.json"
    assert shipped_suite.is_file()
    drilled = load_sources(folder).configs[config.name]
    add_source_copy(
        folder,
        drilled,
        f"{config.name}{SHARDED_SUFFIX}",
        template_folder=folder,
        changes=lambda d: d.update(
            concurrency={"tenants_per_task": len(config.tenants), "tenant_threads": 2}
        ),
    )
    sharded = load_sources(folder).configs[f"{config.name}{SHARDED_SUFFIX}"]
    home = tmp_path_factory.mktemp("drill-stack")
    with LiveStack(home, env={"SALESTALK_SOURCES_DIR": str(folder)}) as live:
        live.airflow.wait_for_dags([config.dag_id, sharded.dag_id], timeout=180)
        live.airflow.unpause(config.dag_id)
        live.airflow.unpause(sharded.dag_id)
        live.sharded = sharded
        yield live, config


def clear_failed(airflow, dag_id: str, run_id: str) -> dict:
    """Clear the run's failed tasks and their downstream tasks through the REST API, as on-call would."""
    return airflow.request(
        "POST",
        f"/api/v2/dags/{dag_id}/clearTaskInstances",
        {"dag_run_id": run_id, "only_failed": True, "include_downstream": True, "dry_run": False},
    )


def alert_log(live) -> list[dict]:
    path = live.home / "alerts" / "alerts.jsonl"  # LiveStack's SALESTALK_ALERT_DIR
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_alerts(live, count: int, timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = alert_log(live)
        if len(found) >= count:
            return found
        time.sleep(1)
    return alert_log(live)


def test_incident_drill(drill) -> None:
    live, config = drill
    airflow, dag_id = live.airflow, config.dag_id
    tenant = config.tenants[-1]
    resource = config.extract.path.rstrip("/").rsplit("/", 1)[-1]

    live.set_faults(
        {"mode": "server_error", "status": 503, "every": 1, "resource": resource, "tenant": tenant}
    )
    fault_at = time.time()
    run_id = airflow.trigger(dag_id, logical_date=LOGICAL_DATE)
    assert airflow.wait_for_run(dag_id, run_id, timeout=600) == "failed"
    (page,) = wait_for_alerts(live, 1)
    paged_after = dt.datetime.fromisoformat(page["created_at"].replace("Z", "+00:00")).timestamp() - fault_at
    failed = [ti for ti in airflow.task_instances(dag_id, run_id) if ti["state"] == "failed"]
    assert {(ti["task_id"], ti["rendered_map_index"]) for ti in failed} == {
        *((f"tenant.{step}", tenant) for step in STEPS),  # the later steps: "waiting on upstream", unpaged
        ("report", None),  # its roll-up of the failed tenant, not paged again
    }
    failed = [ti for ti in failed if ti["task_id"] == "tenant.extract"]
    assert page["alert_type"] == "task_failed" and page["tenants"] == [tenant] and page["run_id"] == run_id
    assert page["interval_start"].startswith("2026-11-01T00:00:00")
    assert page["details"]["task_id"] == "tenant.extract" and "503" in page["what"]
    assert page["links"]["runbook_path"] == "docs/runbooks/task-failed.md"
    assert f"/tasks/tenant.extract/mapped/{failed[0]['map_index']}" in page["links"]["run"]

    # The runbook, as written: diagnosis first, with the fault fixed.
    live.set_faults([])
    commands = runbook_commands(config.name, tenant)
    assert any(" status " in c for c in commands) and any("tasks clear" in c for c in commands)
    for command in commands:
        if "tasks clear" in command:
            continue
        done = live.run(command)
        output = done.stdout + done.stderr
        assert done.returncode in (0, 1) and "Traceback" not in output, f"{command}\n{output[-3000:]}"
        assert tenant in done.stdout, f"{command}\n{done.stdout[-2000:]}"

    # Clear the failed task (and downstream) through the REST API while the deadline is pending.
    watch = next(ti for ti in airflow.task_instances(dag_id, run_id) if ti["task_id"] == "deadline")
    assert watch["state"] == "success", "the watch ended with the failed run, without paging"
    started = dt.datetime.fromisoformat(airflow.get_run(dag_id, run_id)["start_date"].replace("Z", "+00:00"))
    assert dt.datetime.now(dt.UTC) < started + dt.timedelta(minutes=DEADLINE_MINUTES)
    cleared_at = time.time()
    answer = clear_failed(airflow, dag_id, run_id)
    assert {ti["task_id"] for ti in answer["task_instances"]} >= {"tenant.extract", "report"}
    assert airflow.wait_for_run(dag_id, run_id, timeout=600) == "success"
    green_after = time.time() - cleared_at

    # The runbook's own clear (the Airflow CLI against the stack) runs as written: nothing left to clear.
    for command in commands:
        if "tasks clear" in command:
            done = live.run(command)
            assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]

    time.sleep(10)  # a second page would arrive by now
    assert [a["alert_type"] for a in alert_log(live)] == ["task_failed"], alert_log(live)
    print(f"\nfault -> page {paged_after:.1f}s; clear -> green run {green_after:.1f}s")


def test_rerun_one_tenant_and_one_day_from_the_trigger_form(drill) -> None:
    live, config = drill
    airflow, dag_id = live.airflow, config.dag_id
    tenant = config.tenants[0]
    body = {"logical_date": None, "conf": {"tenants": [tenant], "interval_start": INTERVAL_START}}
    run_id = airflow.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]
    assert airflow.wait_for_run(dag_id, run_id, timeout=600) == "success"
    mapped = {
        ti["rendered_map_index"] for ti in airflow.task_instances(dag_id, run_id) if ti["map_index"] >= 0
    }
    assert mapped == {tenant}
    done = live.run(
        f"PYTHONPATH=plugins .venv/bin/python -m salestalk status --source {config.name} "
        f"--tenant {tenant} --interval {INTERVAL_START}"
    )
    assert done.returncode == 0 and run_id in done.stdout, done.stdout[-2000:]


def test_the_drills_lineage_under_the_real_scheduler(drill) -> None:
    """After the drill (added by the lineage work, docs/lineage.md; it reuses this stack, ~0 s): the
    launcher's default transport, a JSON-lines file in its home, mirrors the task outcomes under the real
    scheduler: a COMPLETE event for every step of a tenant that succeeded, a FAIL event (no counts) for
    each failed try, the faulted tenant's extract naming only its own endpoint; no tenant's event names
    another tenant."""
    live, config = drill
    airflow, dag_id = live.airflow, config.dag_id
    lines = (live.home / "lineage" / "openlineage.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    ours = [
        e
        for e in events
        if e.get("run", {}).get("facets", {}).get("salestalkBatch")
        and e["job"]["name"].startswith(f"{dag_id}.")
    ]

    def key(event: dict) -> tuple[str, str]:
        return event["job"]["name"], event["run"]["facets"]["salestalkBatch"]["tenant"]

    runs = airflow.request("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
    instances = [
        ti
        for run in runs
        for ti in airflow.task_instances(dag_id, run["dag_run_id"])
        if ti["task_id"].startswith("tenant.")
    ]
    succeeded = {
        (f"{dag_id}.{ti['task_id']}", ti["rendered_map_index"])
        for ti in instances
        if ti["state"] == "success"
    }
    retried = {
        (f"{dag_id}.{ti['task_id']}", ti["rendered_map_index"])
        for ti in instances
        if ti["state"] != "success" or ti["try_number"] > 1
    }
    assert len(succeeded) >= len(config.tenants)
    assert {key(e) for e in ours if e["eventType"] == "COMPLETE"} == succeeded
    fails = [e for e in ours if e["eventType"] == "FAIL"]
    assert {key(e) for e in fails} <= retried
    assert all("salestalkCounts" not in e["run"]["facets"] for e in fails)
    faulted = config.tenants[-1]
    extract_fails = [e for e in fails if e["job"]["name"] == f"{dag_id}.tenant.extract"]
    assert extract_fails and {key(e)[1] for e in extract_fails} == {faulted}
    assert {d["name"] for e in extract_fails for d in e["inputs"]} == {
        config.extract.path.format(tenant=faulted)
    }
    for event in ours:
        own = key(event)[1]
        for dataset in event["inputs"] + event["outputs"]:
            segments = dataset["name"].replace("#", "/").split("/")
            assert not [t for t in config.tenants if t != own and t in segments], (own, dataset["name"])
            if dataset["namespace"].startswith("s3://"):
                assert dataset["name"].startswith(f"tenants/{own}/") and dataset["name"].endswith("/")


def api_calls(live, tenant: str) -> int:
    """The fake API's data requests so far for ``tenant`` (its paths name the tenant)."""
    by_path = live.fake_api("GET", "/_admin/stats")["by_path"]
    return sum(sum(statuses.values()) for path, statuses in by_path.items() if f"/{tenant}/" in f"{path}/")


def test_a_shard_where_one_tenants_api_fails(drill) -> None:
    """A shard of every tenant: one tenant's API fails. The others publish; the failed tenant is named in
    the task's outcome and in exactly one page; a clear of that task redoes only the failed tenant."""
    from salestalk.names import FAILED_TENANTS_KEY
    from salestalk.shards import shard_label

    live, _ = drill
    config = live.sharded
    airflow, dag_id = live.airflow, config.dag_id
    tenants = list(config.tenants)
    faulty, healthy = tenants[1], [t for t in tenants if t != tenants[1]]
    resource = config.extract.path.rstrip("/").rsplit("/", 1)[-1]

    def published(tenant: str) -> int:
        """The tenant's curated rows (the stack is idle between runs, so the file opens read-only)."""
        import duckdb

        con = duckdb.connect(live.env["SALESTALK_DUCKDB_PATH"], read_only=True)
        try:
            return con.execute(
                f"SELECT count(*) FROM curated.{config.name} WHERE _tenant_id = ?", [tenant]
            ).fetchone()[0]
        finally:
            con.close()

    pages_before = len(alert_log(live))
    live.set_faults(
        {"mode": "server_error", "status": 503, "every": 1, "resource": resource, "tenant": faulty}
    )
    run_id = airflow.trigger(dag_id, logical_date=LOGICAL_DATE)
    assert airflow.wait_for_run(dag_id, run_id, timeout=600) == "failed"
    states = {(ti["task_id"], ti["map_index"]): ti for ti in airflow.task_instances(dag_id, run_id)}
    extract = states[("tenant.extract", 0)]
    assert extract["state"] == "failed" and extract["rendered_map_index"] == shard_label(tenants)
    for step in STEPS[
        1:
    ]:  # ran for the other tenants, then failed as "waiting on upstream" for the faulty one
        assert states[(f"tenant.{step}", 0)]["state"] == "failed", step
    assert states[("report", -1)]["state"] == "failed"
    assert all(published(t) > 0 for t in healthy) and published(faulty) == 0
    xcom = airflow.request(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/tenant.extract/xcomEntries/"
        f"{FAILED_TENANTS_KEY}?map_index=0",
    )
    value = str(xcom["value"])
    assert faulty in value and not any(t in value for t in healthy), value

    found = wait_for_alerts(live, pages_before + 1)
    time.sleep(5)  # a second page would arrive by now
    pages = alert_log(live)[pages_before:]
    assert [(p["alert_type"], p["tenants"]) for p in pages] == [("task_failed", [faulty])], pages
    assert faulty in pages[0]["what"] and not any(t in pages[0]["what"] for t in healthy), pages[0]["what"]
    assert len(found) == pages_before + 1

    live.set_faults([])
    calls = {t: api_calls(live, t) for t in tenants}
    answer = clear_failed(airflow, dag_id, run_id)
    assert {ti["task_id"] for ti in answer["task_instances"]} >= {"tenant.extract", "report"}
    assert airflow.wait_for_run(dag_id, run_id, timeout=600) == "success"
    assert api_calls(live, faulty) > calls[faulty], "the clear re-extracts the failed tenant"
    assert {t: api_calls(live, t) for t in healthy} == {t: calls[t] for t in healthy}, "and no other"
    assert all(published(t) > 0 for t in tenants)
    assert len(alert_log(live)) == pages_before + 1, alert_log(live)[pages_before:]
