"""Task logs and CLI output an on-call engineer can read: a short table per step, no library chatter.

One REST source runs through real Airflow (``dag.test()``) with one tenant's rows broken by the fake API, so
its publish is held back. Every log record a task emits is collected by task and tenant, as its task log
would show it. GX's context is rebuilt inside the run, so GX's INFO lines would reach the validate log.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from salestalk import REPO_ROOT
from salestalk.names import PUBLISH, QUARANTINE, VALIDATE
from salestalk.steplog import MAX_REASONS
from tests.support.subprocesses import REPO_PYTHONPATH

pytestmark = pytest.mark.e2e

MAX_VALIDATE_LINES = 40
# A structlog console line from the standard library: "<time> [info     ] message [logger.name] ..."
LIBRARY_LINE = re.compile(r"\[(?:debug|info)\s*\].*?\[([A-Za-z_][\w.]*)\]")


class TaskLogs(logging.Handler):
    """Log records of the running tasks, by (step, tenant); records outside a task are ignored."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: dict[tuple[str, str | None], list[logging.LogRecord]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        from airflow.sdk import get_current_context

        try:
            context = get_current_context()
        except RuntimeError:
            return
        step = context["ti"].task_id.rsplit(".", 1)[-1]
        tenants = getattr(context["task"], "tenants", None)  # the step's shard: here one tenant per task
        tenant = tenants[0] if isinstance(tenants, list) and len(tenants) == 1 else None
        self.records.setdefault((step, tenant), []).append(record)

    def lines(self, step: str, tenant: str | None = None) -> list[str]:
        return [line for r in self.records.get((step, tenant), []) for line in r.getMessage().splitlines()]

    def last(self, step: str, tenant: str | None = None) -> str:
        return self.records[(step, tenant)][-1].getMessage()


@dataclass
class Run:
    source: Any
    broken: str
    interval: str
    logs: TaskLogs
    outcome: Any
    results: dict[str, dict]
    env: dict[str, str]
    objects: set[str]


def rest_source():
    from salestalk.config.loader import load_sources

    configs = load_sources().configs
    return next(configs[name] for name in sorted(configs) if configs[name].extract.kind == "rest_api")


@pytest.fixture(scope="module")
def run(stack, dags, tmp_path_factory) -> Run:
    from dev.demo import DEMO_DAYS, run_source_day
    from dev.embedded import ensure_bucket
    from salestalk.quality import gx_runner
    from salestalk.warehouse.duckdb import DuckDBWarehouse
    from salestalk.warehouse.tables import batch_results

    source = rest_source()
    broken = sorted(source.tenants)[0]
    env = {
        "SALESTALK_BUCKET": f"logs-{uuid.uuid4().hex[:12]}",
        "SALESTALK_DUCKDB_PATH": str(tmp_path_factory.mktemp("task-logs") / "warehouse.duckdb"),
    }
    logs = TaskLogs()
    root = logging.getLogger()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(gx_runner, "_contexts", {})
        client = stack.s3_client()
        ensure_bucket(client, env["SALESTALK_BUCKET"])
        stack.api_server.api.reset()
        stack.api_server.api.set_faults(
            {
                "mode": "bad_rows",
                "fraction": min(1.0, 2 * source.quarantine.max_error_rate + 0.05),
                "resource": source.extract.path.rstrip("/").rsplit("/", 1)[-1],
                "tenant": broken,
            }
        )
        level = root.level
        root.addHandler(logs)
        root.setLevel(logging.INFO)  # what a worker logs at
        try:
            outcome = run_source_day(dags[source.dag_id], stack, DEMO_DAYS[0])
        finally:
            root.removeHandler(logs)
            root.setLevel(level)
            stack.api_server.api.reset()
        interval = f"{DEMO_DAYS[0]}T00:00:00Z"
        results = batch_results(DuckDBWarehouse(Path(env["SALESTALK_DUCKDB_PATH"])), source.name, interval)
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=env["SALESTALK_BUCKET"])
        objects = {item["Key"] for page in pages for item in page.get("Contents", [])}
    return Run(source, broken, interval, logs, outcome, results, env, objects)


def table_row(label: str, value: int) -> re.Pattern:
    return re.compile(rf"^\s+{re.escape(label)}\s+{value:,}$", re.M)


