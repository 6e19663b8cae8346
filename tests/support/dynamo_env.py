"""A fresh table and bucket on a running moto server, plus writers and the checks the tests share."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from salestalk.storage.dead_letter import DeadLetterStore
from salestalk.storage.tenant_dynamodb import TenantDynamoWriter, enable_ttl, partition_key, table_definition
from salestalk.storage.tenant_s3 import KmsKey, TenantS3

if TYPE_CHECKING:
    from collections.abc import Iterable

    from salestalk.storage.tenant_dynamodb import WriteCounts
    from tests.support.moto import MotoServer


def deal(number: int, tenant: str = "t1", **fields: Any) -> dict[str, Any]:
    """A small, realistic item: a CRM deal of ``tenant``."""
    return {
        "dealId": f"deal-{number:04d}",
        "tenantId": tenant,
        "amount": number * 100,
        "stage": "won",
        **fields,
    }


class DynamoEnv:
    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.dynamodb = server.client("dynamodb")
        self.s3 = server.client("s3")
        suffix = uuid.uuid4().hex[:12]
        self.table = f"salestalk-{suffix}"
        self.bucket = f"salestalk-{suffix}"
        self.dynamodb.create_table(**table_definition(self.table))
        enable_ttl(self.dynamodb, self.table)
        self.s3.create_bucket(Bucket=self.bucket)
        key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
        self.kms = KmsKey(key_id, frozenset({key_id}))
        self.sleeps: list[float] = []

    def tenant_s3(self, tenant: str) -> TenantS3:
        return TenantS3(self.s3, self.bucket, tenant, kms=self.kms)

    def dead_letters(self, tenant: str, **kwargs: Any) -> DeadLetterStore:
        return DeadLetterStore(self.tenant_s3(tenant), **kwargs)

    def writer(self, tenant: str = "t1", entity: str = "deals", **overrides: Any) -> TenantDynamoWriter:
        options: dict[str, Any] = {
            "ttl_days": 30,
            "dead_letter": self.dead_letters(tenant),
            "sleep": self.sleeps.append,
            "rng": random.Random(7),
        }
        options.update(overrides)
        client = options.pop("client", self.dynamodb)
        return TenantDynamoWriter(client, self.table, tenant, entity, **options)

    # ---- verification (tests only: the library never scans) ----

    def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def keys_by_partition(self) -> dict[str, list[str]]:
        """Every sort key in the table, by partition key (a list, so a duplicate would show)."""
        found: dict[str, list[str]] = defaultdict(list)
        for item in self.scan():
            found[item["pk"]["S"]].append(item["sk"]["S"])
        return {pk: sorted(sks) for pk, sks in found.items()}

    def assert_only_tenant(self, tenant: str) -> None:
        """Nothing in the table lies outside ``tenant``'s partitions."""
        outside = [pk for pk in self.keys_by_partition() if not pk.startswith(f"TENANT#{tenant}#")]
        assert outside == [], f"items outside tenant {tenant}: {outside}"

    def object_keys(self) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def assert_holds_exactly(
        self, tenant: str, entity: str, ids: Iterable[str], *, others: Iterable[str] = ()
    ) -> None:
        """The table holds each of ``ids`` once under ``tenant``'s pk, and nothing for ``others`` or elsewhere.

        Checked twice: by Query on every tenant's own pk (what the library does) and by a full Scan.
        """
        pk, ids = partition_key(tenant, entity), list(ids)
        for other in others:
            reader = self.writer(other, entity)
            assert reader.query(entity) == [], f"tenant {other} got items"
        assert self.keys_by_partition() == ({pk: sorted(ids)} if ids else {})


def assert_counts_add_up(counts: WriteCounts) -> None:
    accounted = counts.written + counts.duplicate + counts.dead_lettered + counts.blocked + counts.stale
    assert counts.attempted == accounted, counts
