"""OpenLineage datasets and run facets for one tenant's batch step, free of Airflow.

The operators (:mod:`salestalk.operators.source_step`, :mod:`salestalk.operators.tenant_dynamodb`) call
these pure functions from the provider's ``get_openlineage_facets_on_*`` hooks; everything a function
needs (the bucket, the API's base URL, the warehouse's namespace) is passed in, so nothing here opens a
connection. Dataset names follow the OpenLineage naming spec (https://openlineage.io/docs/spec/naming):

========================  ==============================================  ====================================
dataset                   namespace                                       name
========================  ==============================================  ====================================
S3 prefix                 ``s3://{bucket}``                               ``tenants/{tenant}/.../`` (ends /)
REST endpoint             ``{scheme}://{host}[:{port}]`` of the API       the path, tenant filled in
DuckDB table              ``duckdb://{absolute file path}``               ``{file stem}.{schema}.{table}``
Snowflake table           ``snowflake://{organization}-{account}``        ``{DATABASE}.{SCHEMA}.{TABLE}``
DynamoDB entity           ``awsdynamodb://dynamodb.{region}.amazonaws.com``  ``{table}/TENANT#{tenant}#{entity}#``
========================  ==============================================  ====================================

The spec has no DuckDB or DynamoDB entry; the two follow its pattern (a URI of the datasource, then the
path inside it; DynamoDB as the spec's Athena, ``aws{service}://{service}.{region}.amazonaws.com``). A
tenant's datasets name only its own S3 prefixes and DynamoDB partition (:func:`check_tenant_safe`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    RunFacet,
    data_quality_metrics_input_dataset,
    output_statistics_output_dataset,
)

from salestalk.batch import Batch, format_utc
from salestalk.config.models import EventsExtract, RestApiExtract, S3FilesExtract
from salestalk.names import (
    AUDIT,
    CURATED,
    EXTRACT,
    LOAD,
    PUBLISH,
    QUARANTINE,
    QUARANTINE_KEYS,
    QUARANTINE_SCHEMA,
    RAW,
    STAGING,
    VALIDATE,
    verdicts_table,
)
from salestalk.storage.keys import build_prefix, interval_segments, tenant_prefix

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

PRODUCER = "https://github.com/salestalk/data-pipelines/blob/main/plugins/salestalk/lineage.py"
SCHEMA_BASE = "https://github.com/salestalk/data-pipelines/blob/main/include/lineage/facets.json"
BATCH_FACET = "salestalkBatch"
COUNTS_FACET = "salestalkCounts"
SHARD_FACET = "salestalkShard"


class UnsafeLineage(ValueError):
    """A dataset of one tenant's event names something outside that tenant."""


@dataclass(frozen=True)
class Warehouse:
    """Where the warehouse tables live: the namespace, the database part of a name, its identifier case."""

    namespace: str
    database: str
    upper: bool = False

    def table(self, schema: str, table: str) -> str:
        name = f"{self.database}.{schema}.{table}"
        return name.upper() if self.upper else name


def duckdb_warehouse(path: str | PurePosixPath) -> Warehouse:
    """A DuckDB file: namespace ``duckdb://`` + its absolute path, database its catalog (the file stem)."""
    file = PurePosixPath(str(path))
    if not file.is_absolute():
        raise ValueError(f"the DuckDB path must be absolute for a stable namespace (got {str(path)!r})")
    return Warehouse(namespace=f"duckdb://{file}", database=file.stem)


def snowflake_warehouse(account: str, database: str) -> Warehouse:
    """A Snowflake account: ``snowflake://{organization}-{account}`` (lower case), names upper case.

    ``account`` is the connection's account identifier; the preferred ``org-account`` form (or
    ``org.account``) names the organization, a legacy locator (``xy12345.eu-west-1``) is kept as it is.
    """
    account = account.strip().lower()
    if not account or not database:
        raise ValueError("a Snowflake namespace needs the account identifier and the database")
    if account.count(".") == 1 and "-" not in account.split(".")[1]:
        account = account.replace(".", "-")  # org.account, as SQL writes it
    return Warehouse(namespace=f"snowflake://{account}", database=database, upper=True)