def test_the_broken_tenant_was_held_back_and_the_others_published(run: Run) -> None:
    assert run.outcome.state == "failed", run.outcome
    assert run.results[run.broken][PUBLISH].get("held_back"), run.results[run.broken]
    for tenant in set(run.source.tenants) - {run.broken}:
        assert run.results[tenant][PUBLISH]["published"] > 0, tenant


def test_validate_log_is_a_short_table_with_reason_counts_and_no_library_lines(run: Run) -> None:
    for tenant in run.source.tenants:
        records = run.logs.records[(VALIDATE, tenant)]
        lines = run.logs.lines(VALIDATE, tenant)
        assert len(lines) < MAX_VALIDATE_LINES, "\n".join(lines)
        assert not [line for line in lines if "Skipping registering" in line]
        library = [
            f"{r.name}: {r.getMessage()[:80]}"
            for r in records
            if r.levelno < logging.WARNING and not r.name.startswith("salestalk.")
        ]
        assert library == [], library
        table = run.logs.last(VALIDATE, tenant)
        result = run.results[tenant][VALIDATE]
        assert table.startswith(f"{VALIDATE} source={run.source.name} tenant={tenant} "), table
        assert table_row("rows in", result["rows"]).search(table), table
        assert 0 < len(result["reasons"]) <= MAX_REASONS, result  # all shown, none folded
        for reason, count in result["reasons"].items():
            assert table_row(reason, count).search(table), (reason, count, table)
        lines = table.splitlines()
        first = next(n for n, line in enumerate(lines) if re.fullmatch(r"\s+reason\s+rows", line)) + 1
        rows = lines[first : first + len(result["reasons"])]
        shown = [int(line.rsplit(None, 1)[1].replace(",", "")) for line in rows]
        assert shown == sorted(result["reasons"].values(), reverse=True), table
        assert "{" not in table, "a dict dump, not a table"


def test_quarantine_log_lists_reasons_and_the_object_it_wrote(run: Run) -> None:
    for tenant in run.source.tenants:
        table = run.logs.last(QUARANTINE, tenant)
        result = run.results[tenant][QUARANTINE]
        assert table_row("quarantined", result["quarantined"]).search(table), table
        assert result["reasons"] == run.results[tenant][VALIDATE]["reasons"]
        for reason, count in result["reasons"].items():
            assert table_row(reason, count).search(table), (reason, count, table)
        assert result["quarantine_key"] in run.objects
        assert re.search(rf"^\s+{re.escape(result['quarantine_key'])}$", table, re.M), table
        assert table_row("S3 objects written", 1).search(table), table


def test_held_back_publish_and_failed_report_end_with_next_steps(run: Run) -> None:
    publish = run.logs.last(PUBLISH, run.broken)
    assert "FAILED (PublishHeldBack)" in publish.splitlines()[0], publish
    last_two = publish.splitlines()[-2:]
    assert last_two[0].strip().startswith("next: ") and f"--tenant {run.broken}" in last_two[0], publish
    runbook = last_two[1].strip().removeprefix("runbook: ")
    assert runbook == "docs/runbooks/quarantine-redrive.md" and (REPO_ROOT / runbook).is_file()

    report = run.logs.last("report")
    assert run.broken in report and "did not publish cleanly" in report, report
    assert report.splitlines()[-2].strip().startswith("next: "), report
    runbook = report.splitlines()[-1].strip().removeprefix("runbook: ")
    assert (REPO_ROOT / runbook).is_file(), report


def test_cli_that_runs_gx_s3_and_the_warehouse_prints_no_library_info_lines(run: Run) -> None:
    command = [
        sys.executable,
        "-m",
        "salestalk",
        "quarantine",
        "redrive",
        "--source",
        run.source.name,
        "--tenant",
        run.broken,
        "--interval",
        run.interval,
        "--dry-run",
    ]
    done = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={
            **os.environ,
            **run.env,
            "PYTHONPATH": REPO_PYTHONPATH,
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # Airflow's default; the tests run at WARNING
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "validate: " in done.stdout and "dry run: not publishing" in done.stdout, output[-3000:]
    assert "Skipping registering" not in output
    # Airflow configures its logging when the command first imports it, after main() quieted the libraries,
    # which resets levels under "airflow." (see salestalk.logs); Airflow's own lines are not checked here.
    library = [
        m.group(0)
        for m in LIBRARY_LINE.finditer(output)
        if not m.group(1).startswith(("salestalk.", "airflow."))
    ]
    assert library == [], library[:5]
