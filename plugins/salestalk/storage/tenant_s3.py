"""S3 access that can only touch one tenant's prefix."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from salestalk.storage.keys import UnsafeKey, build_key, build_prefix, tenant_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger(__name__)


class TenantS3:
    """Reads, writes and lists objects under ``tenants/{tenant}/`` of one bucket, nowhere else."""

    def __init__(self, client, bucket: str, tenant: str) -> None:
        self.client = client
        self.bucket = bucket
        self.tenant = tenant
        self.prefix = tenant_prefix(tenant)

    def key(self, *segments: str) -> str:
        return build_key(self.tenant, *segments)

    def _own(self, key: str) -> str:
        if not key.startswith(self.prefix):
            raise UnsafeKey(f"key {key!r} is outside tenant prefix {self.prefix!r}")
        return key

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> str:
        checksum = hashlib.sha256(body).hexdigest()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._own(key),
            Body=body,
            ContentType=content_type,
            Metadata={"sha256": checksum, "tenant": self.tenant},
        )
        log.info("wrote s3://%s/%s (%d bytes)", self.bucket, key, len(body))
        return checksum

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._own(key))["Body"].read()

    def get_bytes_or_none(self, key: str) -> bytes | None:
        try:
            return self.get_bytes(key)
        except self.client.exceptions.NoSuchKey:
            return None

    def list_keys(self, *segments: str) -> Iterator[str]:
        prefix = build_prefix(self.tenant, *segments)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                yield self._own(item["Key"])

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._own(k)} for k in keys[start : start + 1000]]
            if chunk:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
