"""Start a real Airflow (every component as its own process) on loopback, and talk to it over REST API v2.

Importing this module imports no Airflow: it only spawns ``python -m airflow ...`` processes. It is used
by ``make airflow`` / ``make stop``, by the distributed (Celery) test and by the real-scheduler tests.

Stable API (other tests import it; keep it backwards compatible)::

    from dev.airflow_stack import AirflowStack, free_port, stack_env

    env = stack_env(home, api_port=free_port())                # SQLite + LocalExecutor
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

``stack_env`` returns the whole environment Airflow needs: ``AIRFLOW_HOME``, the DAG and plugin folders of this
repository, the metadata DB URL, the executor, a random 64-byte JWT secret, the API port and the execution
API URL, free log-server ports, ``LOAD_EXAMPLES=False``, ``PYTHONPATH`` (plugins and the repository root)
and, for Celery, the broker, a result backend on the metadata DB, a queue and a Redis key prefix unique to
this stack (so stacks sharing one Redis never steal each other's tasks). Pass ``extra={...}`` to add or
override variables. Inherited ``AIRFLOW*`` variables of the calling process are dropped, so a test's own
in-process Airflow settings never leak into the stack.

``AirflowStack(env, celery_workers=0, components=DEFAULT_COMPONENTS, log_dir=None)``:

- ``start(timeout=240)`` runs ``airflow db migrate``, starts ``api-server --host 127.0.0.1``,
  ``scheduler --skip-serve-logs``, ``dag-processor``, ``triggerer --skip-serve-logs`` and the Celery
  workers (``celery-worker-1``..N, ``--skip-serve-logs``), each in its own process group (own session)
  with its own log file ``<log_dir>/<name>.log`` (default ``$AIRFLOW_HOME/stack-logs``); waits until
  ``/api/v2/monitor/health`` reports every started component healthy; then logs in with
  ``POST /auth/token`` using the SimpleAuthManager password generated into
  ``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``. If a component exits early it raises
  ``StackError`` with the tail of its log.
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

    python -m dev.airflow_stack start [--port 8080]   # background; prints the URL and the login
    python -m dev.airflow_stack stop
    python -m dev.airflow_stack status

``start`` runs ``serve`` detached: moto and the fake source API (dev.embedded) in that process, the
bucket, DynamoDB table and inbound files prepared, then the four components with SQLite and the
LocalExecutor under ``.local/airflow``. Its state (pids, URL, login) is in ``.local/airflow/state.json``.
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

from salestalk import REPO_ROOT

LOOPBACK = "127.0.0.1"
DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
COMMANDS = {
    "api-server": ["api-server", "--host", LOOPBACK],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
TERMINAL_RUN_STATES = ("success", "failed")
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"


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
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every component of one stack. SQLite under ``home`` unless ``db_url`` is given."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    pythonpath = [str(REPO_ROOT / "plugins"), str(REPO_ROOT)]
    if base.get("PYTHONPATH"):
        pythonpath.append(base["PYTHONPATH"])
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
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": "*",
    }
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


class AirflowStack:
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

    # ---- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> AirflowStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def airflow(self, *args: str, timeout: float = 300, log_name: str | None = None) -> None:
        """Run one ``airflow`` CLI command to completion with the stack's environment."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(log_name or args[0])
        with open(log_path, "ab") as log:
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
        for name in self.components:
            self._spawn(name, COMMANDS[name])
        for number in range(1, self.celery_workers + 1):
            self.start_worker(number)
        self.wait_healthy(deadline)
        self.login(deadline)
        return self

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
        with open(self.log_path(name), "ab") as log:
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

    def wait_healthy(self, deadline: float) -> dict[str, Any]:
        wanted = [HEALTH_KEYS[c] for c in self.components if c in HEALTH_KEYS]
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                last = self.health()
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
        while not passwords.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        self.password = json.loads(passwords.read_text())[self.username]
        answer = self.request(
            "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
        )
        self.token = answer["access_token"]
        return self.token

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


