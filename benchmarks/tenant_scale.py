"""Tenant-scale benchmark: one source (or all demo sources) on a real local Airflow for N generated tenants.

For each tenant count it starts a fresh stack the way ``make airflow`` does (dev.airflow_stack: moto and the
fake source API in this process, then api-server, scheduler, dag-processor and triggerer; with
``--executor celery`` also Celery workers on PostgreSQL 127.0.0.1:5432 and Redis 127.0.0.1:6379), with a
temporary sources folder whose configs pin the generated tenants ``t001..tNNN`` (the fake API serves them
with the demo tenants' batch sizes: dev/fakeapi/seed.py), triggers one run of each source and reports:

- wall time from the trigger to the run's end (the run's ``end_date`` minus its ``queued_at``);
- task instances, seconds per tenant, failed tasks and whether any failed for a lock timeout;
- lock wait per step: ``lock_wait_seconds`` of each step's result in ``audit.batch_results`` (median and max
  over tenants), or "n/a" where the steps do not record it;
- peak memory as PSS, summed over every process of the stack's components (``/proc/<pid>/smaps_rollup``,
  read whenever their summed RSS reaches a new high and every 10 s); moto and the fake API run in this
  process and are not counted.

Targets (issue 15, on a 2-core machine): 300 tenants of one source within 15 minutes; all four demo sources
with 75 tenants each within 15 minutes; no task fails for a lock timeout; 2 Celery workers at least 1.6x
faster than 1 at 100 tenants. A target whose point was not run is "not run". Exit code 0 even when a target
is missed: these are figures. The Celery target also prints this machine's CPU ceiling, measured in the same
run: the one-worker run's wall time over the time its CPU seconds (every process's) take on all the cores.
More workers on the same machine cannot beat it.

Run::

    .venv/bin/python benchmarks/tenant_scale.py [--tenants 3,30,100,300] [--source NAME | --sources all]
        [--executor local|celery] [--workers 1,2] [--parallelism N] [--timeout 1800] [--label before-sharding]

Results: benchmarks/results/tenant_scale.md (the table), tenant_scale.json (appended per run, so the curve
can compare labels, e.g. before and after sharding) and tenant_scale.svg (wall time against tenants, per label).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins"))
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import publish  # noqa: E402

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
DEFAULT_TENANTS = (3, 30, 100, 300)
LOGICAL_DATE = "2026-11-02T00:00:00Z"  # the run covers 2026-11-01, the first demo day
PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
FIFTEEN_MINUTES = 900.0
CELERY_SPEEDUP_TARGET = 1.6
LOCK_TIMEOUT = re.compile(r"lock[^\n]{0,80}(timed? ?out|timeout)|(timed? ?out|timeout)[^\n]{0,80}lock", re.I)
STEP_ORDER = ("extract", "load_to_staging", "validate", "quarantine", "publish")


# --------------------------------------------------------------------------- configs


def demo_configs() -> dict[str, Any]:
    """The shipped sources that have demo data in the embedded stack, by name (found by property)."""
    from dev.embedded import demo_resource
    from salestalk.config.loader import load_sources

    return {name: c for name, c in sorted(load_sources().configs.items()) if demo_resource(c)}


def pick_sources(choice: str | None, all_sources: bool) -> list[str]:
    configs = demo_configs()
    if all_sources:
        return list(configs)
    if choice:
        if choice not in configs:
            raise SystemExit(f"--source {choice!r}: not a demo source; expected one of {sorted(configs)}")
        return [choice]
    rest = [name for name, c in configs.items() if c.extract.kind == "rest_api"]
    if not rest:
        raise SystemExit("no demo REST source in the config folder")
    return rest[:1]


def tenant_sources_folder(
    folder: Path, sources: list[str], tenants: list[str], tenant_threads: int | None = None
) -> Path:
    """A copy of the config folder holding only ``sources``, each pinned to ``tenants`` (and, if given, run
    with ``concurrency.tenant_threads``)."""
    from salestalk.config.loader import SOURCES_DIR, load_sources

    folder.mkdir(parents=True, exist_ok=True)
    for path in SOURCES_DIR.iterdir():
        if path.is_file() and path.suffix not in {".yaml", ".yml"}:
            shutil.copy(path, folder / path.name)
    shutil.copy(SOURCES_DIR / "_defaults.yaml", folder / "_defaults.yaml")
    for path in sorted(SOURCES_DIR.glob("*.y*ml")):
        if path.name.startswith("_"):
            continue
        data = yaml.safe_load(path.read_text())
        if data.get("name") in sources:
            data["tenants"] = tenants
            if tenant_threads is not None:
                data.setdefault("concurrency", {})["tenant_threads"] = tenant_threads
            (folder / path.name).write_text(yaml.safe_dump(data, sort_keys=False))
    loaded = load_sources(folder)
    if loaded.errors or sorted(loaded.configs) != sorted(sources):
        raise RuntimeError(f"the generated config folder does not load: {loaded.errors}")
    return folder


# --------------------------------------------------------------------------- memory


def pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def rss_kib(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


class PssSampler:
    """The peak of the stack's process trees' summed PSS. Their RSS is summed every ``interval`` seconds
    (cheap); PSS only when that sum reaches a new high, and every ``pss_every`` seconds. Reading PSS makes
    the kernel walk each process's page tables: every second, it took a tenth of a core from the run."""

    def __init__(self, stack: Any, interval: float = 1.0, pss_every: float = 10.0) -> None:
        self.stack, self.interval, self.pss_every = stack, interval, pss_every
        self.peak_kib, self.peak_processes = 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def pids(self) -> set[int]:
        from dev.airflow_stack import _children, _descendants

        children = _children()
        found: set[int] = set()
        for process in self.stack.processes.values():
            if process.poll() is None:
                found.add(process.pid)
                found.update(_descendants(process.pid, children))
        return found

    def _run(self) -> None:
        rss_high, pss_read_at = 0, float("-inf")
        while not self._stop.is_set():
            pids = self.pids()
            rss = sum(rss_kib(pid) for pid in pids)
            if rss > rss_high or time.monotonic() - pss_read_at >= self.pss_every:
                rss_high, pss_read_at = max(rss, rss_high), time.monotonic()
                total = sum(pss_kib(pid) for pid in pids)
                if total > self.peak_kib:
                    self.peak_kib, self.peak_processes = total, len(pids)
            self._stop.wait(self.interval)

    def __enter__(self) -> PssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class CpuMeter:
    """The machine's busy cores, averaged over the block (``/proc/stat``): every process counts, ours or not."""

    busy_cores: float | None = None

    @staticmethod
    def _ticks() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle

    def __enter__(self) -> CpuMeter:
        self._start = self._ticks()
        return self

    def __exit__(self, *_: object) -> None:
        (total0, idle0), (total1, idle1) = self._start, self._ticks()
        if total1 > total0:
            self.busy_cores = round((1 - (idle1 - idle0) / (total1 - total0)) * (os.cpu_count() or 1), 2)


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``, its reaped children and its live descendants (``/proc/<pid>/stat``)."""
    from dev.airflow_stack import _descendants

    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in (pid, *_descendants(pid)):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


class ComponentCpu:
    """CPU seconds per stack component over the block, plus this process (moto and the fake API)."""

    HERE = "moto + fake API (benchmark process)"

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.seconds: dict[str, float] = {}

    def _snapshot(self) -> dict[str, float]:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        found = {self.HERE: usage.ru_utime + usage.ru_stime}
        for name, process in self.stack.processes.items():
            if process.poll() is None:
                found[name] = process_cpu_seconds(process.pid)
        return found

    def __enter__(self) -> ComponentCpu:
        self._start = self._snapshot()
        return self

    def __exit__(self, *_: object) -> None:
        end = self._snapshot()
        used = {name: end[name] - self._start.get(name, 0.0) for name in end}
        self.seconds = {n: round(v, 1) for n, v in sorted(used.items(), key=lambda kv: -kv[1])}


# --------------------------------------------------------------------------- one point


def task_timing(tis: list[dict[str, Any]], wall_seconds: float) -> dict[str, Any]:
    """How busy the run kept its slots: task seconds over wall seconds (the mean number of tasks running),
    the median wait from queued to running, each task's median duration, in the run's task order, and each
    task's span: from the first of its instances starting to the last one ending."""
    durations: dict[str, list[float]] = {}
    spans: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    waits = []
    for ti in tis:
        if ti.get("start_date") and ti.get("end_date"):
            started, ended = parse_time(ti["start_date"]), parse_time(ti["end_date"])
            task = ti["task_id"].rsplit(".", 1)[-1]
            durations.setdefault(task, []).append((ended - started).total_seconds())
            first, last = spans.get(task, (started, ended))
            spans[task] = (min(first, started), max(last, ended))
            if ti.get("queued_when"):
                waits.append((started - parse_time(ti["queued_when"])).total_seconds())
    busy = sum(sum(d) for d in durations.values())
    return {
        "tasks_running_mean": round(busy / wall_seconds, 2) if wall_seconds else None,
        "queued_to_running_median": round(statistics.median(waits), 1) if waits else None,
        "task_seconds_median": {task: round(statistics.median(d), 1) for task, d in durations.items()},
        "task_span_seconds": {
            task: round((last - first).total_seconds(), 1) for task, (first, last) in spans.items()
        },
    }


