"""Build one Airflow DAG per source config. Cheap: no GX, pandas, boto3 or warehouse imports here."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gc
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    Param,
    ParamsDict,
    TriggerRule,
    chain,
    get_parsing_context,
)
from airflow.sdk.definitions._internal.expandinput import DictOfListsExpandInput, MappedArgument
from airflow.sdk.definitions.taskgroup import MappedTaskGroup

from salestalk.alerting import callbacks as alert_callbacks
from salestalk.alerting.deadlines import deadline_minutes, watch_deadlines
from salestalk.assets import emit_publish_events, note_published_days, publish_outlets
from salestalk.names import EXTRACT, PUBLISH, SELECT_TASK_ID, SHARD_GROUP_ID, WATCH_TASK_ID
from salestalk.operators.run_control import DeadlineWatchOperator, SelectTenantsOperator
from salestalk.operators.source_step import STEPS, SourceReportOperator, SourceStepOperator
from salestalk.run_params import param_specs

if TYPE_CHECKING:
    from collections.abc import Generator

    from salestalk.config.models import SourceConfig

DOCS_BASE_URL = "https://github.com/salestalk/data-pipelines/blob/main/"
REGISTRY_TENANTS_ROW = "the tenant registry's active tenants, read when a run starts (docs/tenancy.md)"


def runbook_url(source: SourceConfig) -> str:
    if source.runbook.startswith("http"):
        return source.runbook
    return os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL) + source.runbook


def runbook_url_for(path: str) -> str:
    return os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL) + path


def monitor_default_args(owner: str) -> dict:
    """The default_args of the platform's short monitoring DAGs (freshness, cost)."""
    return {
        "owner": owner,
        "retries": 2,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=5),
        "execution_timeout": dt.timedelta(minutes=10),
        "on_failure_callback": alert_callbacks.task_failed,
        "on_retry_callback": alert_callbacks.task_retry,
    }


def extract_summary(extract) -> str:
    if extract.kind == "rest_api":
        return (
            f"REST API `{extract.connection}` `{extract.path}` ({extract.pagination.style} pages of "
            f"{extract.pagination.page_size}, {extract.rate_limit_per_second:g} req/s, "
            f"overlap {extract.overlap_minutes} min)"
        )
    if extract.kind == "events":
        return (
            f"`{extract.contract}` events under `tenants/{{tenant}}/{extract.prefix_pattern}` (JSON lines, "
            f"deduplicated by request id, clock-skew tolerance {extract.max_clock_skew_minutes} min)"
        )
    return f"files `tenants/{{tenant}}/{extract.prefix_pattern}` ({extract.format})"


@functools.cache
def _alert_runbooks(base_url: str) -> str:
    """The doc's links to every alert's runbook: the same for every source."""
    from salestalk.config.alerting import ALERT_TYPES, OTHER_RUNBOOKS, runbook_for

    return ", ".join(f"[{t}]({base_url}{runbook_for(t)})" for t in (*ALERT_TYPES, *OTHER_RUNBOOKS))


def doc_md(source: SourceConfig) -> str:
    where = extract_summary(source.extract)
    deadlines = (
        "; ".join(
            f"`{d.name}`: {deadline_minutes(source, d.minutes):g} min after the run starts"
            for d in source.alerting.deadlines
        )
        or "none"
    )
    alert_runbooks = _alert_runbooks(os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL))
    return "\n".join(
        [
            f"# {source.name}",
            source.description,
            "",
            "| | |",
            "|---|---|",
            f"| Owner | {source.owner} |",
            f"| On-call | {source.oncall.team}: {source.oncall.contact} ([rota]({source.oncall.url})) |",
            f"| Tenants | {', '.join(source.tenants) if source.tenants is not None else REGISTRY_TENANTS_ROW} |",
            f"| Schedule | `{source.schedule}` (UTC data intervals), catchup {'on' if source.catchup else 'off'} |",
            f"| Extract | {where} |",
            f"| Primary key | {', '.join(source.table_schema.primary_key)} |",
            f"| Freshness target | {source.freshness_target_minutes} min |",
            f"| Quality gate | hold publish above {source.quarantine.max_error_rate:.2%} failing rows; "
            f"table-level failure: {source.quarantine.on_table_failure} |",
            f"| Suite | `great_expectations/expectations/{source.expectation_suite}.json` |",
            f"| Runbook | [{source.runbook}]({runbook_url(source)}) |",
            f"| Deadlines | {deadlines} |",
            f"| Alert routes | {', '.join(f'{r.name} ({r.kind})' for r in source.alerting.routes)} |",
            f"| Alert runbooks | {alert_runbooks} |",
            "",
            "Steps per shard of tenants (`concurrency.tenants_per_task`; unset: one tenant per task up to 12 "
            "tenants): extract → load_to_staging → validate → quarantine → publish, then report. A step runs for "
            "the shard's tenants whose previous step finished; a retry or clear redoes only its failed tenants.",
            f"`publish` emits the asset `salestalk.curated.{source.name}` once per tenant and business day it "
            "changed (partition key `tenant|YYYY-MM-DD`; see docs/assets.md).",
            f"The `{SELECT_TASK_ID}` task picks the run's tenants; `{WATCH_TASK_ID}` waits in the triggerer and "
            "pages if the run is late.",
            "",
            "**Rerun one tenant and one day:** Trigger DAG → pick the tenants and set *Data interval start* "
            "(UTC, on the schedule's grid); leave it empty to process the run's own interval.",
        ]
    )


