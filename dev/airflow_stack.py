"""Start a real Airflow (every component as its own process) on loopback, and talk to it over REST API v2.

Importing this module imports no Airflow: it only spawns ``python -m airflow ...`` processes. It is used
by ``make airflow`` / ``make stop``, by the distributed (Celery) test and by the real-scheduler tests.

Stable API (other tests import it; keep it backwards compatible)::

    from dev.airflow_stack import AirflowStack, free_port, stack_env

    env = stack_env(home, api_port=free_port())                # SQLite + LocalExecutor (parallelism 4)
    env = stack_env(home, api_port=free_port(), db_url="postgresql+psycopg2://postgres@127.0.0.1/db",
                    executor="CeleryExecutor", broker_url="redis://127.0.0.1:6379/0")
    env.update(embedded.connection_env())                      # moto + fake API connections, if wanted
    with AirflowStack(env, celery_workers=2) as stack:         # migrate, start, wait healthy, log in
        stack.wait_for_dags(["source_deals"])
        stack.unpause("source_deals")
        run_id = stack.trigger("source_deals", logical_date="2026-11-02T00:00:00Z")
        state = stack.wait_for_run("source_deals", run_id, timeout=300)   # "success" | "failed"
        tis = stack.task_instances("source_deals", run_id)    # REST dicts: task_id, map_index, state, try_number
        stack.kill("celery-worker-1")                          # SIGKILL its process group and descendants
        stack.component_of(ti["pid"])                          # "celery-worker-2": whose tree runs a task
    stack = AirflowStack.attach(state)                         # a client of a running `start` (state.json)

``stack_env`` returns the whole environment Airflow needs: ``AIRFLOW_HOME``, the DAG and plugin folders of this
repository, the metadata DB URL, the executor, a random 64-byte JWT secret, the API port and the execution
API URL, free log-server ports, ``LOAD_EXAMPLES=False``, ``PYTHONPATH`` (plugins and the repository root),
for the LocalExecutor ``AIRFLOW__CORE__PARALLELISM`` (its worker processes; ``parallelism=``, default
:func:`default_parallelism`, two per core: 4 on a 2-core laptop) and, for Celery, the broker, a result backend on
the metadata DB, a queue and a Redis key prefix unique to this stack (so stacks sharing one Redis never
steal each other's tasks). Pass ``extra={...}`` to add or override variables. Inherited ``AIRFLOW*``
variables of the calling process are dropped, so a test's own in-process Airflow settings never leak into
the stack.

``AirflowStack(env, celery_workers=0, components=DEFAULT_COMPONENTS, log_dir=None)``; or
``AirflowStack.attach(state, env=None)`` for a stack another process started (``start``'s
``state.json``): the REST helpers and ``airflow(...)`` work; it owns no process, ``stop()`` does nothing.

- ``start(timeout=240)`` runs ``airflow db migrate``, starts ``api-server --host 127.0.0.1``,
  ``scheduler --skip-serve-logs``, ``dag-processor``, ``triggerer --skip-serve-logs`` and the Celery
  workers (``celery-worker-1``..N, ``--skip-serve-logs``), each in its own process group (own session)
  with its own log file ``<log_dir>/<name>.log`` (default ``$AIRFLOW_HOME/stack-logs``); waits until
  ``/api/v2/monitor/health`` reports every started component healthy, asking the task execution API once
  meanwhile (``warm_execution_api()``: Airflow builds it on its first request); then logs in with
  ``POST /auth/token`` using the SimpleAuthManager password generated into
  ``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``; then creates the pools the source configs
  name (``ensure_pools()``: ``concurrency.api_pool``, with ``api_pool_slots``; salestalk.pools). That file and the component logs (the
  api-server prints the password) are mode 0600. If a component exits early it raises ``StackError`` with
  the tail of its log.
- ``stop(grace=20)`` sends SIGTERM to every process group, then SIGKILL to those still alive. Idempotent.
  The context manager calls ``start`` and ``stop``; ``stop`` also runs when ``start`` fails.
- ``base_url``, ``username``, ``password``, ``token``, ``processes`` (name -> Popen), ``log_path(name)``,
  ``log_tail(name)``.
- REST helpers: ``request(method, path, body=None)``, ``health()``, ``wait_for_dags(ids)``,
  ``unpause(id)``, ``trigger(id, logical_date=None, conf=None, run_id=None)``, ``clear_run(id, run_id)``
  (rerun every task of a run; a logical date can only be triggered once), ``get_run(id, run_id)``,
  ``wait_for_run(id, run_id, timeout)``, ``task_instances(id, run_id)``, ``import_errors()``.
- ``kill(name, sig=SIGKILL)`` signals one component's process group and all its descendants (task runners
  live in process groups of their own); ``alive(name)``; ``component_of(pid)`` names the component whose
  process tree holds ``pid``; ``start_worker(n)`` starts (or restarts) Celery worker ``n``.

Command line (``make airflow`` / ``make stop``)::

    python -m dev.airflow_stack start [--home DIR] [--port 8080] [--parallelism 4] [--env NAME=VALUE ...]
    python -m dev.airflow_stack stop [--home DIR]
    python -m dev.airflow_stack status [--home DIR]

``start`` runs ``serve`` detached and waits until it is ready: moto and the fake source API (dev.embedded)
in that process, the bucket, DynamoDB table and inbound files prepared, then the four components with
SQLite and the LocalExecutor under the home: ``--home``, else ``SALESTALK_LOCAL_HOME``, else
``.local/airflow``. The components get the launcher's ``SALESTALK_*`` variables (e.g.
``SALESTALK_SOURCES_DIR``, ``SALESTALK_DUCKDB_PATH``), the settings' values made explicit, and each
``--env`` (which may set ``AIRFLOW_*`` too). In the home: ``state.json`` (pids, URL, login, fake API and
moto URLs) and ``client.env`` (the components' ``AIRFLOW*``/``SALESTALK_*`` variables as ``export`` lines,
which ``python -m salestalk`` loads; see salestalk.client_env), both mode 0600 and removed on stop; and
``lineage/openlineage.jsonl``, the OpenLineage events, unless the launcher's environment chose a transport
(``AIRFLOW__OPENLINEAGE__TRANSPORT``, ``OPENLINEAGE_URL``, ...; :func:`dev.localairflow.lineage_env`, docs/lineage.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from dev.localairflow import lineage_env
from salestalk import REPO_ROOT
from salestalk.client_env import (
    CLIENT_ENV_FILE,
    client_variables,
    local_home,
    pid_alive,
    read_state,
    render,
    write_private,
)
from salestalk.names import AWS_SESSION_FACTORY

LOOPBACK = "127.0.0.1"
DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
EXECUTION_API_HEALTH = "/execution/health"  # needs no token; answered once the task execution API is built
COMMANDS = {
    "api-server": ["api-server", "--host", LOOPBACK],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
TERMINAL_RUN_STATES = ("success", "failed")
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
LOCAL_PARALLELISM = 4  # kept for importers: default_parallelism() on a 2-core laptop


class StackError(RuntimeError):
    """The stack did not start, or a REST call failed."""


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def stack_env(
    home: Path,
    *,
    api_port: int,
    db_url: str | None = None,
    executor: str = "LocalExecutor",
    broker_url: str | None = None,
    queue: str | None = None,
    parallelism: int | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every component of one stack. SQLite under ``home`` unless ``db_url`` is given."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    pythonpath = [str(REPO_ROOT / "plugins"), str(REPO_ROOT)]
    pythonpath += [p for p in base.get("PYTHONPATH", "").split(os.pathsep) if p and p not in pythonpath]
    env = {
        **base,
        "PYTHONPATH": os.pathsep.join(pythonpath),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        # A task's supervisor can miss its process's exit and wait out one whole interval (default 5 s) before
        # the slot is free again; 1 s bounds that, for one heartbeat per running task per second.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__AWS__SESSION_FACTORY": AWS_SESSION_FACTORY,
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "*",
    }
    if parallelism or executor == "LocalExecutor":
        env["AIRFLOW__CORE__PARALLELISM"] = str(parallelism or default_parallelism())
    if executor == "CeleryExecutor":
        if not broker_url:
            raise ValueError("the CeleryExecutor needs broker_url, e.g. redis://127.0.0.1:6379/0")
        tag = queue or f"salestalk_{secrets.token_hex(4)}"
        sync_url = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sync_url}",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": tag,
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{tag}:",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                # Each worker imports GX, pandas, pyarrow, duckdb and boto3 once; its tasks inherit them.
                "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps({"imports": ["salestalk.worker_preload"]}),
            }
        )
    env.update(extra or {})
    return env


def default_parallelism(cpus: int | None = None) -> int:
    """LocalExecutor worker processes for this machine: two per core (4 on 2 cores), at least 2.

    Each worker is a pre-forked process of about 150 MiB whether busy or not, and a step is mostly I/O and
    DuckDB lock waits, so more than two tasks per core only adds memory and contention (issue 15: of the
    32 default workers, at most 16 were ever busy on 2 cores).
    """
    return max(2, 2 * (cpus or os.cpu_count() or 1))


def configured_pools(env: dict[str, str]) -> dict[str, tuple[int, str]]:
    """``{pool: (slots, description)}`` for the source configs a stack with ``env`` reads."""
    from salestalk.config.loader import load_sources
    from salestalk.pools import pool_description, required_pools

    folder = env.get("SALESTALK_SOURCES_DIR")
    configs = list(load_sources(Path(folder) if folder else None).configs.values())
    return {name: (slots, pool_description(name, configs)) for name, slots in required_pools(configs).items()}


class StartedInWith:
    """``with stack:`` calls ``start()``, and ``stop()`` on the way out, also when ``start()`` fails."""

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class AirflowStack(StartedInWith):
    """Airflow's components as local processes; see the module docstring."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        celery_workers: int = 0,
        components: tuple[str, ...] = DEFAULT_COMPONENTS,
        log_dir: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.env = dict(env)
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.port = int(self.env.get("AIRFLOW__API__PORT", "8080"))
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self.components = tuple(components)
        self.celery_workers = celery_workers
        self.log_dir = Path(log_dir) if log_dir else self.home / "stack-logs"
        self.python = python
        self.processes: dict[str, subprocess.Popen] = {}
        self.username = "admin"
        self.password = ""
        self.token = ""

    @classmethod
    def attach(cls, state: dict[str, Any], env: dict[str, str] | None = None) -> AirflowStack:
        """A client of a running stack, from ``start``'s state; logs in. Owns no process."""
        port = urllib.parse.urlsplit(state["url"]).port
        home = state.get("home") or str(LOCAL_HOME)
        stack = cls({**(env or {}), "AIRFLOW_HOME": home, "AIRFLOW__API__PORT": str(port)})
        stack.username, stack.password = state.get("username", "admin"), state["password"]
        stack.token = stack._token()
        return stack

    # ---- lifecycle -------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300, log_name: str | None = None) -> None:
        """Run one ``airflow`` CLI command to completion with the stack's environment."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(log_name or args[0])
        with _open_private_log(log_path) as log:
            done = subprocess.run(
                [self.python, "-m", "airflow", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        if done.returncode != 0:
            raise StackError(f"airflow {' '.join(args)} exited {done.returncode}:\n{self.log_tail(log_path)}")

    def start(self, timeout: float = 240) -> AirflowStack:
        deadline = time.monotonic() + timeout
        if not port_is_free(self.port):
            raise StackError(f"port {self.port} on {LOOPBACK} is taken")
        self.airflow("db", "migrate", log_name="db-migrate")
        _make_private(self.home / PASSWORDS_FILE)  # before the api-server writes the password into it
        for name in self.components:
            self._spawn(name, COMMANDS[name])
        for number in range(1, self.celery_workers + 1):
            self.start_worker(number)
        self.wait_healthy(deadline)
        self.login(deadline)
        self.ensure_pools()
        return self

    def ensure_pools(self, pools: dict[str, tuple[int, str]] | None = None) -> dict[str, tuple[int, str]]:
        """Create or resize the pools the stack's source configs name (``concurrency.api_pool``), over the
        REST API: a task whose pool is missing would never run. Returns ``{pool: (slots, description)}``."""
        pools = configured_pools(self.env) if pools is None else pools
        for name, (slots, description) in pools.items():
            body = {"name": name, "slots": slots, "description": description, "include_deferred": False}
            try:
                self.request("POST", "/api/v2/pools", body)
            except StackError as error:
                if "HTTP 409" not in str(error):
                    raise
                changes = {
                    "pool": name,
                    "slots": slots,
                    "description": description,
                    "include_deferred": False,
                }
                self.request("PATCH", f"/api/v2/pools/{_quote(name)}", changes)
        return pools

    def start_worker(self, number: int) -> str:
        """Start (or restart) Celery worker ``number``; returns its component name."""
        name = f"celery-worker-{number}"
        concurrency = self.env.get("AIRFLOW__CELERY__WORKER_CONCURRENCY", "2")
        queue = self.env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", "default")
        hostname = f"w{number}-{queue}@%h"
        argv = ["celery", "worker", "--skip-serve-logs", "-c", concurrency, "-q", queue, "-H", hostname]
        argv += ["--without-mingle", "--without-gossip"]
        self._spawn(name, argv)
        return name

    def _spawn(self, name: str, argv: list[str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with _open_private_log(self.log_path(name)) as log:
            self.processes[name] = subprocess.Popen(
                [self.python, "-m", "airflow", *argv],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=str(self.home),
            )

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every process group, wait up to ``grace`` seconds, SIGKILL what is left."""
        running = {n: p for n, p in self.processes.items() if p.poll() is None}
        # Task runners sit in process groups of their own: remember them to SIGKILL any that outlive us.
        tree = {pid for process in running.values() for pid in _descendants(process.pid)}
        for process in running.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for process in self.processes.values():
            # The leader may be gone while children in its group live on: SIGKILL the group regardless.
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        for pid in tree:
            if _is_airflow_process(pid):  # still ours, not a reused pid
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process of one component: its process group and every descendant.

        Descendants count because Airflow's supervisor puts each task runner in a process group of its
        own; a dead machine takes those with it too.
        """
        process = self.processes[name]
        tree = _descendants(process.pid)
        _signal_group(process, sig)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def component_of(self, pid: int | None) -> str | None:
        """The component whose process tree holds ``pid`` (e.g. a task instance's ``pid``), if any."""
        leaders = {p.pid: name for name, p in self.processes.items() if p.poll() is None}
        seen = set()
        while pid and pid > 1 and pid not in seen:
            if pid in leaders:
                return leaders[pid]
            seen.add(pid)
            pid = _parent_pid(pid)
        return None

    def alive(self, name: str) -> bool:
        return name in self.processes and self.processes[name].poll() is None

    def log_path(self, name: str | Path) -> Path:
        return name if isinstance(name, Path) else self.log_dir / f"{name}.log"

    def log_tail(self, name: str | Path, lines: int = 40) -> str:
        path = self.log_path(name)
        if not path.exists():
            return f"({path} does not exist)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # ---- readiness -------------------------------------------------------------------------------

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}:\n{self.log_tail(name)}")

    def health(self) -> dict[str, Any]:
        return self.request("GET", "/api/v2/monitor/health", auth=False)

    def warm_execution_api(self) -> None:
        """One request to the api-server's task execution API. Airflow builds that app's versioned routes
        (Cadwyn) on its first request, about 2.5 to 3 s; otherwise the stack's first task waits for it."""
        with contextlib.suppress(StackError):  # any HTTP answer means the routes are built
            self.request("GET", EXECUTION_API_HEALTH, auth=False, timeout=120)

    def wait_healthy(self, deadline: float) -> dict[str, Any]:
        """Wait until every started component reports healthy; warm the execution API meanwhile."""
        wanted = [HEALTH_KEYS[c] for c in self.components if c in HEALTH_KEYS]
        last: Any = None
        warmed = "api-server" not in self.components
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                last = self.health()
                if not warmed:  # the other components go on starting meanwhile
                    self.warm_execution_api()
                    warmed = True
            except (StackError, OSError) as error:
                last = error
            else:
                if last.get("metadatabase", {}).get("status") == "healthy" and all(
                    (last.get(key) or {}).get("status") == "healthy" for key in wanted
                ):
                    return last
            time.sleep(1)
        raise StackError(f"not healthy in time; last health answer: {last}")

    def login(self, deadline: float) -> str:
        """Read the generated admin password and get a JWT from ``POST /auth/token``."""
        passwords = self.home / PASSWORDS_FILE
        while True:
            try:
                known = json.loads(passwords.read_text() or "{}")
            except (OSError, ValueError):
                known = {}
            if self.username in known:
                break
            if time.monotonic() > deadline:
                raise StackError(f"no password for {self.username!r} in {passwords} in time")
            self._check_alive()
            time.sleep(0.5)
        _make_private(passwords)
        self.password = known[self.username]
        self.token = self._token()
        return self.token

    def _token(self) -> str:
        answer = self.request(
            "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
        )
        return answer["access_token"]

    # ---- REST API v2 -----------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with _NO_PROXY_OPENER.open(req, timeout=timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:2000]
            raise StackError(f"{method} {path}: HTTP {error.code}: {detail}") from error
        return json.loads(text) if text else None

    def dag_ids(self) -> set[str]:
        answer = self.request("GET", "/api/v2/dags?limit=1000")
        return {dag["dag_id"] for dag in answer["dags"]}

    def wait_for_dags(self, dag_ids: list[str] | set[str], timeout: float = 120) -> None:
        """Wait until the dag-processor has serialized every DAG in ``dag_ids``."""
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            self._check_alive()
            missing = set(dag_ids) - self.dag_ids()
            if not missing:
                return
            time.sleep(1)
        raise StackError(f"DAGs not parsed in time: {sorted(missing)}; import errors: {self.import_errors()}")

    def import_errors(self) -> list[dict]:
        return self.request("GET", "/api/v2/importErrors")["import_errors"]

    def unpause(self, dag_id: str) -> None:
        self.request("PATCH", f"/api/v2/dags/{_quote(dag_id)}", {"is_paused": False})

    def trigger(
        self,
        dag_id: str,
        logical_date: str | None = None,
        conf: dict | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a run; a manual run's data interval is the schedule's interval ending at ``logical_date``."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": conf or {}}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/api/v2/dags/{_quote(dag_id)}/dagRuns", body)["dag_run_id"]

    def clear_run(self, dag_id: str, run_id: str) -> int:
        """Clear every task of a run, as "Clear" in the UI does, so the whole run runs again (same interval).

        Returns how many task instances were cleared.
        """
        body = {"dag_run_id": run_id, "dry_run": False, "only_failed": False, "reset_dag_runs": True}
        answer = self.request("POST", f"/api/v2/dags/{_quote(dag_id)}/clearTaskInstances", body)
        return int(answer.get("total_entries", len(answer.get("task_instances", []))))

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300, poll: float = 1.0) -> str:
        """Poll until the run is success or failed; returns that state. Raises StackError on timeout."""
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.get_run(dag_id, run_id)["state"]
            if state in TERMINAL_RUN_STATES:
                return state
            time.sleep(poll)
        raise StackError(f"{dag_id} {run_id} still {state} after {timeout:.0f}s")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances?limit=1000"
        return self.request("GET", path)["task_instances"]