def step_speedups(one: dict[str, Any], two: dict[str, Any]) -> list[str]:
    """Per source, each step's span with one worker against two, with the seconds the step held the
    warehouse lock: a step bound by the one writer gains nothing from a second worker."""
    lines = []
    for dag_id, run in (one.get("runs") or {}).items():
        spans_one = (run.get("timing") or {}).get("task_span_seconds") or {}
        spans_two = ((two.get("runs") or {}).get(dag_id, {}).get("timing") or {}).get(
            "task_span_seconds"
        ) or {}
        held = (one.get("lock_wait") or {}).get(dag_id) or {}
        steps = []
        for step in STEP_ORDER:
            if step in spans_one and step in spans_two and spans_two[step]:
                lock = held.get(step)
                steps.append(
                    f"{step} {spans_one[step]:.1f} → {spans_two[step]:.1f} s "
                    f"({spans_one[step] / spans_two[step]:.2f}x"
                    + (f"; lock held {lock['held']:.1f} s" if isinstance(lock, dict) else "")
                    + ")"
                )
        if steps:
            lines.append(
                f"- {dag_id}, each step from its first task's start to its last one's end, "
                f"1 → 2 Celery workers: {'; '.join(steps)}"
            )
    return lines


def all_task_instances(stack: Any, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    from dev.airflow_stack import _quote

    found: list[dict[str, Any]] = []
    while True:
        path = (
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances"
            f"?limit=100&offset={len(found)}"
        )
        page = stack.request("GET", path)
        found += page["task_instances"]
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def failed_for_lock_timeout(stack: Any, dag_id: str, run_id: str, ti: dict[str, Any]) -> bool:
    """Whether the failed task's log names a lock timeout (REST log of its last try)."""
    from dev.airflow_stack import _quote

    map_index = ti.get("map_index", -1)
    path = (
        f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(ti['task_id'])}"
        f"/logs/{max(1, ti.get('try_number') or 1)}?full_content=true&map_index={map_index}"
    )
    try:
        log = json.dumps(stack.request("GET", path))
    except Exception:
        return False
    return bool(LOCK_TIMEOUT.search(log))