def publish_kwargs(source: SourceConfig, step: str) -> dict:
    """The publish step's outlets (docs/assets.md), and the hooks that note the days it had before and add
    the partition keys it changed."""
    if step != PUBLISH:
        return {}
    return {
        "outlets": publish_outlets(source.name),
        "pre_execute": note_published_days,
        "post_execute": emit_publish_events,
    }


def concurrency_kwargs(source: SourceConfig, step: str) -> dict:
    """A step's pool (the source API's, for extract) and its limit of tenants at once, from the config."""
    found: dict = {}
    limits = source.concurrency
    if step == EXTRACT and limits.api_pool:
        found["pool"] = limits.api_pool
    if limits.max_active_per_step:
        found["max_active_tis_per_dag"] = limits.max_active_per_step
    return found


def _param_parts(specs: dict[str, dict]) -> list[tuple[str, Any, str | None, dict]]:
    """``(name, default, description, schema)`` of each trigger param, split as ``Param(default, **spec)``
    splits them."""
    parts = []
    for name, spec in specs.items():
        schema = {k: v for k, v in spec.items() if k not in ("default", "description")}
        parts.append((name, spec["default"], spec.get("description"), schema))
    return parts


def _task_params(parts: list[tuple[str, Any, str | None, dict]]) -> dict[str, Param]:
    """The params one task gets: what Airflow's per-task deep copy of the DAG's params would give it (the
    same values, ``source="dag"``), without copying the schemas, which nothing changes."""
    return {
        name: Param(_copied(default), description, source="dag", schema=schema)
        for name, default, description, schema in parts
    }


def _copied(value: Any) -> Any:
    """A copy of a JSON value (a param default): new lists and dicts, the same immutable scalars."""
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


@functools.lru_cache(maxsize=1024)
def _default_problem(schema_json: str, default_json: str) -> str | None:
    """Why a param default does not match its schema (None: it does); by their JSON text, since many
    sources share a schedule and tenants and so the same specs."""
    from jsonschema import FormatChecker, validators
    from jsonschema.exceptions import best_match

    schema = json.loads(schema_json)
    error = best_match(
        validators.validator_for(schema)(schema, format_checker=FormatChecker()).iter_errors(
            json.loads(default_json)
        )
    )
    return None if error is None else error.message


def _set_dag_params(dag: DAG, parts: list[tuple[str, Any, str | None, dict]]) -> None:
    """Give the DAG its params after its tasks exist, so no task deep-copies them, and check each default
    against its schema as ``DAG(params=...)`` does for a scheduled DAG, less the meta-schema check of the
    schema itself (which is always one of :func:`salestalk.run_params.param_specs`' shapes; its tests check
    them against the meta-schema). ``DAG.params`` is set the way its own converter sets it."""
    params = ParamsDict(
        {name: Param(default, description, schema=schema) for name, default, description, schema in parts}
    )
    for name, default, _description, schema in parts:
        problem = _default_problem(json.dumps(schema, sort_keys=True), json.dumps(default))
        if problem is not None:
            raise ValueError(
                f"Dag {dag.dag_id!r} is not allowed to define a Schedule, as there are required params without "
                f"default values, or the default values are not valid. Invalid input for param {name}: {problem}"
            )
    object.__setattr__(dag, "params", params)


def dag_spec(source: SourceConfig) -> dict[str, Any]:
    """Everything a source's DAG is built from, as JSON data (so a task process can keep it in the config
    cache and build its DAG without loading the config models)."""
    limits = source.concurrency
    return {
        "name": source.name,
        "dag_id": source.dag_id,
        "description": source.description,
        "owner": source.owner,
        "retries": source.retries,
        "retry_delay_seconds": source.retry_delay_seconds,
        "max_retry_delay_seconds": source.max_retry_delay_seconds,
        "execution_timeout_minutes": source.execution_timeout_minutes,
        "schedule": source.schedule,
        "start_date": source.start_date.isoformat(),
        "catchup": source.catchup,
        "max_active_runs": source.max_active_runs,
        "max_active_tasks": limits.max_active_tasks,
        "tags": list(source.all_tags),
        "owner_links": {source.owner: source.oncall.url, "runbook": runbook_url(source)},
        "doc_md": doc_md(source),
        "params": param_specs(source),
        "api_pool": limits.api_pool,
        "max_active_per_step": limits.max_active_per_step,
        "deadlines": watch_deadlines(source),
    }


