"""``python -m dev.fakeapi`` starts on a free port, answers, and stops on a signal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_main_prints_its_url_answers_and_stops_on_signal(tmp_path, stop_signal):
    ready_file = tmp_path / "fakeapi.url"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}  # dev/ only, as astro's fakeapi service runs it
    command = [sys.executable, "-m", "dev.fakeapi", "--port", "0", "--ready-file", str(ready_file)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while not ready_file.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready_file.exists(), (
            process.stderr.read() if process.poll() is not None else "not ready in time"
        )
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"fake source API listening on (http://127\.0\.0\.1:(\d+))", line)
        assert match and int(match.group(2)) > 0, line
        assert ready_file.read_text().strip() == match.group(1)

        assert requests.get(f"{match.group(1)}/_admin/health", timeout=5).json() == {"ok": True}
        assert requests.get(f"{match.group(1)}/v1/tenants/acme/deals", timeout=5).status_code == 200

        process.send_signal(stop_signal)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
