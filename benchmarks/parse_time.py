"""Parse-time benchmark: how long Airflow's DagBag takes to build N source DAGs.

For N synthetic copies of include/sources/deals.yaml (bench_0001, bench_0002, ...), it times three ways of
building the same DAGs:

* ours: a copy of dags/sources.py (salestalk.dagfactory: libyaml CSafeLoader + pydantic validation), twice:
  with a warm config cache (``SALESTALK_CONFIG_CACHE`` pointing at a folder the untimed warm-up run filled,
  as in a long-lived dag processor) and with a cold one (a new empty folder for every run: every YAML file
  is parsed and its cache entry written, as after a deploy or on a fresh worker);
* dag-factory 1.1.0 on equivalent YAML (one file per DAG, 5 chained tasks), installed once into a
  throwaway venv under benchmarks/.venvs/ (git-ignored by the .gitignore uv writes into it);
* a hand-written DAG file looping over an in-file dict that builds the SAME DAGs as ours (tasks, params,
  callbacks, trigger rules, pools, outlets, docs; the values our generator builds from, salestalk.dagfactory's
  dag_spec of each bench config, written as literals), with no YAML and no validation, through DAG(params=...)
  and @task_group. The untimed warm-up runs compare every DAG's serialized form and callbacks with ours
  (dev.dag_digest), and a difference is reported as a problem;

plus one DAG built under get_parsing_context() at the largest N. Every figure is the median of --repeats
fresh processes, each timing only ``DagBag(dag_folder=...)`` after the same ``import airflow.sdk`` warm-up,
with bytecode cached (PYTHONPYCACHEPREFIX in the run's temp dir, filled by one untimed run per candidate;
PYTHONDONTWRITEBYTECODE is dropped for the children, else every run would recompile every module).
The table is printed and written to benchmarks/results/parse_time.md. Exit code is 0 even when a target
is missed: these are figures, not tests.

Run:  .venv/bin/python benchmarks/parse_time.py [--sizes 10,100,500] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _peer_venv import peer_python
from _results import publish

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES_DIR = REPO_ROOT / "include" / "sources"
TEMPLATE_SOURCE = SOURCES_DIR / "deals.yaml"
RESULTS_FILE = REPO_ROOT / "benchmarks" / "results" / "parse_time.md"
AIRFLOW_VERSION = "3.3.2"
DAG_FACTORY_VERSION = "1.1.0"
DAG_FACTORY_PACKAGES = [f"apache-airflow=={AIRFLOW_VERSION}", f"dag-factory=={DAG_FACTORY_VERSION}"]
STEPS = ("extract", "load_to_staging", "validate", "quarantine", "publish")
MARKER = "PARSE_TIME_RESULT "
FINGERPRINT_ENV = "PARSE_TIME_FINGERPRINT"
RUN_TIMEOUT_SECONDS = 600

OURS, DAG_FACTORY, DICT_LOOP = "ours", f"dag-factory {DAG_FACTORY_VERSION}", "dict loop"
OURS_COLD = "ours, cold cache"
OURS_VARIANTS = ((OURS, "warm cache"), (OURS_COLD, "cold cache"))
TARGET_VS_DAG_FACTORY = 3.0
TARGET_VS_DICT_LOOP = 1.3
TARGET_SINGLE_DAG_SECONDS = 0.050
TARGET_N = 500


# --------------------------------------------------------------------------- worker (fresh process)


def run_worker(dags_folder: str) -> None:
    """Time DagBag construction only; print one JSON line. Runs in the candidate's own interpreter."""
    import airflow.sdk  # noqa: F401 - the same warm-up for every candidate
    from airflow.dag_processing.dagbag import DagBag

    start = time.perf_counter()
    bag = DagBag(dag_folder=dags_folder)
    seconds = time.perf_counter() - start
    result = {
        "seconds": seconds,
        "dag_ids": sorted(bag.dags),
        "tasks_per_dag": sorted({len(dag.tasks) for dag in bag.dags.values()}),
        "errors": {path: str(err)[-800:] for path, err in bag.import_errors.items()},
    }
    if os.environ.get(FINGERPRINT_ENV):  # untimed: only the warm-up run asks
        from dev.dag_digest import fingerprint  # after the timing, so it warms nothing the DagBag imports

        result["fingerprints"] = {dag_id: fingerprint(dag) for dag_id, dag in bag.dags.items()}
    print(MARKER + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- synthetic inputs


def bench_names(n: int) -> list[str]:
    return [f"bench_{i:04d}" for i in range(1, n + 1)]


def template_config() -> dict:
    """deals.yaml merged over _defaults.yaml, the way salestalk's loader sees it."""
    import yaml

    defaults = yaml.safe_load((SOURCES_DIR / "_defaults.yaml").read_text())
    source = yaml.safe_load(TEMPLATE_SOURCE.read_text())
    return {**defaults, **source}


def write_our_sources(folder: Path, names: list[str]) -> None:
    """The real _defaults.yaml plus one deals.yaml-style file per name (expectation_suite stays `deals`)."""
    folder.mkdir(parents=True)
    shutil.copy(SOURCES_DIR / "_defaults.yaml", folder / "_defaults.yaml")
    text = TEMPLATE_SOURCE.read_text()
    for name in names:
        renamed, count = re.subn(r"(?m)^name:.*$", f"name: {name}", text)
        if count != 1:
            raise SystemExit(f"{TEMPLATE_SOURCE}: expected exactly one top-level `name:` line")
        (folder / f"{name}.yaml").write_text(renamed)


def write_ours(dags: Path) -> None:
    dags.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dags" / "sources.py", dags / "sources.py")


def dag_factory_defaults(cfg: dict) -> dict:
    def delta(**kwargs: int) -> dict:
        return {"__type__": "datetime.timedelta", **kwargs}

    return {
        "default_args": {
            "owner": cfg["owner"],
            "retries": cfg["retries"],
            "retry_delay": delta(seconds=cfg["retry_delay_seconds"]),
            "retry_exponential_backoff": 2.0,
            "max_retry_delay": delta(seconds=cfg["max_retry_delay_seconds"]),
            "execution_timeout": delta(minutes=cfg["execution_timeout_minutes"]),
        },
        "start_date": cfg["start_date"],
        "catchup": cfg["catchup"],
        "max_active_runs": cfg["max_active_runs"],
        "render_template_as_native_obj": False,
    }


def dag_factory_dag(cfg: dict, name: str) -> dict:
    tasks = []
    for i, step in enumerate(STEPS):
        spec = {
            "task_id": step,
            "operator": "salestalk.operators.source_step.SourceStepOperator",
            "step": step,
            "source_name": name,
            "tenants": list(cfg["tenants"]),
        }
        if i:
            spec["dependencies"] = [STEPS[i - 1]]
        tasks.append(spec)
    return {
        f"source_{name}": {
            "description": cfg["description"],
            "schedule": {
                "__type__": "airflow.sdk.CronDataIntervalTimetable",
                "expression": cfg["schedule"],
                "timezone": "UTC",
            },
            "tags": sorted({"source", cfg["extract"]["kind"], *cfg["tags"]}),
            "default_args": {"owner": cfg["owner"]},
            "tasks": tasks,
        }
    }


def write_dag_factory(dags: Path, configs: Path, names: list[str], cfg: dict) -> None:
    """<configs>/defaults.yml over <configs>/dags/<name>.yml, loaded by dag-factory's documented entry point.

    defaults.yml sits above the scanned folder: load_yaml_dags would otherwise try to build it as a DAG.
    """
    import yaml

    (configs / "dags").mkdir(parents=True)
    (configs / "defaults.yml").write_text(yaml.safe_dump(dag_factory_defaults(cfg), sort_keys=False))
    for name in names:
        dag_yaml = yaml.safe_dump(dag_factory_dag(cfg, name), sort_keys=False)
        (configs / "dags" / f"{name}.yml").write_text(dag_yaml)
    dags.mkdir(parents=True)
    (dags / "dag_factory_sources.py").write_text(
        '"""Airflow DAGs from YAML via dag-factory (benchmark candidate)."""\n\n'
        "from dagfactory import load_yaml_dags\n\n"
        f"load_yaml_dags(globals_dict=globals(), dags_folder={str(configs / 'dags')!r}, "
        f"defaults_config_path={str(configs)!r})\n"
    )


DICT_LOOP_TEMPLATE = '''"""Baseline Airflow DAG file: the same source DAGs as dags/sources.py, hand-written as a loop over an in-file
dict. Same tasks, params, callbacks, trigger rules, pools, outlets and docs; no YAML, no validation."""

import datetime as dt

from airflow.sdk import DAG, Asset, CronDataIntervalTimetable, Param, TriggerRule, chain, task_group

from salestalk.alerting.callbacks import task_failed, task_retry
from salestalk.assets import emit_publish_events, note_published_days
from salestalk.operators.run_control import DeadlineWatchOperator, SelectTenantsOperator
from salestalk.operators.source_step import SourceReportOperator, SourceStepOperator

STEPS = {steps!r}
SOURCES = {sources!r}


def build(name, s):
    default_args = {{
        "owner": s["owner"],
        "retries": s["retries"],
        "retry_delay": dt.timedelta(seconds=s["retry_delay_seconds"]),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=s["max_retry_delay_seconds"]),
        "execution_timeout": dt.timedelta(minutes=s["execution_timeout_minutes"]),
        "on_failure_callback": task_failed,
        "on_retry_callback": task_retry,
    }}
    params = {{
        key: Param(spec["default"], **{{k: v for k, v in spec.items() if k != "default"}})
        for key, spec in s["params"].items()
    }}
    with DAG(
        dag_id="source_" + name,
        description=s["description"],
        schedule=CronDataIntervalTimetable(s["schedule"], timezone="UTC"),
        start_date=dt.datetime.fromisoformat(s["start_date"]).replace(tzinfo=dt.UTC),
        catchup=s["catchup"],
        max_active_runs=s["max_active_runs"],
        max_active_tasks=s["max_active_tasks"],
        default_args=default_args,
        tags=s["tags"],
        owner_links=s["owner_links"],
        doc_md=s["doc_md"],
        render_template_as_native_obj=False,
        params=params,
    ):
        select = SelectTenantsOperator(task_id={select!r}, source_name=name)

        @task_group(group_id={group!r})
        def per_shard(tenants):
            steps = []
            for step in STEPS:
                extra = {{}}
                if step == "extract" and s["api_pool"]:
                    extra["pool"] = s["api_pool"]
                if s["max_active_per_step"]:
                    extra["max_active_tis_per_dag"] = s["max_active_per_step"]
                if step == "publish":
                    extra["outlets"] = [Asset(name=n, uri=u, group=g) for n, u, g in s["outlets"]]
                    extra["pre_execute"] = note_published_days
                    extra["post_execute"] = emit_publish_events
                steps.append(
                    SourceStepOperator(
                        task_id=step,
                        source_name=name,
                        step=step,
                        tenants=tenants,
                        map_index_template="{{{{ task.shard_label }}}}",
                        trigger_rule=TriggerRule.ALL_SUCCESS if step == "extract" else TriggerRule.ALL_DONE,
                        **extra,
                    )
                )
            chain(*steps)

        report = SourceReportOperator(task_id="report", source_name=name, trigger_rule=TriggerRule.ALL_DONE)
        select >> per_shard.expand(tenants=select.output) >> report
        if s["deadlines"]:
            DeadlineWatchOperator(task_id={watch!r}, source_name=name, deadlines=s["deadlines"])


for _name, _source in SOURCES.items():
    build(_name, _source)
'''


def dict_loop_entry(source) -> dict:
    """One source's entry in the dict loop: the values our generator builds its DAG from
    (salestalk.dagfactory.dag_spec, less the name and DAG id the loop makes itself) and the publish step's
    outlets, computed here, when the DAG file is written, and written out as literals."""
    from salestalk.assets import publish_outlets
    from salestalk.dagfactory import dag_spec

    entry = {key: value for key, value in dag_spec(source).items() if key not in ("name", "dag_id")}
    entry["outlets"] = [(a.name, a.uri, a.group) for a in publish_outlets(source.name)]
    return entry


def write_dict_loop_file(dags: str) -> None:
    """The dict loop's DAG file for the sources in $SALESTALK_SOURCES_DIR. Runs in a child with the workers'
    environment (salestalk importable, Airflow home in the run's temp dir)."""
    from salestalk.config.loader import load_sources
    from salestalk.names import SELECT_TASK_ID, SHARD_GROUP_ID, WATCH_TASK_ID

    loaded = load_sources()
    if loaded.errors:
        raise SystemExit("\n".join(map(str, loaded.errors)))
    sources = {name: dict_loop_entry(config) for name, config in sorted(loaded.configs.items())}
    folder = Path(dags)
    folder.mkdir(parents=True)
    text = DICT_LOOP_TEMPLATE.format(
        steps=STEPS, sources=sources, select=SELECT_TASK_ID, group=SHARD_GROUP_ID, watch=WATCH_TASK_ID
    )
    (folder / "dict_loop.py").write_text(text)


def write_dict_loop(work: Path, dags: Path, sources: Path) -> None:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--write-dict-loop", str(dags)]
    env = child_env(work, dags, sources, None)
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    if proc.returncode:
        raise SystemExit(f"writing the dict loop failed: {(proc.stderr or proc.stdout).strip()[-1500:]}")


# --------------------------------------------------------------------------- dag-factory venv


def dag_factory_python() -> tuple[Path | None, str]:
    return peer_python(f"dag-factory-{DAG_FACTORY_VERSION}", DAG_FACTORY_PACKAGES)


# --------------------------------------------------------------------------- measuring


@dataclass
class Candidate:
    label: str
    python: Path
    dags: Path


@dataclass
class Runs:
    seconds: list[float] = field(default_factory=list)
    dag_counts: list[int] = field(default_factory=list)
    tasks_per_dag: set[int] = field(default_factory=set)
    problem: str | None = None
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and not self.problem else None


_cold_caches = iter(range(1, 1_000_000))


def config_cache(work: Path, label: str) -> str:
    """``SALESTALK_CONFIG_CACHE`` for a candidate: one shared folder (warm after the warm-up run), or for the
    cold-cache variant a new, empty folder on every call."""
    if label == OURS_COLD:
        return str(work / "config-cache-cold" / str(next(_cold_caches)))
    return str(work / "config-cache-warm")


def child_env(
    work: Path, dags: Path, sources: Path, parsing_dag_id: str | None, label: str = OURS
) -> dict[str, str]:
    skip = ("AIRFLOW", "_AIRFLOW", "SALESTALK_", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
            "PYTHONPYCACHEPREFIX": str(work / "pycache"),
            "AIRFLOW_HOME": str(work / "airflow_home"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(work / "no_plugins"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{work / 'airflow.db'}",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "AIRFLOW__DAG_FACTORY__ENABLE_TELEMETRY": "False",
            "DO_NOT_TRACK": "1",
            "SCARF_NO_ANALYTICS": "true",
            "GX_ANALYTICS_ENABLED": "false",
            "PYTHONWARNINGS": "ignore",
            "SALESTALK_SOURCES_DIR": str(sources),
            "SALESTALK_CONFIG_CACHE": config_cache(work, label),
        }
    )
    if parsing_dag_id:
        env["_AIRFLOW_PARSING_CONTEXT_DAG_ID"] = parsing_dag_id
    return env


def run_once(candidate: Candidate, env: dict[str, str]) -> dict:
    cmd = [str(candidate.python), str(Path(__file__).resolve()), "--worker", str(candidate.dags)]
    try:
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        return {"problem": f"timed out after {RUN_TIMEOUT_SECONDS}s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if proc.returncode or not lines:
        return {"problem": f"worker exit {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}"}
    return json.loads(lines[-1].removeprefix(MARKER))


def brief(problem: str) -> str:
    """First and last line of a problem (for a traceback: what was attempted and the exception)."""
    lines = [line.strip() for line in problem.strip().splitlines() if line.strip()]
    return lines[0] if len(lines) < 2 else f"{lines[0].split(' Traceback')[0]} … {lines[-1]}"


def problem_of(result: dict, expected: int) -> str | None:
    if "problem" in result:
        return result["problem"]
    if result["errors"] or len(result["dag_ids"]) != expected:
        detail = "; ".join(f"{Path(p).name}: {e}" for p, e in result["errors"].items())
        return f"built {len(result['dag_ids'])} DAG(s), expected {expected}. {detail}".strip()
    return None


def record(runs: Runs, result: dict, expected: int) -> None:
    runs.problem = problem_of(result, expected)
    if "seconds" in result:
        runs.seconds.append(result["seconds"])
        runs.dag_counts.append(len(result["dag_ids"]))
        runs.tasks_per_dag.update(result["tasks_per_dag"])


def measure(candidates: list[Candidate], env_for, expected: int, repeats: int) -> dict[str, Runs]:
    """One untimed warm-up run each (fills the bytecode cache), then round-robin over the candidates for
    each repeat so drift hits them all alike. A candidate that fails is not run again."""
    runs = {c.label: Runs() for c in candidates}
    for candidate in candidates:
        result = run_once(candidate, {**env_for(candidate), FINGERPRINT_ENV: "1"})
        runs[candidate.label].problem = problem_of(result, expected)
        runs[candidate.label].fingerprints = result.get("fingerprints", {})
    for _ in range(repeats):
        for candidate in candidates:
            if runs[candidate.label].problem:
                continue
            record(runs[candidate.label], run_once(candidate, env_for(candidate)), expected)
    return runs


# --------------------------------------------------------------------------- reporting


def fmt_seconds(runs: Runs | None) -> str:
    if runs is None:
        return "n/a"
    return "failed" if runs.median is None else f"{runs.median:.3f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator else None


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table(results: dict[int, dict[str, Runs]]) -> list[str]:
    lines = [
        f"| N | config cache | ours (s) | {DAG_FACTORY} (s) | dict loop (s) | ours vs dag-factory (×) "
        "| ours vs dict loop (×) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n, runs in results.items():
        factory, loop = runs.get(DAG_FACTORY), runs.get(DICT_LOOP)
        for label, cache in OURS_VARIANTS:
            ours = runs.get(label)
            if ours is None:
                continue
            speedup = ratio(factory and factory.median, ours and ours.median)
            overhead = ratio(ours and ours.median, loop and loop.median)
            cells = [str(n), cache, fmt_seconds(ours), fmt_seconds(factory), fmt_seconds(loop)]
            lines.append("| " + " | ".join([*cells, fmt_ratio(speedup), fmt_ratio(overhead)]) + " |")
    return lines


def verdict(ok: bool | None, text: str) -> str:
    return f"{'SKIP' if ok is None else 'PASS' if ok else 'FAIL'}: {text}"


def verdicts(results: dict[int, dict[str, Runs]], singles: dict[str, Runs], factory_note: str) -> list[str]:
    found = []
    for label, cache in OURS_VARIANTS:
        lines = ours_verdicts(results, singles.get(label), factory_note, label)
        found += [
            line.replace(": N=", f": {cache}, N=", 1).replace(": single", f": {cache}, single", 1)
            for line in lines
        ]
    return found


def ours_verdicts(
    results: dict[int, dict[str, Runs]], single: Runs | None, factory_note: str, label: str
) -> list[str]:
    single = single or Runs(problem="not measured")
    at = results.get(TARGET_N, {})
    ours, factory, loop = (at.get(k) for k in (label, DAG_FACTORY, DICT_LOOP))
    speedup = ratio(factory and factory.median, ours and ours.median)
    overhead = ratio(ours and ours.median, loop and loop.median)
    why_skip = f" (N={TARGET_N} not measured)" if not at else ""
    factory_skip = why_skip or ("" if speedup is not None else f" ({factory_note})")
    return [
        verdict(
            None if speedup is None else speedup >= TARGET_VS_DAG_FACTORY,
            f"N={TARGET_N}: ours at least {TARGET_VS_DAG_FACTORY:g}× faster than {DAG_FACTORY}"
            + (f" — got {speedup:.2f}×" if speedup is not None else factory_skip),
        ),
        verdict(
            None if overhead is None else overhead <= TARGET_VS_DICT_LOOP,
            f"N={TARGET_N}: ours within {TARGET_VS_DICT_LOOP:g}× of the dict loop"
            + (f" — got {overhead:.2f}×" if overhead is not None else why_skip),
        ),
        verdict(
            None if single.median is None else single.median < TARGET_SINGLE_DAG_SECONDS,
            f"single DAG under get_parsing_context() builds in under {TARGET_SINGLE_DAG_SECONDS * 1000:.0f} ms"
            + (f" — got {single.median * 1000:.1f} ms" if single.median is not None else ""),
        ),
    ]


def single_line(n: int, dag_id: str, single: Runs, repeats: int) -> str:
    if single.median is None:
        return f"Single DAG at N={n} ({dag_id}) under get_parsing_context(): failed: {single.problem}"
    built = set(single.dag_counts)
    check = "1 DAG built ✓" if built == {1} else f"DAGs built: {sorted(built)} ✗ (expected 1)"
    return (
        f"Single DAG at N={n} (`{dag_id}`) under get_parsing_context(): "
        f"{single.median * 1000:.1f} ms (median of {repeats}), {check}"
    )


def problems(results: dict[int, dict[str, Runs]], singles: dict[str, Runs]) -> list[str]:
    found = [
        f"{label} at N={n}: {r.problem}"
        for n, runs in results.items()
        for label, r in runs.items()
        if r.problem
    ]
    return found + [f"single DAG ({label}): {r.problem}" for label, r in singles.items() if r.problem]


# --------------------------------------------------------------------------- main


def candidates_for(work: Path, n: int, cfg: dict, factory_python: Path | None) -> list[Candidate]:
    names = bench_names(n)
    base = work / f"n{n}"
    write_our_sources(base / "sources", names)
    write_ours(base / "dags_ours")
    write_dict_loop(work, base / "dags_dict_loop", base / "sources")
    found = [Candidate(label, Path(sys.executable), base / "dags_ours") for label, _ in OURS_VARIANTS]
    if factory_python is not None:
        write_dag_factory(base / "dags_dag_factory", base / "dag_factory_yaml", names, cfg)
        found.append(Candidate(DAG_FACTORY, factory_python, base / "dags_dag_factory"))
    found.append(Candidate(DICT_LOOP, Path(sys.executable), base / "dags_dict_loop"))
    return found


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500", help="comma-separated numbers of sources")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per figure (median)")
    parser.add_argument("--quick", action="store_true", help="N=10 only, 1 repeat (smoke test)")
    parser.add_argument("--worker", metavar="DAGS_FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--write-dict-loop", metavar="DAGS_FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = "10", 1
    args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    if not args.sizes or min(args.sizes) < 1 or args.repeats < 1:
        parser.error("--sizes must list positive numbers and --repeats must be >= 1")
    return args


@dataclass
class Factory:
    """The dag-factory candidate's interpreter, or None with the reason it is not measured."""

    python: Path | None
    note: str


def measure_sizes(work: Path, args: argparse.Namespace, factory: Factory) -> dict[int, dict[str, Runs]]:
    cfg = template_config()
    results: dict[int, dict[str, Runs]] = {}
    for n in args.sizes:
        candidates = candidates_for(work, n, cfg, factory.python)
        sources = work / f"n{n}" / "sources"
        results[n] = measure(
            candidates, lambda c, s=sources: child_env(work, c.dags, s, None, c.label), n, args.repeats
        )
        print(f"N={n}: " + ", ".join(f"{k} {fmt_seconds(r)}" for k, r in results[n].items()), flush=True)
        if factory.python and results[n][DAG_FACTORY].problem:
            factory.python = None
            factory.note = (
                f"does not work on Airflow {AIRFLOW_VERSION}: {brief(results[n][DAG_FACTORY].problem)}"
            )
            print(f"{DAG_FACTORY}: {factory.note}; not running it again", flush=True)
    return results


def measure_single(work: Path, n: int, dag_id: str, repeats: int) -> dict[str, Runs]:
    """Ours at N sources with the parsing context set to one DAG, as in a task process; warm and cold cache."""
    ours = [
        Candidate(label, Path(sys.executable), work / f"n{n}" / "dags_ours") for label, _ in OURS_VARIANTS
    ]
    sources = work / f"n{n}" / "sources"
    runs = measure(ours, lambda c: child_env(work, c.dags, sources, dag_id, c.label), 1, repeats)
    print(f"single DAG at N={n}: " + ", ".join(f"{k} {fmt_seconds(r)}" for k, r in runs.items()), flush=True)
    return runs


def load_average() -> str:
    return f"{os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "?"


def benchmark(args: argparse.Namespace) -> list[str]:
    started, load_before = time.perf_counter(), load_average()
    python, note = dag_factory_python()
    factory = Factory(python, note)
    print(f"{DAG_FACTORY}: {note if python else 'UNAVAILABLE - ' + note}", flush=True)
    n_single = max(args.sizes)
    dag_id = f"source_bench_{max(1, n_single // 2):04d}"
    with tempfile.TemporaryDirectory(prefix="salestalk-parse-time-") as tmp:
        work = Path(tmp)
        (work / "no_plugins").mkdir()
        results = measure_sizes(work, args, factory)
        single = measure_single(work, n_single, dag_id, args.repeats)
    wall = time.perf_counter() - started
    context = (
        f"Whole run: {wall:.0f} s wall; 1-min load average {load_before} at start, {load_average()} at end."
    )
    return report(args, results, (n_single, dag_id, single), factory.note, context)


def spreads(results: dict[int, dict[str, Runs]]) -> list[str]:
    """Every timed run, so noise from a busy machine shows."""
    lines = []
    for n, runs in results.items():
        parts = [f"{label} {' / '.join(f'{x:.3f}' for x in r.seconds) or '-'}" for label, r in runs.items()]
        lines.append(f"- N={n}: " + "; ".join(parts))
    return lines


def shapes(results: dict[int, dict[str, Runs]]) -> str:
    seen: dict[str, set[int]] = {}
    for runs in results.values():
        for label, r in runs.items():
            seen.setdefault(label, set()).update(r.tasks_per_dag)
    parts = [f"{label} {'/'.join(map(str, sorted(t))) or '?'}" for label, t in seen.items()]
    return (
        "Tasks per DAG: " + ", ".join(parts) + " (ours and the dict loop: the tenants task, a task group of "
        "the 5 steps mapped over shards of tenants, report and the deadline watch, with the trigger form's "
        "params, callbacks, trigger rules, pools and outlets; dag-factory: a plain chain of the same 5 step "
        "operators)."
    )


def same_dags(results: dict[int, dict[str, Runs]]) -> tuple[list[str], list[str]]:
    """(lines, problems): whether the dict loop (and ours with a cold cache) built exactly ours' DAGs, by the
    fingerprints of the warm-up runs."""
    lines, found = [], []
    for n, runs in results.items():
        ours = runs.get(OURS)
        if ours is None or not ours.fingerprints:
            continue
        for label in (OURS_COLD, DICT_LOOP):
            other = runs.get(label)
            if other is None or not other.fingerprints:
                continue
            differ = sorted(
                k
                for k in ours.fingerprints.keys() | other.fingerprints.keys()
                if ours.fingerprints.get(k) != other.fingerprints.get(k)
            )
            if differ:
                found.append(f"N={n}: {label} built {len(differ)} DAG(s) unlike ours, e.g. {differ[0]}")
            else:
                lines.append(f"N={n}: {label} built the same {len(ours.fingerprints)} DAGs as ours ✓")
    return lines, found


def report(
    args: argparse.Namespace,
    results: dict[int, dict[str, Runs]],
    single: tuple[int, str, dict[str, Runs]],
    factory_note: str,
    context: str,
) -> list[str]:
    n_single, dag_id, singles = single
    header = [
        "# Parse time (DagBag construction, fresh process per run)",
        "",
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · Python {platform.python_version()} · "
        f"Airflow {AIRFLOW_VERSION} · {os.cpu_count()} CPU(s) · median of {args.repeats} run(s) after one "
        "untimed warm-up run each (bytecode cached, as in a long-lived dag processor)",
        "",
    ]
    legend = [
        "",
        "ours vs dag-factory = dag-factory time ÷ ours (higher is better); "
        "ours vs dict loop = ours ÷ dict-loop time (lower is better).",
        shapes(results),
        "Same DAGs (digest of each serialized DAG without its file path, and its callbacks; warm-up runs): "
        + ("; ".join(same_dags(results)[0]) or "not compared"),
        "",
        *[
            f"{cache}: " + single_line(n_single, dag_id, singles[label], args.repeats)
            for label, cache in OURS_VARIANTS
            if label in singles
        ],
        "",
        *verdicts(results, singles, factory_note),
    ]
    notes = problems(results, singles) + same_dags(results)[1]
    if notes:
        legend += ["", "Problems:", *[f"- {p}" for p in notes]]
    legend += ["", "Individual runs (s):", *spreads(results), "", f"{DAG_FACTORY}: {factory_note}", context]
    return header + table(results) + legend


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return 0
    if args.write_dict_loop:
        write_dict_loop_file(args.write_dict_loop)
        return 0
    lines = benchmark(args)
    text = "\n".join(lines) + "\n"
    publish(text, RESULTS_FILE, REPO_ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