def _step_kwargs(spec: dict[str, Any], step: str) -> dict[str, Any]:
    """:func:`publish_kwargs` and :func:`concurrency_kwargs` of a DAG spec."""
    found: dict[str, Any] = {}
    if step == PUBLISH:
        found.update(
            outlets=publish_outlets(spec["name"]),
            pre_execute=note_published_days,
            post_execute=emit_publish_events,
        )
    if step == EXTRACT and spec["api_pool"]:
        found["pool"] = spec["api_pool"]
    if spec["max_active_per_step"]:
        found["max_active_tis_per_dag"] = spec["max_active_per_step"]
    return found


def build_dag(source: SourceConfig, fileloc: str) -> DAG:
    return build_dag_from_spec(dag_spec(source), fileloc)


def build_dag_from_spec(spec: dict[str, Any], fileloc: str) -> DAG:
    """The source DAG of a :func:`dag_spec`."""
    name = spec["name"]
    default_args = {
        "owner": spec["owner"],
        "retries": spec["retries"],
        "retry_delay": dt.timedelta(seconds=spec["retry_delay_seconds"]),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=spec["max_retry_delay_seconds"]),
        "execution_timeout": dt.timedelta(minutes=spec["execution_timeout_minutes"]),
        "on_failure_callback": alert_callbacks.task_failed,
        "on_retry_callback": alert_callbacks.task_retry,
    }
    params = _param_parts(spec["params"])
    with DAG(
        dag_id=spec["dag_id"],
        description=spec["description"],
        schedule=CronDataIntervalTimetable(spec["schedule"], timezone="UTC"),
        start_date=dt.datetime.combine(dt.date.fromisoformat(spec["start_date"]), dt.time(), tzinfo=dt.UTC),
        catchup=spec["catchup"],
        max_active_runs=spec["max_active_runs"],
        max_active_tasks=spec["max_active_tasks"],
        default_args=default_args,
        tags=spec["tags"],
        owner_links=spec["owner_links"],
        doc_md=spec["doc_md"],
        render_template_as_native_obj=False,
    ) as dag:
        select = SelectTenantsOperator(task_id=SELECT_TASK_ID, source_name=name, params=_task_params(params))
        report = SourceReportOperator(
            task_id="report", source_name=name, trigger_rule=TriggerRule.ALL_DONE, params=_task_params(params)
        )
        # what ``@task_group(group_id=SHARD_GROUP_ID)`` + ``.expand(tenants=select.output)`` builds, without
        # importing the task decorators (about 12 ms of a task process's parse)
        shards = DictOfListsExpandInput({"tenants": select.output})
        with MappedTaskGroup(
            group_id=SHARD_GROUP_ID, add_suffix_on_collision=True, expand_input=shards
        ) as group:
            tenants = MappedArgument(input=shards, key="tenants")
            chain(
                *(
                    SourceStepOperator(
                        task_id=step,
                        source_name=name,
                        step=step,
                        tenants=tenants,
                        map_index_template="{{ task.shard_label }}",
                        # a later step runs for the tenants whose previous step finished, even if others failed
                        trigger_rule=TriggerRule.ALL_SUCCESS if step == EXTRACT else TriggerRule.ALL_DONE,
                        params=_task_params(params),
                        **_step_kwargs(spec, step),
                    )
                    for step in STEPS
                )
            )

        select >> group >> report
        if spec["deadlines"]:
            DeadlineWatchOperator(
                task_id=WATCH_TASK_ID,
                source_name=name,
                deadlines=_copied(spec["deadlines"]),
                params=_task_params(params),
            )
    _set_dag_params(dag, params)
    dag.fileloc = fileloc
    return dag


@contextlib.contextmanager
def collector_paused() -> Generator[None, None, None]:
    """Pause Python's cyclic garbage collector, then restore it as it was.

    Building many DAGs allocates a great many container objects and frees almost none, so each automatic
    collection only walks live objects: at 500 sources the collector ran about 270 times during the build, 12%
    of its CPU time. Whatever cyclic garbage the build leaves is collected once the collector runs again.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_source_dags(fileloc: str, folder: Path | None = None) -> list[DAG]:
    """Every valid source's DAG; in a task process, only the DAG that task belongs to."""
    wanted = get_parsing_context().dag_id
    only = wanted.removeprefix("source_") if wanted and wanted.startswith("source_") else None
    with collector_paused():
        if only:
            dag = _one_dag(folder, only, wanted, fileloc)
            if dag is not _NOT_CACHED:
                return [] if dag is None else [dag]
        from salestalk.config.loader import load_sources

        result = load_sources(folder, only=only)
        configs = [c for c in result.configs.values() if wanted is None or c.dag_id == wanted]
        return [build_dag(c, fileloc) for c in configs]