def _quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _parent_pid(pid: int) -> int | None:
    """Linux: the parent of ``pid`` from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _is_airflow_process(pid: int) -> bool:
    try:
        return b"airflow" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _children() -> dict[int, list[int]]:
    """Linux: parent pid -> its live children, from one scan of /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_pid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    return children


def _descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """Linux: every live descendant of ``root``, from /proc (or from one :func:`_children` scan)."""
    children = _children() if children is None else children
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _make_private(path: Path) -> None:
    """Create ``path`` empty, or keep it, with mode 0600 (it holds or will hold a password)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)


def _open_private_log(path: Path):
    """Open a log for appending, mode 0600: the api-server's log prints the generated admin password."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


# ---- make airflow / make stop ------------------------------------------------------------------------

LOCAL_HOME = REPO_ROOT / ".local" / "airflow"  # the default home; SALESTALK_LOCAL_HOME or --home override it
STATE_FILE = LOCAL_HOME / "state.json"
LAUNCHER_LOG = LOCAL_HOME / "launcher.log"
PATH_SETTINGS = (
    "SALESTALK_DUCKDB_PATH",
    "SALESTALK_ALERT_DIR",
    "SALESTALK_SOURCES_DIR",
    "SALESTALK_LOCAL_HOME",
)


