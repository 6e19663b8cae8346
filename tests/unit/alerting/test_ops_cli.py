"""The operator CLI's alert and deadline commands (the warehouse ones run in tests/e2e/test_runbook_commands.py)."""

from __future__ import annotations

from salestalk.__main__ import main
from salestalk.alerting.routes import deliver
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
    assert main(["deadlines", "--source", "deals"]) == 0
    out = capsys.readouterr().out
    assert "source_deals" in out and "deadline freshness_target: 15 min after queued at" in out
    assert "route log (log): local log" in out
