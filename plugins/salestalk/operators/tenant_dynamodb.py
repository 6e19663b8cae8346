"""Operators for the app's DynamoDB table: compute a tenant's insight summaries, write items tenant-safely.

Cheap to import (DAG files import this at parse time): boto3, DuckDB and the storage modules are imported
inside ``execute``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

WRITE_MODES = ("put_once", "put_if_newer", "batch_put")
OVERSIZE_POLICIES = ("reject", "offload")


def dynamodb_table() -> str:
    """The app table's name, from ``SALESTALK_DYNAMODB_TABLE`` (default ``salestalk-app``) at call time."""
    from salestalk.settings import get_settings

    return get_settings().dynamodb_table


def dynamodb_client(aws_conn_id: str | None):
    """A low-level DynamoDB client for ``aws_conn_id``, botocore's retries off (the writer owns retries).

    Not ``DynamoDBHook(...).get_conn().meta.client``: that is the boto3 *resource's* client, which carries
    the resource's type-serialising handlers, so an attribute value ``{"S": "x"}`` would be sent as a map
    (``ValidationException: Type mismatch for key pk expected: S actual: M``). ``DynamoDBHook`` always sets
    ``resource_type``, so its ``get_client_type`` refuses; the generic hook with ``client_type`` is the
    provider's own way to a plain client over the same connection.
    """
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    from salestalk.storage.tenant_dynamodb import WRITER_CLIENT_CONFIG

    return AwsBaseHook(
        aws_conn_id=aws_conn_id, client_type="dynamodb", config=WRITER_CLIENT_CONFIG
    ).get_conn()


