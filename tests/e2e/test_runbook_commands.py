"""Every ``bash`` block in docs/runbooks/ runs, as written, against a demo-populated local state.

The state: ``source_deals`` for 2026-11-01 through real Airflow (``dag.test()``), with globex's rows
broken so its publish is held back (quarantine, a task failure alert, DQ alerts for the others), plus
two DynamoDB dead letters for globex: one a write that ran out of retries, which a redrive settles, one a blocked
cross-tenant item that stays. A command passes when it exits 0, or 1 (the CLI's "found a problem"),
and prints no traceback or usage error.
"""

from __future__ import annotations

import os
import re
import subprocess
import time

import pytest

from salestalk import REPO_ROOT

pytestmark = pytest.mark.e2e

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
BLOCK = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)


def runbook_commands() -> list[tuple[str, str]]:
    found = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for number, block in enumerate(BLOCK.findall(path.read_text()), start=1):
            lines = [line.strip() for line in block.splitlines()]
            for line in lines:
                if line and not line.startswith("#"):
                    found.append((f"{path.stem}-{number}", line))
    return found


COMMANDS = runbook_commands()


def test_runbooks_have_commands() -> None:
    assert len(COMMANDS) >= 20
    assert all(
        c.startswith(("PYTHONPATH=plugins .venv/bin/python -m salestalk", ".venv/bin/airflow"))
        for _, c in COMMANDS
    )


@pytest.fixture(scope="module")
def demo_state(stack, dags, tmp_path_factory):
    from dev.demo import run_source_day
    from dev.embedded import ensure_bucket, ensure_dynamodb_table, seed_inbound_files
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings
    from salestalk.storage.dead_letter import DeadLetterStore
    from salestalk.storage.tenant_dynamodb import TenantDynamoWriter, WriteMode
    from salestalk.storage.tenant_s3 import TenantS3

    folder = tmp_path_factory.mktemp("runbook-state")
    env = {
        "SALESTALK_BUCKET": "runbook-commands",
        "SALESTALK_DUCKDB_PATH": str(folder / "warehouse.duckdb"),
        "SALESTALK_ALERT_DIR": str(folder / "alerts"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        client = stack.s3_client()
        ensure_bucket(client, env["SALESTALK_BUCKET"])
        seed_inbound_files(
            client, env["SALESTALK_BUCKET"], load_sources().configs["product_usage"], ["2026-11-01"]
        )
        ensure_dynamodb_table(stack.dynamodb_client(), get_settings().dynamodb_table)
        stack.api_server.api.reset()
        stack.api_server.api.set_faults(
            {"mode": "bad_rows", "fraction": 0.1, "resource": "deals", "tenant": "globex"}
        )
        outcome = run_source_day(dags["source_deals"], stack, "2026-11-01")
        stack.api_server.api.reset()
        assert outcome.state == "failed" and any("publish" in t for t in outcome.failed_tasks), outcome

        s3 = TenantS3(client, env["SALESTALK_BUCKET"], "globex")
        store = DeadLetterStore(s3)
        summary = {
            "tenantId": "globex",
            "summaryId": "daily:2026-11-01",
            "computedAt": "2026-11-02T00:00:00Z",
            "metrics": {"deals_updated": 3},
        }
        mode = WriteMode("put_if_newer", "summaryId", "computedAt")
        store.record(
            entity="insight_summary",
            item=summary,
            key=None,
            reason="retries_exhausted",
            attempts=8,
            mode=mode,
        )
        writer = TenantDynamoWriter(
            stack.dynamodb_client(),
            get_settings().dynamodb_table,
            "globex",
            "insight_summary",
            ttl_days=400,
            dead_letter=store,
        )
        blocked = writer.put_if_newer([{**summary, "tenantId": "acme"}], "summaryId", "computedAt")
        assert blocked.blocked == 1
        yield env


@pytest.mark.parametrize(
    ("where", "command"), COMMANDS, ids=[f"{w}:{c.split(' -m ')[-1][:60]}" for w, c in COMMANDS]
)
def test_runbook_command(demo_state, where: str, command: str) -> None:
    env = {**os.environ, **demo_state}
    began = time.monotonic()
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    print(
        f"{where} ({time.monotonic() - began:.1f}s, exit {done.returncode}): {command}\n{done.stdout[-1500:]}"
    )
    assert done.returncode in (0, 1), output[-3000:]
    assert "Traceback" not in output and "usage:" not in done.stderr, output[-3000:]
