"""Every command of every ``bash`` block in docs/runbooks/ runs, as written, against a live local stack.

The stack is ``make airflow``'s real launcher in a temp home (tests/support/live_stack.py), with the
source configs copied to a temp folder with second-long retry delays. One REST source DAG run, triggered
through the REST API, populates it: the fake API breaks half of one tenant's rows (``bad_rows``), so that
tenant's publish is held back (quarantine, a task failure alert) while the others publish. Then two
DynamoDB dead letters are filed for that tenant: a write that ran out of retries, which a redrive
settles, and a blocked cross-tenant item that stays.

The runbooks use the example source, tenant and interval that docs/runbooks/README.md names; each
command gets the source, tenants and interval of that run instead. It runs from the repository root in a
clean environment that only names the stack's home (``SALESTALK_LOCAL_HOME``, what ``.local/airflow`` is
for ``make airflow``), so the CLI finds the stack by itself. A command passes when it exits 0, or 1 (the
CLI's "found a problem"), and prints no traceback or usage error.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import time

import pytest

from salestalk import REPO_ROOT

pytestmark = pytest.mark.e2e

RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
BLOCK = re.compile(r"^[ \t]*```bash\n(.*?)^[ \t]*```", re.S | re.M)
EXAMPLES = re.compile(r"source `([^`]+)`, tenant `([^`]+)`, the daily interval that\s+starts `([^`]+)`")
CLI = "PYTHONPATH=plugins .venv/bin/python -m salestalk"


def runbook_commands() -> list[tuple[str, str]]:
    found = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        for number, block in enumerate(BLOCK.findall(path.read_text()), start=1):
            for line in (line.strip() for line in block.splitlines()):
                if line and not line.startswith("#"):
                    found.append((f"{path.stem}-{number}", line))
    return found


def examples() -> tuple[str, str, str]:
    """The example source, tenant and interval start the runbooks use (named in their README)."""
    match = EXAMPLES.search((RUNBOOKS / "README.md").read_text())
    assert match, "docs/runbooks/README.md must name the examples' source, tenant and interval"
    return match.group(1), match.group(2), match.group(3)


COMMANDS = runbook_commands()


def test_runbooks_have_commands() -> None:
    assert len(COMMANDS) >= 20
    assert all(c.startswith(CLI) for _, c in COMMANDS), [c for _, c in COMMANDS if not c.startswith(CLI)]


def pick_source():
    """A REST source the fake API serves, with at least two tenants; the runbooks' example if it is one."""
    from dev.fakeapi.seed import HTTP_RESOURCES
    from salestalk.config.loader import load_sources

    configs = load_sources().configs
    served = [
        configs[name]
        for name in sorted(configs)
        if configs[name].extract.kind == "rest_api"
        and configs[name].extract.path.rstrip("/").rsplit("/", 1)[-1] in HTTP_RESOURCES
        and len(configs[name].tenants) >= 2
    ]
    assert served, "no REST source served by the fake API"
    example = examples()[0]
    return next((c for c in served if c.name == example), served[0])