@dataclass(frozen=True)
class Places:
    """What a source step's datasets live in: the bucket, the source API's base URL, the warehouse."""

    bucket: str
    warehouse: Warehouse
    api_base_url: str | None = None


@attr.define
class SalesTalkBatchRunFacet(RunFacet):
    """Which batch the run served: source, tenant, step, data interval and correlation ids."""

    source: str
    tenant: str
    step: str
    dataIntervalStart: str
    dataIntervalEnd: str
    batchId: str
    airflowRunId: str
    partitionKey: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}#/$defs/SalesTalkBatchRunFacet"


@attr.define
class SalesTalkCountsRunFacet(RunFacet):
    """The step's row counts and the batch's data-quality error rate (fields a step does not know are absent)."""

    extracted: int | None = attr.field(default=None)
    landed: int | None = attr.field(default=None)
    parts: int | None = attr.field(default=None)
    rejectedBeforeLanding: int | None = attr.field(default=None)
    staged: int | None = attr.field(default=None)
    validated: int | None = attr.field(default=None)
    failing: int | None = attr.field(default=None)
    duplicatesDropped: int | None = attr.field(default=None)
    errorRate: float | None = attr.field(default=None)
    quarantined: int | None = attr.field(default=None)
    published: int | None = attr.field(default=None)
    heldBack: str | None = attr.field(default=None)
    itemsWritten: int | None = attr.field(default=None)
    itemsDeadLettered: int | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}#/$defs/SalesTalkCountsRunFacet"


@attr.define
class SalesTalkShardRunFacet(RunFacet):
    """A step task that served several tenants (a shard): each tenant's batch facet, with its counts when
    the step finished for it."""

    batches: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}#/$defs/SalesTalkShardRunFacet"


# Fields of a step's result (salestalk.pipeline) -> the counts facet's fields.
RESULT_COUNTS = {
    "extracted": "extracted",
    "landed": "landed",
    "parts": "parts",
    "rejected_before_landing": "rejectedBeforeLanding",
    "staged": "staged",
    "rows": "validated",
    "failing": "failing",
    "duplicates_dropped": "duplicatesDropped",
    "error_rate": "errorRate",
    "quarantined": "quarantined",
    "published": "published",
    "held_back": "heldBack",
}


def batch_facet(batch: Batch, step: str, partition_key: str | None = None) -> SalesTalkBatchRunFacet:
    return SalesTalkBatchRunFacet(
        source=batch.source,
        tenant=batch.tenant,
        step=step,
        dataIntervalStart=format_utc(batch.interval_start),
        dataIntervalEnd=format_utc(batch.interval_end),
        batchId=f"{batch.source}/{batch.tenant}/{batch.interval_label}",
        airflowRunId=batch.run_id,
        partitionKey=partition_key,
        producer=PRODUCER,
    )


def counts_facet(result: dict[str, Any] | None) -> SalesTalkCountsRunFacet | None:
    """The counts a step's result holds, or None when it holds none."""
    if not result:
        return None
    found = {}
    for key, field in RESULT_COUNTS.items():
        value = result.get(key)
        if value is None:
            continue
        if field == "errorRate":
            found[field] = float(value)
        elif field == "heldBack":
            found[field] = str(value)
        else:
            found[field] = int(value)
    return SalesTalkCountsRunFacet(**found, producer=PRODUCER) if found else None


def s3_prefix(bucket: str, tenant: str, *segments: str) -> tuple[str, str]:
    """``(namespace, name)`` of a tenant's S3 prefix; the name always ends with the delimiter."""
    return f"s3://{bucket}", build_prefix(tenant, *segments)


def inbound_prefix(source: SourceConfig, batch: Batch) -> tuple[str, ...]:
    """The segments of the interval's inbound prefix of a file or event source (as its extract lists it)."""
    from salestalk.extract.s3_files import inbound_prefix_segments

    return inbound_prefix_segments(source.extract.prefix_pattern, batch.ds)


def api_endpoint(base_url: str, path_pattern: str, tenant: str) -> tuple[str, str]:
    """``(namespace, name)`` of a tenant's REST endpoint: the API's ``scheme://authority``, then the path."""
    parts = urlsplit(base_url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"the source API's base URL {base_url!r} has no scheme or host")
    base_path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}", base_path + path_pattern.format(tenant=tenant)