def _home(home: str | Path | None) -> Path:
    return Path(home).absolute() if home else local_home()


def _write_state(home: Path, state: dict[str, Any]) -> None:
    write_private(home / "state.json", json.dumps(state, indent=2) + "\n")


def _read_state(home: Path) -> dict[str, Any] | None:
    return read_state(home)


def _pid_alive(pid: int) -> bool:
    return pid_alive(pid)


def prepare_embedded(
    embedded: Any,
    *,
    bucket: str | None = None,
    table: str | None = None,
    days: tuple[str, ...] | None = None,
    recent_days: int = 0,
) -> None:
    """Create the bucket and the DynamoDB table and drop the tenants' inbound files, as ``make demo`` does.

    ``bucket`` and ``table`` default to the settings (``SALESTALK_BUCKET``, ``SALESTALK_DYNAMODB_TABLE``).
    ``recent_days`` also drops files for that many UTC days up to today, so a first trigger finds data.
    """
    from dev.demo import DEMO_DAYS
    from dev.embedded import (
        ensure_bucket,
        ensure_dynamodb_table,
        seed_inbound_files,
        seed_recent_inbound_files,
    )
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings

    settings = get_settings()
    bucket = bucket or settings.bucket
    client = embedded.s3_client()
    ensure_bucket(client, bucket)
    ensure_dynamodb_table(embedded.dynamodb_client(), table or settings.dynamodb_table)
    kms = {k: v for k, v in embedded.connection_env().items() if k.startswith("SALESTALK_KMS")}
    saved = {k: os.environ.get(k) for k in kms}
    os.environ.update(kms)  # TenantS3 reads the KMS key from the environment
    try:
        for source in load_sources().configs.values():
            seed_inbound_files(client, bucket, source, list(days or DEMO_DAYS))
            if recent_days:
                seed_recent_inbound_files(client, bucket, source, count=recent_days)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def bootstrap(endpoint_url: str, kms_alias: str, days: tuple[str, ...] | None = None) -> None:
    """docker compose's ``bootstrap`` service: on a running moto, the KMS key (found by its alias, so that
    ``SALESTALK_KMS_KEY_ID`` can be fixed in .env), the bucket, the DynamoDB table and the inbound files.
    Idempotent: a second run changes nothing."""
    from dev.embedded import EmbeddedStack, aws_client

    kms = aws_client("kms", endpoint_url)
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if kms_alias not in aliases:
        key_id = kms.create_key(Description="salestalk data at rest")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=kms_alias, TargetKeyId=key_id)
    target = EmbeddedStack(
        moto_url=endpoint_url, api_url="", moto_server=None, api_server=None, kms_key_id=kms_alias
    )
    prepare_embedded(target, days=days)


