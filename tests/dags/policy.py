"""DAG policy checks, each a function of a DagBag (or one DAG) and the config folder the DAGs came from.

The expected DAG ids, tenants and doc facts all come from the config folder, never from the names of the
shipped sources: tests/dags/test_dag_integrity.py runs these checks on the repository's DAGs, and
tests/dags/test_added_source_policy.py on DAGs built from a temporary folder with a source added.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from salestalk import REPO_ROOT
from salestalk.config.loader import load_sources, source_files, sources_dir
from salestalk.config.tags import TAG_VOCABULARY

if TYPE_CHECKING:
    from pathlib import Path

    from salestalk.config.models import SourceConfig

DAGS_DIR = REPO_ROOT / "dags"
APP_DAGS = frozenset({"app_insight_summaries", "cost_guardrails", "monitor_freshness"})
STEP_ORDER = [
    "tenant.extract",
    "tenant.load_to_staging",
    "tenant.validate",
    "tenant.quarantine",
    "tenant.publish",
]


def make_dagbag(dag_folder: Path = DAGS_DIR):
    """A DagBag of ``dag_folder``; the sources come from SALESTALK_SOURCES_DIR or include/sources/."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


def expected_source_dag_ids(folder: Path | None = None) -> set[str]:
    """One DAG per source file in ``folder`` (default: the config folder the DAGs read)."""
    return {f"source_{p.stem}" for p in source_files(folder or sources_dir())}


def expected_dag_ids(folder: Path | None = None) -> set[str]:
    return expected_source_dag_ids(folder) | APP_DAGS


def source_configs(folder: Path | None = None) -> dict[str, SourceConfig]:
    """The valid configs of ``folder``, by DAG id."""
    return {c.dag_id: c for c in load_sources(folder).configs.values()}


def check_no_import_errors(bag) -> None:
    assert bag.import_errors == {}


def check_dag_ids(bag, folder: Path | None = None) -> None:
    """Exactly one DAG per config file plus the app DAGs: a DAG that silently disappears fails."""
    expected = expected_dag_ids(folder)
    assert set(bag.dag_ids) == expected, (
        f"missing {sorted(expected - set(bag.dag_ids))}, unexpected {sorted(set(bag.dag_ids) - expected)}"
    )


def check_source_dag_policy(dag, config: SourceConfig) -> None:
    """Tags, schedule, docs, owner links, retries, timeouts, owners and alert callbacks of a source DAG."""
    from airflow.sdk import CronDataIntervalTimetable

    from salestalk.alerting import callbacks

    assert dag.dag_id == config.dag_id
    assert dag.tags and set(dag.tags) <= TAG_VOCABULARY
    assert {"source", config.extract.kind, *config.tags} <= set(dag.tags)
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.doc_md and "Runbook" in dag.doc_md and "docs/runbooks/" in dag.doc_md
    assert set(dag.owner_links) == {config.owner, "runbook"}
    assert dag.owner_links[config.owner] == config.oncall.url
    assert all(link.startswith("https://") for link in dag.owner_links.values())
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.execution_timeout is not None and task.execution_timeout <= dt.timedelta(hours=24)
        assert task.owner not in (None, "", "airflow"), task.task_id
        assert callbacks.task_failed in task.on_failure_callback, task.task_id
        assert callbacks.task_retry in task.on_retry_callback, task.task_id


def check_task_order(dag) -> None:
    """tenants → extract → load_to_staging → validate → quarantine → publish per tenant, then report on all
    done; the deadline watch (if the source has deadlines) stands apart."""
    from salestalk.names import SELECT_TASK_ID, WATCH_TASK_ID

    assert sorted(set(dag.task_ids) - {WATCH_TASK_ID}) == sorted([SELECT_TASK_ID, *STEP_ORDER, "report"])
    assert STEP_ORDER[0] in dag.get_task(SELECT_TASK_ID).downstream_task_ids
    for upstream, downstream in zip(STEP_ORDER, [*STEP_ORDER[1:], "report"], strict=True):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert dag.get_task("report").trigger_rule == "all_done"
    # a later step runs for the shard's tenants that finished the step before it, even if others failed it
    assert dag.get_task(STEP_ORDER[0]).trigger_rule == "all_success"
    assert {dag.get_task(step).trigger_rule for step in STEP_ORDER[1:]} == {"all_done"}
    if WATCH_TASK_ID in dag.task_ids:
        watch = dag.get_task(WATCH_TASK_ID)
        assert not watch.upstream_task_ids and not watch.downstream_task_ids


def check_tenants_mapped(dag, config: SourceConfig) -> None:
    """The steps are mapped over shards of exactly the config's tenants, each labelled by its shard."""
    group = dag.task_group_dict["tenant"]
    (mapped,) = group._expand_input.value.values()
    schema = dag.params.get_param("tenants").schema
    check_small_tenants_schema(schema)
    if config.tenants is None:  # a registry source: the tenants task reads the registry at run time
        assert not isinstance(mapped, list)
        assert dag.params["tenants"] == []
        assert "examples" not in schema  # parse time never asks the registry for names
    elif isinstance(mapped, list):
        assert mapped == list(config.tenants)
    else:  # mapped over an upstream task's output, which picks from the run's tenants param
        assert dag.params["tenants"] == list(config.tenants)
        assert schema["examples"] == list(config.tenants)  # the trigger form's pick list
    for step in STEP_ORDER:
        assert dag.get_task(step).map_index_template == "{{ task.shard_label }}", step