def source_step_lineage(
    step: str,
    source: SourceConfig,
    batch: Batch,
    places: Places,
    result: dict[str, Any] | None = None,
) -> tuple[list[InputDataset], list[OutputDataset], dict[str, RunFacet]]:
    """Inputs, outputs and run facets of ``step`` for ``batch``; ``result`` is the step's return value
    (None before it ran or when it failed), whose counts go to the counts facet and dataset statistics."""
    tenant = batch.tenant
    result = result or {}
    wh = places.warehouse
    raw = s3_prefix(places.bucket, tenant, *interval_segments(RAW, batch.source, batch.interval_label))
    staging = (wh.namespace, wh.table(STAGING, source.name))
    inputs: list[tuple[str, str]] = []
    outputs: list[tuple[str, str]] = []
    output_rows: dict[tuple[str, str], int] = {}
    input_rows: dict[tuple[str, str], int] = {}
    if step == EXTRACT:
        extract = source.extract
        if isinstance(extract, RestApiExtract):
            if not places.api_base_url:
                raise ValueError(f"source {source.name} reads a REST API but no base URL was given")
            inputs.append(api_endpoint(places.api_base_url, extract.path, tenant))
        elif isinstance(extract, S3FilesExtract | EventsExtract):
            inputs.append(s3_prefix(places.bucket, tenant, *inbound_prefix(source, batch)))
        else:  # pragma: no cover - the config model admits no other kind
            raise TypeError(f"unsupported extract kind {extract!r}")
        outputs.append(raw)
        if "landed" in result:
            output_rows[raw] = int(result["landed"])
    elif step == LOAD:
        inputs.append(raw)
        outputs.append(staging)
        if "staged" in result:
            output_rows[staging] = int(result["staged"])
    elif step == VALIDATE:
        inputs.append(staging)
        outputs.append((wh.namespace, wh.table(AUDIT, verdicts_table(source.name))))
        if "rows" in result:
            input_rows[staging] = int(result["rows"])
    elif step == QUARANTINE:
        quarantine_table = (wh.namespace, wh.table(QUARANTINE_SCHEMA, source.name))
        inputs += [staging, raw]
        outputs += [
            quarantine_table,
            s3_prefix(
                places.bucket, tenant, *interval_segments(QUARANTINE_KEYS, batch.source, batch.interval_label)
            ),
        ]
        if "quarantined" in result:
            output_rows[quarantine_table] = int(result["quarantined"])
    elif step == PUBLISH:
        curated = (wh.namespace, wh.table(CURATED, source.name))
        inputs.append(staging)
        outputs.append(curated)
        if "published" in result:
            output_rows[curated] = int(result["published"])
    else:
        raise ValueError(f"unknown step {step!r}")
    facets: dict[str, RunFacet] = {BATCH_FACET: batch_facet(batch, step)}
    counts = counts_facet(result)
    if counts is not None:
        facets[COUNTS_FACET] = counts
    ins = [_input(ns, name, input_rows.get((ns, name))) for ns, name in inputs]
    outs = [_output(ns, name, output_rows.get((ns, name))) for ns, name in outputs]
    check_tenant_safe(tenant, [*ins, *outs])
    return ins, outs, facets


def shard_step_lineage(
    step: str,
    source: SourceConfig,
    batches: list[Batch],
    places: Places,
    results: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[InputDataset], list[OutputDataset], dict[str, RunFacet]]:
    """:func:`source_step_lineage` of a shard: one tenant's as it is; several tenants' datasets together
    (each checked against its own tenant, shared tables once), and their batches in the shard facet."""
    results = results or {}
    if len(batches) == 1:
        return source_step_lineage(step, source, batches[0], places, results.get(batches[0].tenant))
    inputs: dict[tuple[str, str], InputDataset] = {}
    outputs: dict[tuple[str, str], OutputDataset] = {}
    entries = []
    for batch in batches:
        ins, outs, facets = source_step_lineage(step, source, batch, places, results.get(batch.tenant))
        for found, merged in ((ins, inputs), (outs, outputs)):
            for dataset in found:
                merged.setdefault(
                    (dataset.namespace, dataset.name),
                    attr.evolve(dataset, inputFacets=None)
                    if isinstance(dataset, InputDataset)
                    else attr.evolve(dataset, outputFacets=None),
                )
        entry = {k: v for k, v in attr.asdict(facets[BATCH_FACET]).items() if not k.startswith("_")}
        if COUNTS_FACET in facets:
            entry["counts"] = {
                k: v
                for k, v in attr.asdict(facets[COUNTS_FACET]).items()
                if v is not None and not k.startswith("_")
            }
        entries.append(entry)
    shard = SalesTalkShardRunFacet(batches=entries, producer=PRODUCER)
    return list(inputs.values()), list(outputs.values()), {SHARD_FACET: shard}