def _descendants(root: int) -> list[int]:
    """Linux: every live descendant of ``root``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = _parent_pid(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


# ---- make airflow / make stop ------------------------------------------------------------------------

LOCAL_HOME = REPO_ROOT / ".local" / "airflow"
STATE_FILE = LOCAL_HOME / "state.json"
LAUNCHER_LOG = LOCAL_HOME / "launcher.log"


def _write_state(state: dict[str, Any]) -> None:
    partial = STATE_FILE.with_name(".state.json.partial")
    partial.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(partial, STATE_FILE)


def _read_state() -> dict[str, Any] | None:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_embedded(
    embedded: Any,
    *,
    bucket: str | None = None,
    table: str | None = None,
    days: tuple[str, ...] | None = None,
) -> None:
    """Create the bucket and the DynamoDB table and drop the tenants' inbound files, as ``make demo`` does.

    ``bucket`` and ``table`` default to the settings (``SALESTALK_BUCKET``, ``SALESTALK_DYNAMODB_TABLE``).
    """
    from dev.demo import DEMO_DAYS
    from dev.embedded import ensure_bucket, ensure_dynamodb_table, seed_inbound_files
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
            if source.extract.kind in {"s3_files", "events"}:
                seed_inbound_files(client, bucket, source, list(days or DEMO_DAYS))
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


def serve(port: int) -> int:
    """Foreground: embedded services, then the four components; stop everything on SIGTERM or SIGINT."""
    from dev.embedded import start_embedded

    LOCAL_HOME.mkdir(parents=True, exist_ok=True)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    state: dict[str, Any] = {"launcher_pid": os.getpid(), "status": "starting"}
    _write_state(state)
    embedded = start_embedded()
    stack = None
    try:
        prepare_embedded(embedded)
        env = stack_env(LOCAL_HOME, api_port=port, extra=embedded.connection_env())
        stack = AirflowStack(env, log_dir=LOCAL_HOME / "logs-components")
        stack.start()
        state.update(
            status="ready",
            url=stack.base_url,
            username=stack.username,
            password=stack.password,
            moto_url=embedded.moto_url,
            source_api_url=embedded.api_url,
            components={name: p.pid for name, p in stack.processes.items()},
            logs=str(stack.log_dir),
        )
        _write_state(state)
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
        _write_state(state)
        raise
    finally:
        if stack is not None:
            stack.stop()
        embedded.stop()
        if state.get("status") != "failed":
            STATE_FILE.unlink(missing_ok=True)
        print("stopped", flush=True)


def start_background(port: int | None, timeout: float = 300) -> int:
    state = _read_state()
    if state and _pid_alive(int(state.get("launcher_pid", 0))):
        print(f"already running: {state.get('url', '(starting)')}  (make stop to stop it)")
        return 0
    LOCAL_HOME.mkdir(parents=True, exist_ok=True)
    STATE_FILE.unlink(missing_ok=True)
    if port is None:
        port = 8080 if port_is_free(8080) else free_port()
    with open(LAUNCHER_LOG, "ab") as log:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "dev.airflow_stack", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(REPO_ROOT),
        )
    print(f"starting Airflow (api-server, scheduler, dag-processor, triggerer) on {LOOPBACK}:{port} ...")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _read_state() or {}
        if state.get("status") == "ready":
            print(f"\nAirflow UI:  {state['url']}")
            print(f"Login:       {state['username']} / {state['password']}")
            print("Executor:    LocalExecutor, SQLite metadata in .local/airflow/airflow.db")
            print(
                f"moto (S3, DynamoDB, KMS): {state['moto_url']}   fake source API: {state['source_api_url']}"
            )
            print(f"Logs:        {state['logs']}/ and {LAUNCHER_LOG}")
            print("Stop with:   make stop")
            return 0
        if state.get("status") == "failed" or launcher.poll() is not None:
            print(f"failed to start: {state.get('error', '')}\n--- {LAUNCHER_LOG} ---", file=sys.stderr)
            print("\n".join(LAUNCHER_LOG.read_text(errors="replace").splitlines()[-30:]), file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"not ready after {timeout:.0f}s; see {LAUNCHER_LOG}", file=sys.stderr)
    return 1


def stop_background(timeout: float = 60) -> int:
    state = _read_state()
    if not state:
        print("nothing to stop (no .local/airflow/state.json)")
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
        os.killpg(pid, signal.SIGKILL)
    STATE_FILE.unlink(missing_ok=True)
    print("stopped Airflow, moto and the fake source API")
    return 0


def status() -> int:
    state = _read_state()
    if not state or not _pid_alive(int(state.get("launcher_pid", 0))):
        print("not running")
        return 1
    print(json.dumps({k: v for k, v in state.items() if k != "password"}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.airflow_stack")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start Airflow in the background (make airflow)")
    start.add_argument("--port", type=int, help="API/UI port (default 8080, or a free one if taken)")
    commands.add_parser("stop", help="stop what start started (make stop)")
    commands.add_parser("status", help="print the state file")
    run = commands.add_parser("serve", help="foreground; what start runs in the background")
    run.add_argument("--port", type=int, default=8080)
    boot = commands.add_parser("bootstrap", help="docker compose: KMS key, bucket, table, inbound files")
    boot.add_argument("--endpoint-url", required=True, help="moto, e.g. http://moto:5000")
    boot.add_argument("--kms-alias", default="alias/salestalk-data")
    args = parser.parse_args(argv)
    if args.command == "bootstrap":
        bootstrap(args.endpoint_url, args.kms_alias)
        print(f"bootstrapped {args.endpoint_url}: KMS {args.kms_alias}, bucket, table, inbound files")
        return 0
    if args.command == "start":
        return start_background(args.port)
    if args.command == "stop":
        return stop_background()
    if args.command == "status":
        return status()
    return serve(args.port)


if __name__ == "__main__":
    sys.exit(main())