def check_small_tenants_schema(schema: dict) -> None:
    """The tenants param's schema is flat: no ``enum``, no per-item rules. Airflow checks it against the
    meta-schema and deep-copies it into every task on every parse; the names are checked when the run starts
    (``salestalk.run_params.selected_tenants``)."""
    assert schema["type"] == "array"
    assert "enum" not in schema and "items" not in schema, schema


def check_doc_md_facts(dag, config: SourceConfig) -> None:
    """The DAG doc is generated from the config: tenants, schedule, freshness, key, gate, owner."""
    from salestalk.dagfactory import REGISTRY_TENANTS_ROW

    facts = (
        ", ".join(config.tenants) if config.tenants is not None else REGISTRY_TENANTS_ROW,
        config.schedule,
        f"{config.freshness_target_minutes} min",
        ", ".join(config.table_schema.primary_key),
        f"{config.quarantine.max_error_rate:.2%}",
        config.owner,
        config.runbook,
        f"{config.expectation_suite}.json",
    )
    for fact in facts:
        assert fact in dag.doc_md, (dag.dag_id, fact)


def check_insight_tenants_mapped(bag, folder: Path | None = None) -> None:
    """The insight summaries can run for every tenant of every source in the folder: mapped over the
    ``partition`` task's tenants (the run's partition's, or the params'), whose choices are all of them."""
    dag = bag.dags["app_insight_summaries"]
    (mapped,) = dag.task_group_dict["tenant"]._expand_input.value.values()
    assert mapped.operator.task_id == "partition"
    configs = load_sources(folder).configs.values()
    every = sorted({t for c in configs for t in c.tenants or []})
    if any(c.tenants is None for c in configs):  # registry tenants are checked at run time, not parse time
        assert dag.params["tenants"] == []
        assert "enum" not in dag.params.get_param("tenants").schema["items"]
    else:
        assert dag.params["tenants"] == every
        assert dag.params.get_param("tenants").schema["items"]["enum"] == every
    for task_id in ("tenant.compute", "tenant.write"):
        assert dag.get_task(task_id).map_index_template == "{{ task.tenant }}", task_id


def check_insight_schedule(bag, folder: Path | None = None) -> None:
    """Scheduled by the inputs' partitioned asset events: every input's curated asset, or the restatement;
    the key is tenant|YYYY-MM-DD; the write task records the summary's own asset."""
    from airflow.sdk import PartitionedAssetTimetable

    from salestalk.assets import RESTATED_NAME, SUMMARY_NAME, curated_asset_name
    from salestalk.insights import INPUT_SOURCES

    dag = bag.dags["app_insight_summaries"]
    timetable = dag.timetable
    assert isinstance(timetable, PartitionedAssetTimetable)
    condition = timetable.asset_condition
    every_input, restated = condition.objects
    assert type(condition).__name__ == "AssetAny" and type(every_input).__name__ == "AssetAll"
    assert sorted(a.name for a in every_input.objects) == sorted(curated_asset_name(s) for s in INPUT_SOURCES)
    assert restated.name == RESTATED_NAME
    # As the scheduler sees it (serialized, then decoded into the core timetable).
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable

    core = decode_timetable(encode_timetable(timetable))
    for name in [*(curated_asset_name(s) for s in INPUT_SOURCES), RESTATED_NAME]:
        mapper = core.get_partition_mapper(name=name)
        assert mapper.to_downstream("acme|2026-11-01") == "acme|2026-11-01", name
        assert mapper.to_partition_date("acme|2026-11-01").isoformat() == "2026-11-01T00:00:00+00:00"
    assert [a.name for a in dag.get_task("tenant.write").outlets] == [SUMMARY_NAME]
    configs = load_sources(folder).configs
    for name in INPUT_SOURCES:
        if name in configs:
            outlets = [a.name for a in bag.dags[configs[name].dag_id].get_task("tenant.publish").outlets]
            assert outlets == [curated_asset_name(name), RESTATED_NAME], name


def check_app_dag_policy(dag) -> None:
    assert dag.tags and set(dag.tags) <= TAG_VOCABULARY
    assert dag.catchup is False and dag.max_active_runs == 1 and dag.doc_md
    for task in dag.tasks:
        assert task.retries >= 2 and task.retry_exponential_backoff and task.execution_timeout is not None


def check_source_dag(dag, config: SourceConfig) -> None:
    """Every per-DAG check of a source DAG."""
    check_source_dag_policy(dag, config)
    check_task_order(dag)
    check_tenants_mapped(dag, config)
    check_doc_md_facts(dag, config)


def check_dagbag(bag, folder: Path | None = None) -> None:
    """The whole policy on a DagBag built from ``folder``: no import errors, the exact DAG ids, and every
    source DAG and app DAG checked against its config."""
    check_no_import_errors(bag)
    check_dag_ids(bag, folder)
    configs = source_configs(folder)
    assert set(configs) == expected_source_dag_ids(folder), "every config file must load"
    for dag_id, config in sorted(configs.items()):
        check_source_dag(bag.dags[dag_id], config)
    for dag_id in sorted(APP_DAGS):
        check_app_dag_policy(bag.dags[dag_id])
    check_insight_tenants_mapped(bag, folder)
    check_insight_schedule(bag, folder)