class TenantDynamoDBWriteOperator(BaseOperator):
    """Write ``items`` of ``entity`` for ``tenant`` with :class:`~salestalk.storage.tenant_dynamodb.TenantDynamoWriter`.

    Every key is built inside the operator's tenant; an item naming another ``tenantId`` is blocked, never
    re-homed. Items that cannot be written go to the tenant's dead-letter store in S3; the task then fails
    (no retry) after the whole write, naming the counts and where the records are. Returns the counts,
    never payloads.

    :param tenant: the run's tenant (from the DAG config or the mapped task group), never from the items.
    :param entity: the entity name, part of the partition key ``TENANT#{tenant}#{entity}#``.
    :param items: a list of JSON dicts (or an XComArg resolving to one).
    :param id_field: the item field that is the sort key.
    :param mode: ``put_once`` (create once; other content is a conflict), ``put_if_newer`` (write unless
        the table holds the same or a newer ``version_field``), or ``batch_put`` (unconditional, for
        content that is a function of its key).
    :param version_field: the item field compared by ``put_if_newer``; required for that mode only.
    :param table: the DynamoDB table; ``None`` reads ``SALESTALK_DYNAMODB_TABLE`` at task time.
    :param aws_conn_id: the Airflow AWS connection for DynamoDB and S3.
    :param ttl_days: days until DynamoDB may expire an item (reads drop expired items themselves).
    :param timestamp_field: an ISO-8601 item field indexed by ``gsi1`` (latest N per tenant); optional.
    :param max_item_bytes: items above this DynamoDB size are rejected or offloaded.
    :param oversize: ``reject`` (dead-letter oversize items) or ``offload`` (item body to S3, pointer in
        DynamoDB).
    :param bucket: the S3 bucket for dead letters and offloads; ``None`` uses ``SALESTALK_BUCKET``.
    :param pii_fields: item fields removed (at any depth) before an item is dead-lettered.
    """

    template_fields: Sequence[str] = ("tenant", "items")
    ui_color = "#fff3d6"

    def __init__(
        self,
        *,
        tenant: str,
        entity: str,
        items: Any,
        id_field: str,
        mode: Literal["put_once", "put_if_newer", "batch_put"] = "put_once",
        version_field: str | None = None,
        table: str | None = None,
        aws_conn_id: str = "aws_default",
        ttl_days: int,
        timestamp_field: str | None = None,
        max_item_bytes: int = 350_000,
        oversize: Literal["reject", "offload"] = "reject",
        bucket: str | None = None,
        pii_fields: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if mode not in WRITE_MODES:
            raise ValueError(f"mode must be one of {WRITE_MODES} (got {mode!r})")
        if (mode == "put_if_newer") != (version_field is not None):
            raise ValueError("version_field is required with mode='put_if_newer' and only with it")
        if oversize not in OVERSIZE_POLICIES:
            raise ValueError(f"oversize must be one of {OVERSIZE_POLICIES} (got {oversize!r})")
        self.tenant = tenant
        self.entity = entity
        self.items = items
        self.id_field = id_field
        self.mode = mode
        self.version_field = version_field
        self.table = table
        self.aws_conn_id = aws_conn_id
        self.ttl_days = ttl_days
        self.timestamp_field = timestamp_field
        self.max_item_bytes = max_item_bytes
        self.oversize = oversize
        self.bucket = bucket
        self.pii_fields = tuple(pii_fields)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook
        from airflow.sdk.exceptions import AirflowFailException

        from salestalk.operators.openlineage import remember_dynamodb_write
        from salestalk.settings import get_settings
        from salestalk.storage.dead_letter import DeadLetterStore
        from salestalk.storage.keys import build_prefix
        from salestalk.storage.tenant_dynamodb import TenantDynamoWriter
        from salestalk.storage.tenant_s3 import TenantS3
        from salestalk.tenancy import validate_tenant_id

        tenant = validate_tenant_id(self.tenant)
        items = _item_list(self.items)
        table = self.table or dynamodb_table()
        bucket = self.bucket or get_settings().bucket

        dynamodb = dynamodb_client(self.aws_conn_id)
        self._lineage = remember_dynamodb_write(
            tenant, self.entity, table, dynamodb.meta.region_name, context
        )
        s3 = TenantS3(S3Hook(aws_conn_id=self.aws_conn_id).get_conn(), bucket, tenant)
        writer = TenantDynamoWriter(
            dynamodb,
            table,
            tenant,
            self.entity,
            ttl_days=self.ttl_days,
            dead_letter=DeadLetterStore(s3, pii_fields=self.pii_fields),
            max_item_bytes=self.max_item_bytes,
            oversize=self.oversize,
            offload=s3 if self.oversize == "offload" else None,
            timestamp_field=self.timestamp_field,
        )
        if self.mode == "put_if_newer":
            counts = writer.put_if_newer(items, self.id_field, self.version_field)
        elif self.mode == "batch_put":
            counts = writer.batch_put(items, self.id_field)
        else:
            counts = writer.put_once(items, self.id_field)

        result = {"tenant": tenant, "entity": self.entity, "table": table, **counts.as_dict()}
        self._lineage_counts = counts.as_dict()
        self.log.info(
            "dynamodb %s table=%s tenant=%s entity=%s counts=%s",
            self.mode,
            table,
            tenant,
            self.entity,
            counts.as_dict(),
        )
        failed = counts.dead_lettered + counts.blocked
        if failed:
            where = f"s3://{bucket}/{build_prefix(tenant, 'dead_letter', self.entity)}"
            context["ti"].xcom_push(key="counts", value=result)
            raise AirflowFailException(
                f"tenant {tenant}: {failed} of {counts.attempted} {self.entity} items were not written to "
                f"{table} (counts {counts.as_dict()}); the items are dead-lettered under {where} "
                "(see docs/dynamodb.md, 'Dead letters and redrive')"
            )
        return result

    # OpenLineage (docs/lineage.md): the tenant's DynamoDB entity as output, the write counts as a facet.
    _lineage: dict[str, Any] | None = None
    _lineage_counts: dict[str, Any] | None = None

    def get_openlineage_facets_on_start(self) -> Any:
        from salestalk.operators.openlineage import no_lineage_yet

        return no_lineage_yet()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from salestalk.operators.openlineage import dynamodb_write_lineage

        return dynamodb_write_lineage(self._lineage, self._lineage_counts)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        from salestalk.operators.openlineage import dynamodb_write_lineage

        return dynamodb_write_lineage(self._lineage, self._lineage_counts)


class InsightSummaryOperator(BaseOperator):
    """Compute ``tenant``'s insight summary for the run's partition day; return it as items.

    The day comes from the run's partition key (``tenant|YYYY-MM-DD``, set by the asset events that
    triggered it) or, for a manual run, its params or logical date (:func:`salestalk.assets.summary_day`).
    Reads the configured warehouse (``SALESTALK_WAREHOUSE``: DuckDB or Snowflake) through :mod:`salestalk.insights`; every item
    validates against the ``insight-summary`` contract. Missing curated tables give zero metrics.

    :param tenant: the run's tenant (the mapped task group's argument).
    """

    template_fields: Sequence[str] = ("tenant",)
    ui_color = "#e8f4fd"

    def __init__(self, *, tenant: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant = tenant

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from salestalk.assets import run_summary_day
        from salestalk.insights import day_end, summaries_for_tenants
        from salestalk.tenancy import validate_tenant_id
        from salestalk.warehouse import open_warehouse

        tenant = validate_tenant_id(self.tenant)
        day = run_summary_day(context)
        warehouse = open_warehouse()
        items = summaries_for_tenants(warehouse, [tenant], day, day, day_end(day))[tenant]
        for item in items:
            self.log.info(
                "insight summary tenant=%s summaryId=%s computedAt=%s metrics=%d topIntents=%d",
                tenant,
                item["summaryId"],
                item["computedAt"],
                len(item["metrics"]),
                len(item["topIntents"]),
            )
        return items


def _item_list(items: Any) -> list[dict[str, Any]]:
    """The resolved ``items`` as a list (an XCom may come back as a lazy sequence); None is no items."""
    if items is None:
        return []
    if isinstance(items, dict | str | bytes):
        raise TypeError(f"items must be a list of dicts (got a {type(items).__name__})")
    return list(items)
