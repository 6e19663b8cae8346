"""The real ``make airflow`` launcher, started in a temp home, for tests that need a live local stack.

::

    from tests.support.live_stack import LiveStack

    with LiveStack(tmp_path / "stack", env={"SALESTALK_SOURCES_DIR": str(folder)}) as live:
        live.airflow.wait_for_dags(["source_deals"])     # dev.airflow_stack.AirflowStack, attached: request,
        live.airflow.unpause("source_deals")             # wait_for_dags, unpause, trigger, clear_run,
        run_id = live.airflow.trigger("source_deals", logical_date="2026-11-02T00:00:00Z")  # get_run,
        live.airflow.wait_for_run("source_deals", run_id, timeout=300)   # wait_for_run, task_instances
        live.set_faults({"mode": "bad_rows", "fraction": 0.5, "resource": "deals", "tenant": "globex"})
        live.fake_api("POST", "/_admin/reset")           # any call of the fake API (dev/fakeapi/app.py)
        live.state                                       # state.json: url, username, password, moto_url,
                                                         #   source_api_url, components, logs, client_env
        live.env_file, live.client_env                   # <home>/client.env and its variables
        live.run("PYTHONPATH=plugins .venv/bin/python -m salestalk status --source deals")
        live.cli_env()                                   # the clean environment run() uses
        live.s3_client(), live.dynamodb_client()         # moto, as the stack's tasks reach it
        with live.client_settings():                     # this process's SALESTALK_* and AIRFLOW_CONN_* set
            ...                                          #   to the stack's (TenantS3, get_settings())

``LiveStack(home, env=None, *, port=None, parallelism=None, airflow_env=None, timeout=300)``.
``start()`` runs ``python -m dev.airflow_stack start --home <home> --port <port or a free one>`` in the
repository with this process's environment minus its ``AIRFLOW*`` and ``SALESTALK_*`` variables, plus
``env``, whose defaults for a test are: ``SALESTALK_DUCKDB_PATH`` and ``SALESTALK_ALERT_DIR`` under ``home``,
a bucket of its own, ``SALESTALK_CONFIG_CACHE=off``. ``airflow_env`` goes to every component as ``--env``
(``AIRFLOW_*`` too); its default, ``AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE=False``, keeps the scheduler to
the runs a test triggers. ``start`` returns once the stack is healthy and logged in (about 40 s) and
raises ``RuntimeError`` with the launcher's and components' log tails if it does not come up.
``stop()`` runs ``... stop --home <home>``. The context manager starts and stops (also when start fails).

``run(command, timeout=600)`` runs one shell line (``bash -o pipefail -c``) from the repository root in
``cli_env()``: no ``AIRFLOW*``/``SALESTALK_*`` variable but ``SALESTALK_LOCAL_HOME=<home>``, so
``python -m salestalk`` finds the stack by itself, as it does for ``make airflow``'s default home. It
returns a ``CompletedProcess`` (return code -9 after a timeout, its process group killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dev.airflow_stack import StartedInWith
from salestalk import REPO_ROOT
from tests.support.subprocesses import REPO_PYTHONPATH

if TYPE_CHECKING:
    from collections.abc import Generator

    from dev.airflow_stack import AirflowStack

OWN_PREFIXES = ("AIRFLOW", "SALESTALK_")


def clean_environment() -> dict[str, str]:
    """This process's environment without its Airflow and SalesTalk settings (tests set their own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}


