"""S3 access that can only touch one tenant's prefix, and only writes create-once, KMS-encrypted objects."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from salestalk.storage.keys import UnsafeKey, build_key, build_prefix, check_built_key, tenant_prefix

if TYPE_CHECKING:
    from collections.abc import Iterator

log = logging.getLogger(__name__)

MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_PART_SIZE = 8 * 1024 * 1024
KMS_KEY_ENV = "SALESTALK_KMS_KEY_ID"
KMS_ALLOWED_ENV = "SALESTALK_KMS_ALLOWED_KEY_IDS"


class ObjectConflict(RuntimeError):
    """A create-once key already holds different content."""


class DisallowedKmsKey(ValueError):
    """A KMS key id that is not on the allow-list (moto would accept any id, so we check)."""


@dataclass(frozen=True)
class KmsKey:
    key_id: str
    allowed: frozenset[str]

    def __post_init__(self) -> None:
        if not self.key_id:
            raise DisallowedKmsKey(f"no KMS key configured: set {KMS_KEY_ENV}")
        if self.key_id not in self.allowed:
            raise DisallowedKmsKey(f"KMS key {self.key_id!r} is not in {KMS_ALLOWED_ENV}")

    @classmethod
    def from_env(cls) -> KmsKey:
        allowed = frozenset(k.strip() for k in os.environ.get(KMS_ALLOWED_ENV, "").split(",") if k.strip())
        return cls(os.environ.get(KMS_KEY_ENV, ""), allowed)


@dataclass
class WriteStats:
    written: int = 0
    duplicate: int = 0
    blocked: int = 0
    keys: list[str] = field(default_factory=list)


class TenantS3:
    """Reads, writes and lists objects under ``tenants/{tenant}/`` of one bucket, nowhere else.

    Writes are create-once (``IfNoneMatch="*"``) with a SHA-256 checksum and SSE-KMS whose encryption
    context names the tenant. Rewriting a key with identical bytes is a no-op; different bytes raise.
    """

    def __init__(self, client, bucket: str, tenant: str, kms: KmsKey | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.tenant = tenant
        self.prefix = tenant_prefix(tenant)
        self.kms = kms or KmsKey.from_env()
        self.stats = WriteStats()

    def key(self, *segments: str) -> str:
        return build_key(self.tenant, *segments)

    def _own(self, key: str) -> str:
        """``key`` if it is under this tenant's prefix: enough for reading what others dropped there."""
        if not isinstance(key, str) or not key.startswith(self.prefix):
            raise UnsafeKey(f"key {str(key)[:200]!r} is outside tenant prefix {self.prefix!r}")
        return key

    def _writable(self, key: str) -> str:
        """``key`` if the key builder made it for this tenant: every segment is checked again."""
        return check_built_key(self.tenant, key)

    def _encryption(self) -> dict[str, str]:
        context = base64.b64encode(json.dumps({"tenant": self.tenant}).encode()).decode()
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": self.kms.key_id,
            "SSEKMSEncryptionContext": context,
        }

    def put_bytes(
        self, key: str, body: bytes, content_type: str = "application/octet-stream", data_class: str = "state"
    ) -> str:
        """Create ``key`` once with ``body``; return its SHA-256. Identical bytes already there are fine.

        ``data_class`` (raw, quarantine, state, ...) is stored as the object tag the lifecycle rules match.
        """
        from botocore.exceptions import ClientError

        try:
            self._writable(key)
        except UnsafeKey:
            self.stats.blocked += 1
            raise
        checksum = hashlib.sha256(body).hexdigest()
        common = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": {"sha256": checksum, "tenant": self.tenant},
            "Tagging": f"data-class={data_class}",
            **self._encryption(),
        }
        try:
            if len(body) > MULTIPART_THRESHOLD:
                self._multipart(common, body)
            else:
                digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
                self.client.put_object(Body=body, IfNoneMatch="*", ChecksumSHA256=digest, **common)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"PreconditionFailed", "412"}:
                raise
            existing = self.client.head_object(Bucket=self.bucket, Key=key).get("Metadata", {}).get("sha256")
            if existing != checksum:
                raise ObjectConflict(
                    f"s3://{self.bucket}/{key} already holds different content (sha256 {existing}, new {checksum})"
                ) from None
            self.stats.duplicate += 1
            log.info("s3://%s/%s already holds these %d bytes", self.bucket, key, len(body))
            return checksum
        self.stats.written += 1
        self.stats.keys.append(key)
        log.info("wrote s3://%s/%s (%d bytes)", self.bucket, key, len(body))
        return checksum

    def _multipart(self, common: dict, body: bytes) -> None:
        upload = self.client.create_multipart_upload(**common)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(body), MULTIPART_PART_SIZE), start=1):
                chunk = body[start : start + MULTIPART_PART_SIZE]
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=common["Key"], UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=common["Key"],
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=common["Key"], UploadId=upload_id)
            raise

    def get_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._own(key))["Body"].read()

    def get_bytes_or_none(self, key: str) -> bytes | None:
        try:
            return self.get_bytes(key)
        except self.client.exceptions.NoSuchKey:
            return None

    def list_keys(self, *segments: str, start_after: str | None = None) -> Iterator[str]:
        """The keys under the prefix of ``segments``, in key order; after the key ``start_after`` only."""
        prefix = build_prefix(self.tenant, *segments)
        paginator = self.client.get_paginator("list_objects_v2")
        after = {"StartAfter": self._own(start_after)} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **after):
            for item in page.get("Contents", []):
                yield self._own(item["Key"])

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._writable(k)} for k in keys[start : start + 1000]]
            if chunk:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})