def fast_retry_sources(folder):
    """The repository's source configs with second-long retry delays, so a failing task fails fast."""
    from salestalk.config.loader import SOURCES_DIR

    shutil.copytree(SOURCES_DIR, folder)
    defaults = folder / "_defaults.yaml"
    text = defaults.read_text().replace("retry_delay_seconds: 30", "retry_delay_seconds: 1")
    defaults.write_text(text.replace("max_retry_delay_seconds: 600", "max_retry_delay_seconds: 2"))
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The live stack after one run of the picked source, with one held-back tenant and two dead letters."""
    from dev.fakeapi.seed import DEMO_DAYS
    from salestalk.batch import format_utc
    from tests.support.live_stack import LiveStack

    root = tmp_path_factory.mktemp("runbook-commands")
    source = pick_source()
    example_tenant = examples()[1]
    broken = example_tenant if example_tenant in source.tenants else source.tenants[-1]
    healthy = next(t for t in source.tenants if t != broken)
    start = dt.datetime.combine(DEMO_DAYS[0], dt.time(), tzinfo=dt.UTC)
    logical = start + dt.timedelta(days=1)
    env = {"SALESTALK_SOURCES_DIR": str(fast_retry_sources(root / "sources"))}
    began = time.monotonic()
    with LiveStack(root / "stack", env=env) as live:
        print(f"\nlocal stack ready after {time.monotonic() - began:.1f}s at {live.state['url']}")
        stack = live.airflow
        resource = source.extract.path.rstrip("/").rsplit("/", 1)[-1]
        live.set_faults({"mode": "bad_rows", "fraction": 0.5, "resource": resource, "tenant": broken})
        stack.wait_for_dags([source.dag_id], timeout=180)
        stack.unpause(source.dag_id)
        run_id = stack.trigger(source.dag_id, logical_date=format_utc(logical))
        state = stack.wait_for_run(source.dag_id, run_id, timeout=900)
        live.reset_api()
        failed = {
            (ti["task_id"], ti.get("rendered_map_index"))
            for ti in stack.task_instances(source.dag_id, run_id)
            if ti["state"] == "failed"
        }
        elapsed = time.monotonic() - began
        print(f"{source.dag_id} {run_id}: {state} after {elapsed:.1f}s, failed {sorted(failed)}")
        assert state == "failed" and ("tenant.publish", broken) in failed, live.logs()
        assert not any(t == healthy for _, t in failed), failed
        with live.client_settings():
            file_dead_letters(live, broken, healthy)
        yield {
            "live": live,
            "source": source.name,
            "broken": broken,
            "healthy": healthy,
            "interval": format_utc(start),
            "logical_day": logical.date().isoformat(),
        }


def file_dead_letters(live, tenant: str, other: str) -> None:
    """Two dead letters: a summary out of retries (a redrive writes it) and one naming another tenant."""
    from salestalk.settings import get_settings
    from salestalk.storage.dead_letter import DeadLetterStore
    from salestalk.storage.tenant_dynamodb import TenantDynamoWriter, WriteMode
    from salestalk.storage.tenant_s3 import TenantS3

    settings = get_settings()
    store = DeadLetterStore(TenantS3(live.s3_client(), settings.bucket, tenant))
    summary = {
        "tenantId": tenant,
        "summaryId": "daily:2026-11-01",
        "computedAt": "2026-11-02T00:00:00Z",
        "metrics": {"deals_updated": 3},
    }
    mode = WriteMode("put_if_newer", "summaryId", "computedAt")
    store.record(
        entity="insight_summary", item=summary, key=None, reason="retries_exhausted", attempts=8, mode=mode
    )
    writer = TenantDynamoWriter(
        live.dynamodb_client(),
        settings.dynamodb_table,
        tenant,
        "insight_summary",
        ttl_days=400,
        dead_letter=store,
    )
    blocked = writer.put_if_newer([{**summary, "tenantId": other}], "summaryId", "computedAt")
    assert blocked.blocked == 1


def for_this_run(command: str, world: dict) -> str:
    """The command with the run's source, tenants and interval in place of the runbooks' examples."""
    source, tenant, interval = examples()
    example_day = (dt.datetime.fromisoformat(interval.replace("Z", "+00:00")) + dt.timedelta(days=1)).date()
    command = re.sub(rf"\b(source_|--source ){re.escape(source)}\b", rf"\g<1>{world['source']}", command)
    command = re.sub(
        r"--tenant (\S+)",
        lambda m: f"--tenant {world['broken'] if m.group(1) == tenant else world['healthy']}",
        command,
    )
    command = command.replace(interval, world["interval"])
    return command.replace(example_day.isoformat(), world["logical_day"])


@pytest.mark.parametrize(
    ("where", "command"), COMMANDS, ids=[f"{w}:{c.split(' -m salestalk ')[-1][:60]}" for w, c in COMMANDS]
)
def test_runbook_command(world, where: str, command: str) -> None:
    command = for_this_run(command, world)
    began = time.monotonic()
    done = world["live"].run(command)
    output = done.stdout + done.stderr
    print(
        f"{where} ({time.monotonic() - began:.1f}s, exit {done.returncode}): {command}\n{done.stdout[-1500:]}"
    )
    assert done.returncode in (0, 1), output[-3000:]
    assert "Traceback" not in output and "usage:" not in done.stderr, output[-3000:]


def test_make_targets_and_a_shell_reach_the_live_stack(world) -> None:
    live = world["live"]
    make = "make -s -o .venv/.installed-dev"
    done = live.run(f"{make} dead-letters TENANT={world['broken']}")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"dead letter(s) for tenant {world['broken']}" in done.stdout and "Traceback" not in done.stderr
    done = live.run(f'eval "$({make} env)" && printf "%s\\n%s\\n" "$AIRFLOW_HOME" "$SALESTALK_KMS_KEY_ID"')
    assert done.stdout.splitlines() == [str(live.home), live.client_env["SALESTALK_KMS_KEY_ID"]], done


def test_the_files_holding_the_password_are_private(world) -> None:
    import stat

    live = world["live"]
    private = [
        live.home / "state.json",
        live.env_file,
        live.home / "simple_auth_manager_passwords.json.generated",
        *(live.home / "logs-components").glob("*.log"),
    ]
    modes = {path.name: oct(stat.S_IMODE(path.stat().st_mode)) for path in private}
    assert set(modes.values()) == {"0o600"}, modes
    assert live.state["password"] in (live.home / "simple_auth_manager_passwords.json.generated").read_text()
