"""The benchmark scripts still run end to end (their --quick mode); figures are not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from salestalk import REPO_ROOT
from tests.support.subprocesses import REPO_PYTHONPATH

pytestmark = pytest.mark.long


@pytest.mark.parametrize("script", ["parse_time.py", "throughput.py"])
def test_benchmark_quick_mode_runs(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": REPO_PYTHONPATH},
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "written to benchmarks/results/" in result.stdout
    assert "| " in result.stdout, "the script must print its table"