def dynamodb_entity(region: str, table: str, tenant: str, entity: str) -> tuple[str, str]:
    """``(namespace, name)`` of a tenant's DynamoDB entity: the table and the tenant's partition key."""
    from salestalk.storage.tenant_dynamodb import partition_key

    if not region or not table:
        raise ValueError("a DynamoDB dataset needs the region and the table")
    return f"awsdynamodb://dynamodb.{region}.amazonaws.com", f"{table}/{partition_key(tenant, entity)}"


def dynamodb_write_lineage(
    *,
    tenant: str,
    entity: str,
    table: str,
    region: str,
    interval: tuple[dt.datetime, dt.datetime] | None,
    run_id: str,
    counts: dict[str, Any] | None = None,
    partition_key: str | None = None,
) -> tuple[list[InputDataset], list[OutputDataset], dict[str, RunFacet]]:
    """The write operator's lineage: the tenant's DynamoDB entity as output, its write counts as facet.

    ``interval`` is the data the items describe (a partitioned run's day), ``partition_key`` the asset
    partition that triggered the run, if any."""
    namespace, name = dynamodb_entity(region, table, tenant, entity)
    written = None if counts is None else int(counts.get("written", 0))
    outputs = [_output(namespace, name, written)]
    facets: dict[str, RunFacet] = {}
    if interval is not None:
        batch = Batch(
            source=entity, tenant=tenant, interval_start=interval[0], interval_end=interval[1], run_id=run_id
        )
        facets[BATCH_FACET] = batch_facet(batch, "dynamodb_write", partition_key)
    if counts is not None:
        facets[COUNTS_FACET] = SalesTalkCountsRunFacet(
            itemsWritten=written, itemsDeadLettered=int(counts.get("dead_lettered", 0)), producer=PRODUCER
        )
    check_tenant_safe(tenant, outputs)
    return [], outputs, facets


def check_tenant_safe(tenant: str, datasets: list[Any]) -> None:
    """Raise :class:`UnsafeLineage` unless every S3 dataset is a prefix (or key) inside ``tenants/{tenant}/``
    ending with the delimiter, and every DynamoDB dataset is the tenant's own partition."""
    own = tenant_prefix(tenant)
    for dataset in datasets:
        s3 = dataset.namespace.startswith("s3://")
        if s3 and (not dataset.name.startswith(own) or not dataset.name.endswith("/")):
            raise UnsafeLineage(f"S3 dataset {dataset.name!r} is not a prefix inside {own!r}")
        dynamodb = dataset.namespace.startswith("awsdynamodb://")
        if dynamodb and (f"/TENANT#{tenant}#" not in dataset.name or not dataset.name.endswith("#")):
            raise UnsafeLineage(f"DynamoDB dataset {dataset.name!r} is not tenant {tenant}'s partition")


def _input(namespace: str, name: str, rows: int | None) -> InputDataset:
    facets = {}
    if rows is not None:
        facets["dataQualityMetrics"] = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
            columnMetrics={}, rowCount=rows, producer=PRODUCER
        )
    return InputDataset(namespace=namespace, name=name, inputFacets=facets)


def _output(namespace: str, name: str, rows: int | None) -> OutputDataset:
    facets = {}
    if rows is not None:
        facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, producer=PRODUCER
        )
    return OutputDataset(namespace=namespace, name=name, outputFacets=facets)