# ---- a task process's one DAG, from the config cache -----------------------------------------------------
# A task process builds only its own DAG (get_parsing_context). Its DAG spec is kept in the config cache by
# the content of the source file and _defaults.yaml, the code of the salestalk package and the docs base URL,
# with the suite file's digest and the runbook file it was checked against: a hit builds the DAG without
# importing or running the config models (about half of that parse). The folder and cache settings are read
# as salestalk.config.loader reads them (importing it would import the models).

_NOT_CACHED = object()
_PACKAGE = Path(__file__).resolve().parent


def _config_cache_dir() -> Path | None:
    setting = os.environ.get("SALESTALK_CONFIG_CACHE", "")
    if setting == "off":
        return None
    return Path(setting) if setting else Path(tempfile.gettempdir()) / f"salestalk-config-cache-{os.getuid()}"


def _sources_folder(folder: Path | None) -> Path:
    return folder or Path(
        os.environ.get("SALESTALK_SOURCES_DIR") or _PACKAGE.parents[1] / "include" / "sources"
    )


@functools.cache
def _code_signature() -> bytes:
    """Every module of the salestalk package by path, size and modification time."""
    found = []
    for root, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file_name in sorted(files):
            if file_name.endswith(".py"):
                stat = os.stat(os.path.join(root, file_name))
                found.append(f"{root}/{file_name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(found).encode()


def _file_digest(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as file:
            return hashlib.blake2b(file.read(), digest_size=20).hexdigest()
    except OSError:
        return None


def _one_dag_entry(folder: Path, only: str) -> tuple[Path, Path] | None:
    """(cache folder, entry) for source ``only`` read directly from ``folder``; None when not cacheable."""
    cache = _config_cache_dir()
    source = next((p for p in (folder / f"{only}.yaml", folder / f"{only}.yml") if p.is_file()), None)
    if cache is None or source is None:
        return None
    key = hashlib.blake2b(digest_size=20)
    for path in (folder / "_defaults.yaml", source):
        key.update(f"{path}\0{_file_digest(path)}\0".encode())
    key.update(_code_signature())
    key.update(repr(os.environ.get("SALESTALK_DOCS_BASE_URL")).encode())
    return cache, cache / f"dag-{key.hexdigest()}.json"


def _one_dag(folder: Path | None, only: str, wanted: str, fileloc: str) -> DAG | None | object:
    """The wanted DAG from its cached spec (None: that source is not valid), or _NOT_CACHED: build it the usual
    way. A miss loads and checks the config, then remembers the spec."""
    folder = _sources_folder(folder)
    where = _one_dag_entry(folder, only)
    if where is None:
        return _NOT_CACHED
    cache, entry = where
    try:
        cached = json.loads(entry.read_bytes())
        suite, suite_digest = cached["suite"]
        fresh = _file_digest(suite) == suite_digest and all(os.path.isfile(p) for p in cached["files"])
    except (OSError, ValueError, TypeError, KeyError):
        fresh = False
    if fresh:
        return build_dag_from_spec(cached["spec"], fileloc)
    from salestalk.config.loader import REPO_ROOT, SUITES_DIR, _write_entry, load_sources

    configs = [c for c in load_sources(folder, only=only).configs.values() if c.dag_id == wanted]
    if not configs:
        return None
    (source,) = configs
    spec = dag_spec(source)
    suite = SUITES_DIR / f"{source.expectation_suite}.json"
    files = [str(REPO_ROOT / source.runbook)] if source.runbook.startswith("docs/") else []
    text = json.dumps({"spec": spec, "suite": [str(suite), _file_digest(suite)], "files": files})
    with contextlib.suppress(OSError):
        _write_entry(cache, entry, text)
    return build_dag_from_spec(json.loads(text)["spec"], fileloc)


class SourceConfigError(Exception):
    """One or more source config files are invalid; the message lists every problem."""


def raise_config_errors(folder: Path | None = None) -> None:
    from salestalk.config.loader import load_sources

    errors = load_sources(folder).errors
    if errors:
        raise SourceConfigError(
            f"{len(errors)} problem(s) in source configs; the other sources' DAGs are unaffected:\n"
            + "\n".join(str(e) for e in errors)
        )
