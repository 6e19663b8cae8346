"""Under CI=true, skipping a test that needs Postgres or Redis fails the run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from salestalk import REPO_ROOT
from tests.support.subprocesses import REPO_PYTHONPATH


def run_pytest(tmp_path, ci: str) -> subprocess.CompletedProcess:
    test_file = tmp_path / "test_needs_services.py"
    test_file.write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.services
            def test_needs_postgres():
                pytest.skip("no Postgres on this machine")
            """
        )
    )
    conftest = (REPO_ROOT / "tests" / "conftest.py").read_text()
    (tmp_path / "conftest.py").write_text(conftest)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    services: x\n    e2e: x\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "CI": ci, "PYTHONPATH": REPO_PYTHONPATH},
        check=False,
    )


def test_skip_fails_under_ci(tmp_path) -> None:
    result = run_pytest(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "must not skip" in result.stdout


def test_skip_is_a_skip_elsewhere(tmp_path) -> None:
    result = run_pytest(tmp_path, "false")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
