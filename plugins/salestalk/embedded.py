"""The embedded defaults for local runs: moto (S3, DynamoDB) and the fake source API, on loopback."""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from salestalk.storage.tenant_s3 import TenantS3

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

AWS_REGION = "us-east-1"


@dataclass
class EmbeddedStack:
    moto_url: str
    api_url: str
    moto_server: Any = field(repr=False)
    api_server: Any = field(repr=False)

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
        }

    def s3_client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.moto_url,
            region_name=AWS_REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def stop(self) -> None:
        self.api_server.stop()
        self.moto_server.stop()


def start_embedded(api_rate_limit: float | None = None) -> EmbeddedStack:
    import logging

    from moto.server import ThreadedMotoServer

    from salestalk.fakeapi.server import serve

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    api = serve(host="127.0.0.1", port=0)
    if api_rate_limit is not None:
        api.api.set_rate_limit(api_rate_limit)
    return EmbeddedStack(moto_url=f"http://{host}:{port}", api_url=api.url, moto_server=moto, api_server=api)


def ensure_bucket(s3_client, bucket: str) -> None:
    existing = {b["Name"] for b in s3_client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        s3_client.create_bucket(Bucket=bucket)


def seed_inbound_files(s3_client, bucket: str, source: SourceConfig, days: list[str]) -> int:
    """Drop the fake product-usage exports under each tenant's inbound prefix, as the tenants would."""
    from salestalk.extract.s3_files import inbound_prefix_segments
    from salestalk.fakeapi.seed import product_usage_rows

    written = 0
    for tenant in source.tenants:
        s3 = TenantS3(s3_client, bucket, tenant)
        for day in days:
            rows = product_usage_rows(tenant, day)
            sink = io.StringIO()
            writer = csv.DictWriter(sink, fieldnames=source.table_schema.column_names, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            key = s3.key(*inbound_prefix_segments(source.extract.prefix_pattern, day), "export-000.csv")
            s3.put_bytes(key, sink.getvalue().encode(), "text/csv")
            written += len(rows)
    return written


def apply_env(env: dict[str, str]) -> None:
    os.environ.update(env)