class LiveStack(StartedInWith):
    """``make airflow``'s launcher in a temp home; see the module docstring."""

    def __init__(
        self,
        home: Path,
        env: dict[str, str] | None = None,
        *,
        port: int | None = None,
        parallelism: int | None = None,
        airflow_env: dict[str, str] | None = None,
        timeout: float = 300,
    ) -> None:
        self.home = Path(home).absolute()
        self.env = {
            "SALESTALK_DUCKDB_PATH": str(self.home / "warehouse.duckdb"),
            "SALESTALK_ALERT_DIR": str(self.home / "alerts"),
            "SALESTALK_BUCKET": f"live-{uuid.uuid4().hex[:12]}",
            "SALESTALK_CONFIG_CACHE": "off",
            **(env or {}),
        }
        self.port = port
        self.parallelism = parallelism
        self.airflow_env = (
            {"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"} if airflow_env is None else dict(airflow_env)
        )
        self.timeout = timeout
        self.state: dict[str, Any] = {}
        self.client_env: dict[str, str] = {}
        self.airflow: AirflowStack | None = None

    @property
    def env_file(self) -> Path:
        return self.home / "client.env"

    @property
    def fake_api_url(self) -> str:
        return self.state["source_api_url"]

    @property
    def moto_url(self) -> str:
        return self.state["moto_url"]

    # ---- lifecycle -------------------------------------------------------------------------------

    def _launcher(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "dev.airflow_stack", *args, "--home", str(self.home)],
            cwd=REPO_ROOT,
            env={**clean_environment(), "PYTHONPATH": REPO_PYTHONPATH, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> LiveStack:
        from dev.airflow_stack import AirflowStack, free_port
        from salestalk.client_env import parse, read_state

        self.home.mkdir(parents=True, exist_ok=True)
        args = ["start", "--port", str(self.port or free_port())]
        if self.parallelism:
            args += ["--parallelism", str(self.parallelism)]
        for name, value in self.airflow_env.items():
            args += ["--env", f"{name}={value}"]
        done = self._launcher(*args, timeout=self.timeout + 30)
        self.state = read_state(self.home) or {}
        if done.returncode != 0 or self.state.get("status") != "ready":
            raise RuntimeError(f"the local stack did not start:\n{done.stdout}\n{done.stderr}\n{self.logs()}")
        self.client_env = parse(self.env_file.read_text())
        self.airflow = AirflowStack.attach(self.state, env=self.client_env)
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._launcher("stop", timeout=120)

    def logs(self, lines: int = 40) -> str:
        """The tails of the launcher's and every component's log, for failure messages."""
        found = [self.home / "launcher.log", *sorted((self.home / "logs-components").glob("*.log"))]
        tails = []
        for path in found:
            if path.exists():
                tail = "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
                tails.append(f"--- {path.name} ---\n{tail}")
        return "\n".join(tails)

    # ---- clients ---------------------------------------------------------------------------------

    def cli_env(self) -> dict[str, str]:
        return {**clean_environment(), "SALESTALK_LOCAL_HOME": str(self.home)}

    def run(self, command: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """One shell line from the repository root, in :meth:`cli_env`. On timeout its whole process
        group is killed (no CLI left behind holding the warehouse) and the return code is -9."""
        process = subprocess.Popen(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=REPO_ROOT,
            env=self.cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            err += f"\n(killed after {timeout:.0f}s)"
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def fake_api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the stack's fake source API, e.g. ``("POST", "/_admin/faults", {...})``; returns its JSON."""
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.fake_api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def set_faults(self, faults: dict | list[dict]) -> Any:
        return self.fake_api("POST", "/_admin/faults", faults)

    def reset_api(self) -> Any:
        return self.fake_api("POST", "/_admin/reset")

    def s3_client(self):
        from dev.embedded import aws_client

        return aws_client("s3", self.moto_url)

    def dynamodb_client(self):
        from dev.embedded import aws_client

        return aws_client("dynamodb", self.moto_url)

    @contextlib.contextmanager
    def client_settings(self) -> Generator[dict[str, str], None, None]:
        """Set this process's ``SALESTALK_*``, ``AIRFLOW_CONN_*`` and AWS region to the stack's, then restore.

        ``AIRFLOW_HOME`` and ``AIRFLOW__*`` are left alone: they belong to the test's own in-process Airflow.
        """
        import pytest

        wanted = {
            k: v
            for k, v in self.client_env.items()
            if k.startswith(("SALESTALK_", "AIRFLOW_CONN_")) or k == "AWS_DEFAULT_REGION"
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in wanted.items():
                patch.setenv(name, value)
            yield wanted