def local_settings(home: Path) -> dict[str, str]:
    """The pipelines' settings of a local stack made explicit: the launcher's environment, else the defaults."""
    from salestalk.alerting.routes import alert_dir
    from salestalk.settings import get_settings

    settings = get_settings()
    return {
        "SALESTALK_LOCAL_HOME": str(home),
        "SALESTALK_BUCKET": settings.bucket,
        "SALESTALK_DYNAMODB_TABLE": settings.dynamodb_table,
        "SALESTALK_WAREHOUSE": settings.warehouse,
        "SALESTALK_DUCKDB_PATH": str(settings.duckdb_path.absolute()),
        "SALESTALK_ALERT_DIR": str(alert_dir().absolute()),
    }


def serve(
    port: int,
    home: Path | None = None,
    *,
    parallelism: int | None = None,
    extra: dict[str, str] | None = None,
) -> int:
    """Foreground: embedded services, then the four components; stop everything on SIGTERM or SIGINT."""
    from dev.embedded import RECENT_DAYS, start_embedded

    home = _home(home)
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    state: dict[str, Any] = {"launcher_pid": os.getpid(), "status": "starting", "home": str(home)}
    _write_state(home, state)
    embedded = start_embedded()
    stack = None
    try:
        prepare_embedded(embedded, recent_days=RECENT_DAYS)
        lineage = lineage_env(home, {**os.environ, **(extra or {})})  # an --env choice wins too
        settings = {**embedded.connection_env(), **local_settings(home), **lineage, **(extra or {})}
        env = stack_env(home, api_port=port, parallelism=parallelism, extra=settings)
        stack = AirflowStack(env, log_dir=home / "logs-components")
        stack.start()
        client_env = home / CLIENT_ENV_FILE
        write_private(client_env, render(client_variables(stack.env)))
        state.update(
            status="ready",
            url=stack.base_url,
            username=stack.username,
            password=stack.password,
            moto_url=embedded.moto_url,
            source_api_url=embedded.api_url,
            client_env=str(client_env),
            parallelism=stack.env.get("AIRFLOW__CORE__PARALLELISM"),
            components={name: p.pid for name, p in stack.processes.items()},
            logs=str(stack.log_dir),
            lineage=stack.env.get("AIRFLOW__OPENLINEAGE__TRANSPORT")
            or "OPENLINEAGE_URL / OPENLINEAGE_CONFIG",
        )
        _write_state(home, state)
        print(f"ready at {stack.base_url}", flush=True)
        while not stopping:
            for name, process in stack.processes.items():
                if process.poll() is not None and not stopping:
                    print(f"{name} exited with {process.returncode}; stopping", flush=True)
                    stopping.append(True)
            time.sleep(1)
        return 0
    except Exception as error:
        state.update(status="failed", error=str(error))
        _write_state(home, state)
        raise
    finally:
        (home / CLIENT_ENV_FILE).unlink(missing_ok=True)
        if stack is not None:
            stack.stop()
        embedded.stop()
        if state.get("status") != "failed":
            (home / "state.json").unlink(missing_ok=True)
        print("stopped", flush=True)


