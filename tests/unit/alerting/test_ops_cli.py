"""The operator CLI: alerts, deadlines, usage errors (CLI and make), the local stack's client environment,
and status and freshness on both warehouse backends (every command also runs against a live stack in
tests/e2e/test_runbook_commands.py)."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys

import pytest

from salestalk import REPO_ROOT, client_env
from salestalk.__main__ import main
from salestalk.alerting.routes import deliver
from tests.support.subprocesses import REPO_PYTHONPATH
from tests.unit.alerting.test_payload import make
from tests.unit.alerting.test_routes import LOG, routes


def test_alerts_command_shows_the_local_log(alert_dir, capsys) -> None:
    deliver(make(), routes(LOG))
    deliver(
        make(alert_type="deadline_missed", tenants=("acme", "globex"), incident="deadline:x"), routes(LOG)
    )
    assert main(["alerts"]) == 0
    out = capsys.readouterr().out
    assert "2 alert(s) in" in out and "task_failed" in out and "deadline_missed" in out
    assert "runbook docs/runbooks/task-failed.md" in out and "dedup salestalk-" in out
    assert main(["alerts", "--type", "deadline_missed", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "1 alert(s) in" in out and "task_failed" not in out


def test_deadlines_command_lists_deadlines_and_routes(capsys) -> None:
    from salestalk.alerting.deadlines import deadline_minutes

    source = next(c for _, c in sorted(_configs().items()) if c.alerting.deadlines)
    assert main(["deadlines", "--source", source.name]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == source.dag_id
    for spec in source.alerting.deadlines:
        assert f"deadline {spec.name}: {deadline_minutes(source, spec.minutes):g} min after " in out
    for route in source.alerting.routes:
        assert f"route {route.name} ({route.kind}): " in out


# ---- usage errors ------------------------------------------------------------------------------------


def _configs():
    from salestalk.config.loader import load_sources

    return load_sources().configs


def _usage(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("usage: "), err
    return err.strip()


def test_missing_or_unknown_arguments_are_one_line_usage_errors(capsys) -> None:
    configs = _configs()
    source = configs[sorted(configs)[0]]
    sources = ", ".join(sorted(configs))
    tenants = ", ".join(sorted({t for c in configs.values() for t in c.tenants}))
    assert _usage(["status"], capsys).endswith(f"(sources: {sources})")
    assert _usage(["status", "--source", "no-such-source"], capsys).endswith(f"(sources: {sources})")
    line = _usage(["status", "--source", source.name, "--tenant", "no-such-tenant"], capsys)
    assert line.endswith(f"(tenants of {source.name}: {', '.join(source.tenants)})")
    assert "2026-11-01T00:00:00Z" in _usage(["status", "--source", source.name, "--interval", "bad"], capsys)
    assert _usage(["quarantine", "list"], capsys).endswith(f"(sources: {sources})")
    line = _usage(["quarantine", "redrive", "--source", source.name], capsys)
    assert "--tenant <tenant>" in line and line.endswith(
        f"(tenants of {source.name}: {', '.join(source.tenants)})"
    )
    assert _usage(["dead-letter", "list"], capsys).endswith(f"(tenants: {tenants})")
    assert "entities: insight_summary" in _usage(
        ["dead-letter", "redrive", "--tenant", source.tenants[0], "--entity", "nope"], capsys
    )
    assert _usage(["quarantine"], capsys).startswith(
        "usage: python -m salestalk quarantine list|show|redrive"
    )
    assert _usage(["freshness", "--now", "yesterday"], capsys).startswith(
        "usage: python -m salestalk freshness"
    )
    assert (
        _usage(["airflow"], capsys)
        == "usage: python -m salestalk airflow -- <airflow arguments>  (e.g. dags list)"
    )


def _make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESTALK_", "AIRFLOW"))}
    return subprocess.run(
        ["make", "-s", "-o", ".venv/.installed-dev", *args],
        cwd=REPO_ROOT,
        env={k: v for k, v in env.items() if k not in ("SOURCE", "TENANT", "INTERVAL", "ARGS", "MAKEFLAGS")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_targets_without_their_arguments_print_one_usage_line() -> None:
    configs = _configs()
    tenants = ", ".join(sorted({t for c in configs.values() for t in c.tenants}))
    done = _make("dead-letters")
    assert done.returncode == 2, done
    assert done.stderr.splitlines()[0] == f"usage: make dead-letters TENANT=<tenant>  (tenants: {tenants})"
    assert "Traceback" not in done.stderr
    name = sorted(configs)[0]
    done = _make("redrive", f"SOURCE={name}")
    assert done.returncode == 2, done
    assert done.stderr.splitlines()[0].endswith(f"(tenants of {name}: {', '.join(configs[name].tenants)})")
    done = _make("status")
    assert done.stderr.splitlines()[0].endswith(f"(sources: {', '.join(sorted(configs))})")


def test_make_help_lists_every_target() -> None:
    targets = re.findall(r"^([a-z][a-zA-Z_-]*):", (REPO_ROOT / "Makefile").read_text(), flags=re.M)
    done = _make("help")
    assert done.returncode == 0, done
    listed = [line.split()[1] for line in done.stdout.splitlines()]
    assert listed == targets and len(targets) > 20
    assert all(len(line.split()) > 2 for line in done.stdout.splitlines()), "every target has a description"


# ---- the local stack's client environment ------------------------------------------------------------


def test_client_env_round_trips_through_a_shell(tmp_path) -> None:
    values = {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"extra": {"endpoint_url": "http://127.0.0.1:5000"}}),
        "SALESTALK_QUOTED": 'it\'s "quoted" $HOME `x`',
        "SALESTALK_LINES": "one\ntwo",
    }
    text = client_env.render(values)
    assert client_env.parse(text) == values
    path = tmp_path / "client.env"
    path.write_text("stale")
    path.chmod(0o644)
    client_env.write_private(path, text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    shown = subprocess.run(
        [
            "bash",
            "-c",
            f". {path} && "
            'printf "%s|%s|%s" "$AIRFLOW_CONN_AWS_DEFAULT" "$SALESTALK_QUOTED" "$SALESTALK_LINES"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == "|".join(values.values())


def fake_stack_home(folder, variables: dict[str, str], pid: int | None = None):
    """A stack home as ``make airflow`` leaves it: a ready state naming a live launcher, and client.env."""
    folder.mkdir(parents=True, exist_ok=True)
    state = {"status": "ready", "launcher_pid": pid or os.getpid(), "home": str(folder)}
    client_env.write_private(folder / "state.json", json.dumps(state))
    client_env.write_private(folder / "client.env", client_env.render(variables))
    return folder


def test_the_environment_wins_over_the_running_stack(tmp_path) -> None:
    home = fake_stack_home(
        tmp_path / "stack", {"SALESTALK_BUCKET": "stack", "SALESTALK_DUCKDB_PATH": "/stack.db"}
    )
    environ = {"SALESTALK_LOCAL_HOME": str(home), "SALESTALK_BUCKET": "mine"}
    assert client_env.load(environ) == {"SALESTALK_DUCKDB_PATH": "/stack.db"}
    assert environ["SALESTALK_BUCKET"] == "mine"
    gone = fake_stack_home(tmp_path / "stopped", {"SALESTALK_BUCKET": "stack"}, pid=2**22 + 12345)
    assert client_env.running_env(gone) is None
    assert client_env.load({"SALESTALK_LOCAL_HOME": str(tmp_path / "none")}) == {}


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SALESTALK_", "AIRFLOW"))}
    return subprocess.run(
        [sys.executable, "-m", "salestalk", *args],
        cwd=REPO_ROOT,
        env={**base, "PYTHONPATH": REPO_PYTHONPATH, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_cli_loads_the_running_stack_and_env_prints_it(tmp_path) -> None:
    warehouse = tmp_path / "stack-warehouse.duckdb"
    variables = {"SALESTALK_DUCKDB_PATH": str(warehouse), "SALESTALK_ALERT_DIR": str(tmp_path / "alerts")}
    home = fake_stack_home(tmp_path / "stack", variables)
    name = sorted(_configs())[0]
    done = _cli("status", "--source", name, env={"SALESTALK_LOCAL_HOME": str(home)})
    assert (
        done.returncode == 0
        and f"never run, no batch has been recorded yet (warehouse {warehouse})" in done.stdout
    )
    mine = tmp_path / "mine.duckdb"
    done = _cli(
        "status",
        "--source",
        name,
        env={"SALESTALK_LOCAL_HOME": str(home), "SALESTALK_DUCKDB_PATH": str(mine)},
    )
    assert f"(warehouse {mine})" in done.stdout, done
    exported = _cli("env", env={"SALESTALK_LOCAL_HOME": str(home)})
    assert exported.returncode == 0 and client_env.parse(exported.stdout) == variables
    assert all(line.startswith("export ") for line in exported.stdout.splitlines())
    missing = _cli("env", env={"SALESTALK_LOCAL_HOME": str(tmp_path / "nothing")})
    assert missing.returncode == 1 and "no local stack is running" in missing.stderr


def test_airflow_runs_with_the_stack_environment_over_the_shell(tmp_path) -> None:
    variables = {"AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__PARALLELISM": "7"}
    home = fake_stack_home(tmp_path / "stack", variables)
    done = _cli(
        "airflow",
        "--",
        "config",
        "get-value",
        "core",
        "parallelism",
        env={"SALESTALK_LOCAL_HOME": str(home), "AIRFLOW__CORE__PARALLELISM": "3"},
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "7"


# ---- status and freshness on both warehouse backends -------------------------------------------------

START = "2026-11-01T00:00:00Z"
END = "2026-11-02T00:00:00Z"


def _record_batch(warehouse, source, tenant: str, run_id: str, publish: dict, curated_rows: int = 0) -> None:
    """Step results of one batch as the pipeline records them, and ``curated_rows`` rows it published."""
    from salestalk.batch import Batch
    from salestalk.names import CURATED
    from salestalk.warehouse import tables

    batch = Batch(source.name, tenant, START, END, run_id)
    rows = publish.get("published", 0) + publish.get("stale_skipped", 0)
    with warehouse.connect() as s:
        d = s.dialect
        tables.ensure_tables(s, source)
        tables.record_result(s, batch, "load_to_staging", {"landed": rows, "staged": rows})
        tables.record_result(
            s, batch, "validate", {"passed": rows, "duplicates_dropped": 0, "error_rate": 0.0}
        )
        tables.record_result(s, batch, "quarantine", {"quarantined": 0})
        tables.record_result(s, batch, "publish", publish)
        ts = d.column_type("timestamp")
        for _ in range(curated_rows):
            s.execute(
                f"INSERT INTO {d.table(CURATED, source.name)} ({d.ident('_tenant_id')}, "
                f"{d.ident('_loaded_at')}, {d.ident('_interval_start')}, {d.ident('_published_run_id')}) "
                f"VALUES (?, CAST(? AS {ts}), CAST(? AS {ts}), ?)",
                [tenant, "2026-11-02T00:10:00Z", START, run_id],
            )


def test_status_shows_the_curated_rows_and_says_a_rerun_lost_nothing(warehouse, capsys) -> None:
    from salestalk.accounting import curated_state, recorded_intervals

    source = _configs()[sorted(_configs())[0]]
    rerun, other = source.tenants[0], source.tenants[1]
    _record_batch(
        warehouse, source, rerun, "manual__first", {"published": 3, "stale_skipped": 0}, curated_rows=3
    )
    for tenant in source.tenants[1:]:
        _record_batch(
            warehouse, source, tenant, "manual__first", {"published": 2, "stale_skipped": 0}, curated_rows=2
        )
    _record_batch(warehouse, source, rerun, "manual__rerun", {"published": 0, "stale_skipped": 3})

    state = curated_state(warehouse, source, START)
    assert state[rerun] == {
        "curated": 3,
        "published_by": [("manual__first", 3)],
        "last_attempt": "manual__rerun",
    }
    assert state[other]["curated"] == 2 and state[other]["last_attempt"] == "manual__first"
    assert recorded_intervals(warehouse, source.name) == [START]
    assert recorded_intervals(warehouse, source.name, "no-such-tenant") == []

    assert main(["status", "--source", source.name, "--interval", START]) == 0
    out = capsys.readouterr().out
    assert f"curated.{source.name} now" in out
    assert re.search(rf"^{rerun}\s+3\s+manual__first \(3\)\s+manual__rerun$", out, flags=re.M), out
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith(
        f"note: {rerun}: the last attempt (manual__rerun) was a rerun"
    )
    assert "nothing is lost" in notes[0] and "published by manual__first (3)" in notes[0]


def test_freshness_says_never_run_on_an_empty_warehouse(warehouse, alert_dir, capsys) -> None:
    from salestalk.freshness import Classification, diagnose

    configs = _configs()
    found = diagnose(warehouse, list(configs.values()))
    assert {d.classification for d in found} == {Classification.NEVER_RUN}
    assert len(found) == sum(len(c.tenants) for c in configs.values())
    assert main(["freshness", "--alert"]) == 0
    out = capsys.readouterr().out
    assert out.count(" never run ") == len(found)
    assert not (alert_dir / "alerts.jsonl").exists(), "a source that never ran is not alerted"


def test_freshness_of_a_source_with_a_held_back_and_a_missing_tenant(warehouse, capsys) -> None:
    from salestalk.freshness import Classification, diagnose

    source = _configs()[sorted(_configs())[0]]
    ran, held, *missing = source.tenants
    _record_batch(
        warehouse, source, ran, "manual__first", {"published": 1, "stale_skipped": 0}, curated_rows=1
    )
    _record_batch(warehouse, source, held, "manual__first", {"published": 0, "held_back": "error rate"})
    found = {d.observation.tenant: d for d in diagnose(warehouse, [source])}
    assert found[ran].observation.source_ran and found[ran].observation.rows == 1
    assert all(found[t].classification == Classification.EXTRACTION_PROBLEM for t in [held, *missing])
    assert "nothing was ever published for this tenant" in found[held].reason
    assert all(found[t].reason == "nothing has ever been loaded for this tenant" for t in missing)
    assert main(["freshness", "--source", source.name]) == 1
    assert "extraction_problem" in capsys.readouterr().out
