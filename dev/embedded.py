"""The embedded defaults for local runs: moto (S3, DynamoDB) and the fake source API, on loopback."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.pii import PII_KEY_ENV
from salestalk.storage.tenant_s3 import TenantS3

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

AWS_REGION = "us-east-1"
EMBEDDED_PII_KEY = "embedded-dev-only-pii-key-not-a-secret"
RECENT_DAYS = 3
DEMO_TAG = "demo"


@dataclass
class EmbeddedStack:
    moto_url: str
    api_url: str
    moto_server: Any = field(repr=False)
    api_server: Any = field(repr=False)
    kms_key_id: str = ""

    def connection_env(self) -> dict[str, str]:
        """The Airflow connections that point the pipelines at this stack."""
        return {
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": self.moto_url, "region_name": AWS_REGION},
                }
            ),
            "AIRFLOW_CONN_SALESTALK_SOURCE_API": json.dumps({"conn_type": "http", "host": self.api_url}),
            "AWS_DEFAULT_REGION": AWS_REGION,
            "SALESTALK_KMS_KEY_ID": self.kms_key_id,
            "SALESTALK_KMS_ALLOWED_KEY_IDS": self.kms_key_id,
            PII_KEY_ENV: EMBEDDED_PII_KEY,
        }

    def s3_client(self):
        return aws_client("s3", self.moto_url)

    def dynamodb_client(self):
        return aws_client("dynamodb", self.moto_url)

    def stop(self) -> None:
        self.api_server.stop()
        self.moto_server.stop()


def start_embedded(api_rate_limit: float | None = None) -> EmbeddedStack:
    """moto and the fake source API (every day from the first demo day on), both on loopback."""
    import logging

    from moto.server import ThreadedMotoServer

    from dev.fakeapi.server import serve

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    api = serve(host="127.0.0.1", port=0)
    if api_rate_limit is not None:
        api.api.set_rate_limit(api_rate_limit)
    key_id = create_kms_key(aws_client("kms", moto_url))
    return EmbeddedStack(
        moto_url=moto_url, api_url=api.url, moto_server=moto, api_server=api, kms_key_id=key_id
    )


def aws_client(service: str, endpoint_url: str):
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=AWS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_kms_key(kms_client) -> str:
    return kms_client.create_key(Description="salestalk data at rest")["KeyMetadata"]["KeyId"]


LIFECYCLE_RULES = [
    {
        "ID": "abort-incomplete-multipart-uploads",
        "Filter": {"Prefix": "tenants/"},
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    },
    {
        "ID": "expire-raw",
        "Filter": {"Tag": {"Key": "data-class", "Value": "raw"}},
        "Status": "Enabled",
        "Expiration": {"Days": 400},
    },
    {
        "ID": "expire-quarantine",
        "Filter": {"Tag": {"Key": "data-class", "Value": "quarantine"}},
        "Status": "Enabled",
        "Expiration": {"Days": 180},
    },
]


def ensure_bucket(s3_client, bucket: str) -> None:
    """Create the bucket with versioning off and the retention rules for raw and quarantined data."""
    existing = {b["Name"] for b in s3_client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3_client.create_bucket(Bucket=bucket)
    s3_client.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": LIFECYCLE_RULES}
    )


def demo_resource(source: SourceConfig) -> str | None:
    """The fake API seed resource that holds ``source``'s demo data, or None if the embedded stack has none.

    A source has demo data when it is tagged ``demo``, all its tenants are demo tenants, and it reads what
    the embedded stack serves: a REST path of the fake API, the product-usage CSV exports that
    :func:`seed_inbound_files` drops for file sources, or ``classification.performed`` events.
    """
    from dev.fakeapi import seed

    if DEMO_TAG not in source.tags or not all(seed.is_seeded_tenant(t) for t in source.tenants or []):
        return None
    extract = source.extract
    columns = set(source.table_schema.column_names)
    if extract.kind == "rest_api":
        resource = extract.path.rstrip("/").rsplit("/", 1)[-1]
        served = resource in seed.HTTP_RESOURCES and extract.path == f"/v1/tenants/{{tenant}}/{resource}"
        return resource if served and columns == set(seed.FIELDS[resource]) else None
    if extract.kind == "s3_files":
        exported = extract.format == "csv" and columns == set(seed.FIELDS["product_usage"])
        return "product_usage" if exported else None
    if extract.kind == "events":
        return extract.contract if extract.contract == "classification.performed" else None
    return None


def seed_inbound_files(s3_client, bucket: str, source: SourceConfig, days: list[str]) -> int:
    """Drop the fake exports or event files under each tenant's inbound prefix, as the tenants would.

    Only for a file or event source whose demo data the embedded stack has (:func:`demo_resource`); other
    sources get nothing (REST sources read the fake API instead).
    """
    if source.extract.kind not in {"s3_files", "events"} or demo_resource(source) is None:
        return 0
    from dev.fakeapi.events_seed import classification_event_lines
    from dev.fakeapi.seed import product_usage_rows
    from salestalk.config.models import EventsExtract
    from salestalk.extract.s3_files import inbound_prefix_segments
    from salestalk.tenant_registry import source_tenants

    tenants = source_tenants(source)  # pinned, else the registry's active tenants now
    written = 0
    if isinstance(source.extract, EventsExtract):
        for tenant in tenants:
            s3 = TenantS3(s3_client, bucket, tenant)
            for day in days:
                lines = classification_event_lines(tenant, day)
                key = s3.key(*inbound_prefix_segments(source.extract.prefix_pattern, day), "events-000.jsonl")
                s3.put_bytes(key, b"\n".join(lines) + b"\n", "application/x-ndjson", data_class="inbound")
                written += len(lines)
        return written
    for tenant in tenants:
        s3 = TenantS3(s3_client, bucket, tenant)
        for day in days:
            rows = product_usage_rows(tenant, day)
            sink = io.StringIO()
            writer = csv.DictWriter(sink, fieldnames=source.table_schema.column_names, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            key = s3.key(*inbound_prefix_segments(source.extract.prefix_pattern, day), "export-000.csv")
            s3.put_bytes(key, sink.getvalue().encode(), "text/csv", data_class="inbound")
            written += len(rows)
    return written


def recent_days(count: int = RECENT_DAYS, today: dt.date | None = None) -> list[str]:
    """The ``count`` UTC days through ``today`` (default: today), oldest first, none before the seed's first day."""
    from dev.fakeapi.seed import FIRST_DAY

    today = today or dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=back) for back in range(count - 1, -1, -1)]
    return [day.isoformat() for day in days if day >= FIRST_DAY]


def seed_recent_inbound_files(
    s3_client, bucket: str, source: SourceConfig, *, count: int = RECENT_DAYS, today: dt.date | None = None
) -> int:
    """``seed_inbound_files`` for the ``recent_days``, so that the current intervals have files too."""
    return seed_inbound_files(s3_client, bucket, source, recent_days(count, today))


def ensure_dynamodb_table(client, table: str) -> None:
    from salestalk.storage.tenant_dynamodb import enable_ttl, table_definition

    if table not in client.list_tables()["TableNames"]:
        client.create_table(**table_definition(table))
        client.get_waiter("table_exists").wait(TableName=table)
    enable_ttl(client, table)


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