def start_background(
    port: int | None,
    timeout: float = 300,
    *,
    home: Path | None = None,
    parallelism: int | None = None,
    extra: dict[str, str] | None = None,
) -> int:
    home = _home(home)
    state = _read_state(home)
    if state and _pid_alive(int(state.get("launcher_pid", 0))):
        print(f"already running: {state.get('url', '(starting)')}  (make stop to stop it)")
        return 0
    home.mkdir(parents=True, exist_ok=True)
    (home / "state.json").unlink(missing_ok=True)
    if port is None:
        port = 8080 if port_is_free(8080) else free_port()
    argv = [sys.executable, "-m", "dev.airflow_stack", "serve", "--home", str(home), "--port", str(port)]
    if parallelism:
        argv += ["--parallelism", str(parallelism)]
    for name, value in (extra or {}).items():
        argv += ["--env", f"{name}={value}"]
    child_env = dict(os.environ)
    for name in PATH_SETTINGS:  # the components run in the home: relative paths mean the caller's folder
        if child_env.get(name):
            child_env[name] = os.path.abspath(child_env[name])
    launcher_log = home / "launcher.log"
    with _open_private_log(launcher_log) as log:
        launcher = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(REPO_ROOT),
            env=child_env,
        )
    print(f"starting Airflow (api-server, scheduler, dag-processor, triggerer) on {LOOPBACK}:{port} ...")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state(home) or {}
        if state.get("status") == "ready":
            print(f"\nAirflow UI:  {state['url']}")
            print(f"Login:       {state['username']} / {state['password']}")
            print(
                f"Executor:    LocalExecutor, parallelism {state.get('parallelism')} "
                f"(make airflow PARALLELISM=8 to raise it), SQLite metadata in {home / 'airflow.db'}"
            )
            print(
                f"moto (S3, DynamoDB, KMS): {state['moto_url']}   fake source API: {state['source_api_url']}"
            )
            print(f"Logs:        {state['logs']}/ and {launcher_log}")
            print(
                f"CLI:         python -m salestalk ... and make status/quarantine/... use this stack "
                f'({state["client_env"]}); for a shell: eval "$(make -s env)"'
            )
            print("Stop with:   make stop")
            return 0
        if state.get("status") == "failed" or launcher.poll() is not None:
            print(f"failed to start: {state.get('error', '')}\n--- {launcher_log} ---", file=sys.stderr)
            print("\n".join(launcher_log.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"not ready after {timeout:.0f}s; see {launcher_log}", file=sys.stderr)
    return 1


def stop_background(timeout: float = 60, *, home: Path | None = None) -> int:
    home = _home(home)
    state = _read_state(home)
    if not state:
        print(f"nothing to stop (no {home / 'state.json'})")
        return 0
    pid = int(state.get("launcher_pid", 0))
    if pid and _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    for name, component_pid in (state.get("components") or {}).items():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(component_pid), signal.SIGKILL)
            print(f"killed leftover {name}")
    if pid and _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    (home / "state.json").unlink(missing_ok=True)
    (home / CLIENT_ENV_FILE).unlink(missing_ok=True)
    print("stopped Airflow, moto and the fake source API")
    return 0