def lock_waits(results: dict[str, dict[str, dict]]) -> dict[str, dict[str, float] | str]:
    """Per step: the median, max and sum of ``lock_wait_seconds`` over tenants and the sum of
    ``lock_held_seconds`` (``held``), or "n/a" if not recorded."""
    out: dict[str, dict[str, float] | str] = {}
    steps = {step for by_step in results.values() for step in by_step}
    for step in sorted(steps, key=lambda s: (STEP_ORDER.index(s) if s in STEP_ORDER else 99, s)):
        waits = [
            float(by_step[step]["lock_wait_seconds"])
            for by_step in results.values()
            if isinstance(by_step.get(step), dict) and by_step[step].get("lock_wait_seconds") is not None
        ]
        held = sum(
            float(by_step[step].get("lock_held_seconds") or 0.0)
            for by_step in results.values()
            if isinstance(by_step.get(step), dict)
        )
        out[step] = (
            {
                "median": statistics.median(waits),
                "max": max(waits),
                "sum": sum(waits),
                "held": round(held, 1),
                "tenants": len(waits),
            }
            if waits
            else "n/a"
        )
    return out


def run_point(args: argparse.Namespace, sources: list[str], tenants: int, workers: int) -> dict[str, Any]:
    from dev.airflow_stack import AirflowStack, free_port, prepare_embedded, stack_env
    from dev.embedded import start_embedded
    from dev.fakeapi.app import GENERATED_TENANTS_ENV
    from dev.fakeapi.seed import generated_tenants

    tag = secrets.token_hex(4)
    work = Path(tempfile.mkdtemp(prefix=f"tenant-scale-{tenants}-"))
    names = list(generated_tenants(tenants))
    folder = tenant_sources_folder(work / "sources", sources, names, args.tenant_threads)
    settings = {
        "SALESTALK_SOURCES_DIR": str(folder),
        "SALESTALK_BUCKET": f"scale-{tag}",
        "SALESTALK_DYNAMODB_TABLE": f"scale-{tag}",
        "SALESTALK_DUCKDB_PATH": str(work / "warehouse.duckdb"),
        "SALESTALK_ALERT_DIR": str(work / "alerts"),
        "SALESTALK_LOCAL_HOME": str(work),
        GENERATED_TENANTS_ENV: str(tenants),
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)  # the fake API (built below) and prepare_embedded read them
    database = None
    embedded = start_embedded()
    stack = None
    point: dict[str, Any] = {
        "sources": sources,
        "tenants": tenants,
        "executor": args.executor,
        "workers": workers if args.executor == "celery" else None,
        "tenant_threads": args.tenant_threads,
    }
    try:
        prepare_embedded(embedded, days=("2026-11-01", "2026-11-02"))
        extra = {
            **embedded.connection_env(),
            **settings,
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "SALESTALK_CONFIG_CACHE": "off",
        }
        if args.executor == "celery":
            import psycopg2

            database = f"salestalk_scale_{tag}"
            admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
            admin.autocommit = True
            admin.cursor().execute(f'CREATE DATABASE "{database}"')
            admin.close()
            extra["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(args.worker_concurrency)
            env = stack_env(
                work / "airflow",
                api_port=free_port(),
                db_url=f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
                executor="CeleryExecutor",
                broker_url=REDIS_URL,
                queue=f"salestalk_scale_{tag}",
                extra=extra,
            )
        else:
            env = stack_env(work / "airflow", api_port=free_port(), parallelism=args.parallelism, extra=extra)
        point["parallelism"] = env.get("AIRFLOW__CORE__PARALLELISM")
        stack = AirflowStack(env, celery_workers=workers if args.executor == "celery" else 0)
        began = time.monotonic()
        stack.start()
        point["start_seconds"] = round(time.monotonic() - began, 1)
        point["gx_results_stored"] = stored_gx_results()
        dag_ids = [f"source_{name}" for name in sources]
        stack.wait_for_dags(dag_ids)
        with PssSampler(stack) as sampler, CpuMeter() as cpu, ComponentCpu(stack) as components:
            runs = {}
            for dag_id in dag_ids:
                stack.unpause(dag_id)
                runs[dag_id] = stack.trigger(dag_id, logical_date=LOGICAL_DATE)
            triggered = time.monotonic()
            states = {d: stack.wait_for_run(d, r, timeout=args.timeout, poll=2.0) for d, r in runs.items()}
            point["observed_seconds"] = round(time.monotonic() - triggered, 1)
        point["cpu_busy_cores"] = cpu.busy_cores
        point["cpu_seconds_by_component"] = components.seconds
        point["peak_pss_mib"] = round(sampler.peak_kib / 1024, 1)
        point["peak_pss_processes"] = sampler.peak_processes
        per_source = {}
        for dag_id, run_id in runs.items():
            run = stack.get_run(dag_id, run_id)
            tis = all_task_instances(stack, dag_id, run_id)
            failed = [ti for ti in tis if ti["state"] in ("failed", "upstream_failed")]
            lock_failed = [ti for ti in failed if failed_for_lock_timeout(stack, dag_id, run_id, ti)]
            wall = (parse_time(run["end_date"]) - parse_time(run["queued_at"])).total_seconds()
            per_source[dag_id] = {
                "timing": task_timing(tis, wall),
                "state": states[dag_id],
                "wall_seconds": round(wall, 1),
                "task_instances": len(tis),
                "failed_tasks": len(failed),
                "lock_timeout_failures": len(lock_failed),
                "interval_start": run.get("data_interval_start"),
            }
        point["runs"] = per_source
        point["wall_seconds"] = round(
            (
                max(parse_time(stack.get_run(d, r)["end_date"]) for d, r in runs.items())
                - min(parse_time(stack.get_run(d, r)["queued_at"]) for d, r in runs.items())
            ).total_seconds(),
            1,
        )
        point["task_instances"] = sum(s["task_instances"] for s in per_source.values())
        point["failed_tasks"] = sum(s["failed_tasks"] for s in per_source.values())
        point["lock_timeout_failures"] = sum(s["lock_timeout_failures"] for s in per_source.values())
        point["seconds_per_tenant"] = round(point["wall_seconds"] / (tenants * len(sources)), 2)
    finally:
        if stack is not None:
            stack.stop()
        embedded.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    point["lock_wait"] = read_lock_waits(work / "warehouse.duckdb", point.get("runs", {}))
    if database:
        with contextlib.suppress(Exception):
            import psycopg2

            admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
            admin.autocommit = True
            admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        point["workdir"] = str(work)
    return point


def read_lock_waits(duckdb_path: Path, runs: dict[str, dict]) -> dict[str, Any]:
    """``lock_wait`` per source from the stopped stack's warehouse (audit.batch_results, via the interface)."""
    from salestalk.settings import get_settings
    from salestalk.warehouse import open_warehouse
    from salestalk.warehouse.tables import batch_results

    if not duckdb_path.exists():
        return {}
    settings = dataclasses.replace(get_settings(), duckdb_path=duckdb_path, warehouse="duckdb")
    warehouse = open_warehouse(settings)
    out = {}
    for dag_id, run in runs.items():
        try:
            results = batch_results(warehouse, dag_id.removeprefix("source_"), run["interval_start"])
        except Exception as error:
            out[dag_id] = f"unreadable: {error}"
            continue
        out[dag_id] = lock_waits(results)
    return out


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- report


def lock_cell(point: dict[str, Any]) -> str:
    cells = []
    for dag_id, steps in (point.get("lock_wait") or {}).items():
        if isinstance(steps, str):
            cells.append(f"{dag_id}: {steps}")
            continue
        shown = [
            f"{step} {v['median']:.1f}/{v['max']:.1f}" if isinstance(v, dict) else f"{step} n/a"
            for step, v in steps.items()
        ]
        listed = "; ".join(shown) or "n/a"
        cells.append(listed if len(point["lock_wait"]) == 1 else f"{dag_id}: {listed}")
    return "<br>".join(cells) or "n/a"  # one table cell, a line per source


def lock_held_total(point: dict[str, Any]) -> float | None:
    """Seconds the steps held the warehouse lock, summed over sources, steps and tenants: the run's serial floor."""
    held = [
        v["held"]
        for steps in (point.get("lock_wait") or {}).values()
        if isinstance(steps, dict)
        for v in steps.values()
        if isinstance(v, dict) and "held" in v
    ]
    return round(sum(held), 1) if held else None


def stored_gx_results() -> int:
    """Validation results already stored in the repository's GX project: each validate task's Data Docs
    index build lists them all, so a point's figures depend on them."""
    from salestalk.quality.retention import RESULTS
    from salestalk.quality.suite import GX_ROOT

    return sum(1 for _ in (GX_ROOT / "uncommitted" / RESULTS).rglob("*.json"))


def cpu_lines(points: list[dict[str, Any]]) -> list[str]:
    """Lines per point: the CPU seconds each component used between trigger and run end, and per source how
    busy the run kept its task slots."""
    lines = []
    for p in points:
        for dag_id, run in (p.get("runs") or {}).items():
            timing = run.get("timing")
            if timing:
                tasks = ", ".join(f"{t} {v:.0f}" for t, v in timing["task_seconds_median"].items())
                lines.append(
                    f"- {dag_id} ({p['tenants']} tenants, {p['executor']}"
                    + (f", {p['workers']} worker(s)" if p.get("workers") else "")
                    + f"): {timing['tasks_running_mean']} tasks running on average, queued → running "
                    f"{timing['queued_to_running_median']} s (median); median s per task: {tasks}"
                )
        used = p.get("cpu_seconds_by_component")
        if used:
            who = f"{p['tenants']} tenants, {p['executor']}" + (
                f", {p['workers']} worker(s)" if p.get("workers") else ""
            )
            shown = ", ".join(f"{name} {seconds:.0f}" for name, seconds in used.items())
            stored = (
                f"; {p['gx_results_stored']} GX results stored before" if "gx_results_stored" in p else ""
            )
            lines.append(
                f"- CPU seconds by component ({who}; {p['wall_seconds']:.0f} s wall{stored}): {shown}"
            )
    return [*lines, ""] if lines else []


def table(points: list[dict[str, Any]]) -> str:
    lines = [
        "| sources | tenants/source | executor | task instances | trigger → run end | s/tenant | failed "
        "(lock timeout) | peak PSS | CPU busy (cores) | lock held (s) | lock wait per step (median/max s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        executor = p["executor"] + (
            f", {p['workers']} worker{'s' if p['workers'] != 1 else ''}" if p.get("workers") else ""
        )
        executor += f", parallelism {p.get('parallelism')}" if p["executor"] == "local" else ""
        executor += f", {p['tenant_threads']} tenant threads" if p.get("tenant_threads") else ""
        if "error" in p:
            lines.append(f"| {', '.join(p['sources'])} | {p['tenants']} | {executor} | error: {p['error']} |")
            continue
        busy = p.get("cpu_busy_cores")
        held = lock_held_total(p)
        lines.append(
            f"| {', '.join(p['sources'])} | {p['tenants']} | {executor} | {p['task_instances']} | "
            f"{p['wall_seconds']:.0f} s | {p['seconds_per_tenant']:.1f} | {p['failed_tasks']} "
            f"({p['lock_timeout_failures']}) | {p['peak_pss_mib']:.0f} MiB | "
            f"{'n/a' if busy is None else f'{busy:.2f}'} | {'n/a' if held is None else f'{held:.0f}'} | "
            f"{lock_cell(p)} |"
        )
    return "\n".join(lines)


def targets(points: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    done = [p for p in points if "error" not in p]
    out = []

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    one = [p for p in done if len(p["sources"]) == 1 and p["tenants"] == 300]
    out.append(
        (
            "300 tenants of one source within 15 min",
            verdict(all(p["wall_seconds"] <= FIFTEEN_MINUTES and p["failed_tasks"] == 0 for p in one))
            if one
            else "not run",
            ", ".join(f"{p['wall_seconds']:.0f} s" for p in one),
        )
    )
    four = [p for p in done if len(p["sources"]) >= 4 and p["tenants"] == 75]
    out.append(
        (
            "all four sources x 75 tenants within 15 min",
            verdict(all(p["wall_seconds"] <= FIFTEEN_MINUTES and p["failed_tasks"] == 0 for p in four))
            if four
            else "not run",
            ", ".join(f"{p['wall_seconds']:.0f} s" for p in four),
        )
    )
    lock = sum(p["lock_timeout_failures"] for p in done)
    out.append(
        ("no task fails for a lock timeout", verdict(lock == 0) if done else "not run", f"{lock} failed")
    )
    celery = {p["workers"]: p for p in done if p["executor"] == "celery" and p["tenants"] == 100}
    if 1 in celery and 2 in celery:
        speedup = celery[1]["wall_seconds"] / celery[2]["wall_seconds"]
        ceiling = cpu_ceiling(celery[1])
        out.append(
            (
                "2 Celery workers >= 1.6x faster than 1 at 100 tenants",
                verdict(speedup >= CELERY_SPEEDUP_TARGET),
                f"{speedup:.2f}x" + (f" (CPU ceiling on this machine {ceiling:.2f}x)" if ceiling else ""),
            )
        )
    else:
        out.append(("2 Celery workers >= 1.6x faster than 1 at 100 tenants", "not run", ""))
    return out


def celery_step_lines(points: list[dict[str, Any]]) -> list[str]:
    """:func:`step_speedups` of the one- and two-worker Celery points at 100 tenants, when both ran."""
    celery = {p["workers"]: p for p in points if p.get("executor") == "celery" and p.get("tenants") == 100}
    lines = step_speedups(celery[1], celery[2]) if 1 in celery and 2 in celery else []
    return [*lines, ""] if lines else []


def cpu_ceiling(point: dict[str, Any]) -> float | None:
    """The most any number of workers could gain over ``point`` on this machine: its wall time over the
    time its CPU seconds (every process's, from ``/proc/stat``) take on all the cores at once."""
    busy, observed = point.get("cpu_busy_cores"), point.get("observed_seconds")
    if not busy or not observed:
        return None
    return point["wall_seconds"] / (busy * observed / (os.cpu_count() or 1))


def svg_plot(series: dict[str, list[tuple[int, float]]], path: Path) -> None:
    """Wall time against tenants, one polyline per label; hand-written SVG (no plotting dependency)."""
    width, height, left, bottom, top, right = 640, 400, 60, 50, 30, 150
    xs = [x for points in series.values() for x, _ in points] or [1]
    ys = [y for points in series.values() for _, y in points] or [1]
    x_max, y_max = max(xs) * 1.05, max(max(ys), FIFTEEN_MINUTES) * 1.1

    def px(x: float) -> float:
        return left + (width - left - right) * x / x_max

    def py(y: float) -> float:
        return height - bottom - (height - bottom - top) * y / y_max

    colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif"'
        ' font-size="12">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{width / 2 - 60}" y="18" font-weight="bold">Wall time against tenants</text>',
        f'<line x1="{left}" y1="{py(0)}" x2="{width - right}" y2="{py(0)}" stroke="black"/>',
        f'<line x1="{left}" y1="{py(0)}" x2="{left}" y2="{top}" stroke="black"/>',
        f'<line x1="{left}" y1="{py(FIFTEEN_MINUTES)}" x2="{width - right}" y2="{py(FIFTEEN_MINUTES)}" '
        'stroke="grey" stroke-dasharray="4 4"/>',
        f'<text x="{width - right + 4}" y="{py(FIFTEEN_MINUTES) + 4}" fill="grey">15 min target</text>',
        f'<text x="{(left + width - right) / 2 - 20}" y="{height - 12}">tenants</text>',
        f'<text x="14" y="{(top + height - bottom) / 2}" transform="rotate(-90 14 {(top + height - bottom) / 2})">'
        "trigger → run end (s)</text>",
    ]
    for tick in sorted(set(xs)):
        parts.append(f'<text x="{px(tick) - 8}" y="{py(0) + 16}">{tick}</text>')
    step = 300 if y_max > 1200 else 120
    for tick in range(0, int(y_max) + 1, step):
        parts.append(f'<text x="{left - 40}" y="{py(tick) + 4}">{tick}</text>')
        parts.append(f'<line x1="{left - 4}" y1="{py(tick)}" x2="{left}" y2="{py(tick)}" stroke="black"/>')
    for index, (label, points) in enumerate(sorted(series.items())):
        colour = colours[index % len(colours)]
        coords = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(points))
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y in points:
            parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
        ly = top + 20 + 18 * index
        parts.append(
            f'<line x1="{width - right + 4}" y1="{ly}" x2="{width - right + 24}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{width - right + 28}" y="{ly + 4}">{label}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def curve(history: list[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    """One-source LocalExecutor points by label: the latest figure for each tenant count."""
    series: dict[str, dict[int, float]] = {}
    for record in history:
        for p in record["points"]:
            if "error" in p or len(p["sources"]) != 1 or p["executor"] != "local":
                continue
            series.setdefault(record["label"], {})[p["tenants"]] = p["wall_seconds"]
    return {label: sorted(points.items()) for label, points in series.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tenants", default=",".join(map(str, DEFAULT_TENANTS)), help="tenant counts, e.g. 3,30"
    )
    parser.add_argument("--source", help="a demo source (default: the first demo REST source)")
    parser.add_argument("--sources", choices=["all"], help="all demo sources at once")
    parser.add_argument("--executor", choices=["local", "celery"], default="local")
    parser.add_argument("--workers", default="1,2", help="Celery worker counts to compare")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="Celery slots per worker")
    parser.add_argument("--parallelism", type=int, help="LocalExecutor parallelism (default: the stack's)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each run")
    parser.add_argument("--label", default="current", help="names this run's curve in the plot")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder for the .md, .json, .svg")
    parser.add_argument("--keep", action="store_true", help="keep each point's work folder")
    parser.add_argument(
        "--tenant-threads",
        type=int,
        help="concurrency.tenant_threads for the sources (default: the config's)",
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.tenants.split(",") if n.strip()]
    if any(n < 1 or n > 999 for n in counts):
        raise SystemExit("--tenants: each count must be 1..999")
    sources = pick_sources(args.source, args.sources == "all")
    worker_counts = [int(n) for n in args.workers.split(",")] if args.executor == "celery" else [0]
    started = dt.datetime.now(dt.UTC)
    points = []
    for tenants in counts:
        for workers in worker_counts:
            print(f"{', '.join(sources)}: {tenants} tenants, {args.executor} {workers or ''}...", flush=True)
            try:
                point = run_point(args, sources, tenants, workers)
            except Exception as error:
                point = {
                    "sources": sources,
                    "tenants": tenants,
                    "executor": args.executor,
                    "workers": workers or None,
                    "error": f"{error.__class__.__name__}: {error}"[:300],
                }
            print(json.dumps(point), flush=True)
            points.append(point)
    record = {
        "label": args.label,
        "started": started.isoformat(timespec="seconds"),
        "command": " ".join(["benchmarks/tenant_scale.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "points": points,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    history_file = args.results / "tenant_scale.json"
    history = json.loads(history_file.read_text()) if history_file.exists() else []
    history.append(record)
    history_file.write_text(json.dumps(history, indent=2) + "\n")
    svg_plot(curve(history), args.results / "tenant_scale.svg")
    text = [
        f"# Tenant scale ({args.label}), {started:%Y-%m-%d %H:%M} UTC, {record['machine']}",
        f"Command: `{record['command']}`",
        "",
        table(points),
        "",
        *cpu_lines(points),
        *celery_step_lines(points),
        "| target | result | figure |",
        "|---|---|---|",
        *[f"| {name} | {result} | {figure} |" for name, result, figure in targets(points)],
        "",
    ]
    results_file = args.results / "tenant_scale.md"
    if results_file.resolve().is_relative_to(REPO_ROOT):
        publish("\n".join(text), results_file, REPO_ROOT)
    else:  # --results outside the repository (e.g. a run from a git worktree of an older commit)
        print("\n" + "\n".join(text))
        results_file.write_text("\n".join(text))
        print(f"written to {results_file}")
    print(f"JSON: {history_file}; plot: {args.results / 'tenant_scale.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