def status(home: Path | None = None) -> int:
    state = _read_state(_home(home))
    if not state or not _pid_alive(int(state.get("launcher_pid", 0))):
        print("not running")
        return 1
    print(json.dumps({k: v for k, v in state.items() if k != "password"}, indent=2))
    return 0


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.airflow_stack")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start Airflow in the background (make airflow)")
    start.add_argument("--port", type=int, help="API/UI port (default 8080, or a free one if taken)")
    run = commands.add_parser("serve", help="foreground; what start runs in the background")
    run.add_argument("--port", type=int, default=8080)
    for command in (start, run):
        command.add_argument(
            "--parallelism", type=int, help=f"tasks at a time (default {default_parallelism()})"
        )
        command.add_argument(
            "--env", type=_env_pair, action="append", default=[], help="NAME=VALUE for every component"
        )
    stop = commands.add_parser("stop", help="stop what start started (make stop)")
    show = commands.add_parser("status", help="print the state file")
    for command in (start, run, stop, show):
        command.add_argument(
            "--home", help="the stack's folder (default $SALESTALK_LOCAL_HOME or .local/airflow)"
        )
    boot = commands.add_parser("bootstrap", help="docker compose: KMS key, bucket, table, inbound files")
    boot.add_argument("--endpoint-url", required=True, help="moto, e.g. http://moto:5000")
    boot.add_argument("--kms-alias", default="alias/salestalk-data")
    args = parser.parse_args(argv)
    if args.command == "bootstrap":
        bootstrap(args.endpoint_url, args.kms_alias)
        print(f"bootstrapped {args.endpoint_url}: KMS {args.kms_alias}, bucket, table, inbound files")
        return 0
    home = Path(args.home).absolute() if args.home else None
    if args.command == "start":
        return start_background(args.port, home=home, parallelism=args.parallelism, extra=dict(args.env))
    if args.command == "stop":
        return stop_background(home=home)
    if args.command == "status":
        return status(home)
    return serve(args.port, home, parallelism=args.parallelism, extra=dict(args.env))


if __name__ == "__main__":
    sys.exit(main())
