"""The S3 guard over HTTP: create-once, SSE-KMS with the tenant context, faults at the botocore boundary."""

from __future__ import annotations

import base64
import itertools
import json

import pytest

from dev.embedded import ensure_bucket
from salestalk.storage.keys import UnsafeKey
from salestalk.storage.tenant_s3 import MULTIPART_THRESHOLD, ObjectConflict, TenantS3
from tests.support.aws_faults import (
    FaultInjector,
    RequestRecorder,
    connection_reset,
    first,
    read_timeout,
    server_error,
)
from tests.support.dropping_proxy import DroppingProxy
from tests.support.moto import kms_key

RETRYING = {"max_attempts": 5, "mode": "standard"}
buckets = itertools.count()


@pytest.fixture
def s3(moto_server):
    client = moto_server.client("s3", retries=RETRYING)
    bucket = f"guard-{next(buckets)}"
    ensure_bucket(client, bucket)
    return client, bucket, kms_key(moto_server)


def audit(client, bucket: str, key_id: str, tenant: str = "t1") -> dict[str, int]:
    """Objects outside the tenant, and objects without SSE-KMS under the configured key."""
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    unencrypted = 0
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        if head.get("ServerSideEncryption") != "aws:kms" or key_id not in head.get("SSEKMSKeyId", ""):
            unencrypted += 1
    return {
        "objects": len(keys),
        "cross_tenant": sum(not k.startswith(f"tenants/{tenant}/") for k in keys),
        "unencrypted": unencrypted,
    }


def assert_balanced(guard: TenantS3, attempted: int) -> None:
    assert attempted == guard.stats.written + guard.stats.duplicate + guard.stats.blocked


def test_an_object_is_written_once_encrypted_for_its_tenant_tagged_and_checksummed(s3) -> None:
    client, bucket, kms = s3
    guard = TenantS3(client, bucket, "t1", kms)
    key = guard.key("raw", "deals", "part.parquet")
    checksum = guard.put_bytes(key, b"hello", data_class="raw")

    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and kms.key_id in head["SSEKMSKeyId"]
    assert head["Metadata"] == {"sha256": checksum, "tenant": "t1"}
    tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    assert tags == [{"Key": "data-class", "Value": "raw"}]
    context = client.get_object(Bucket=bucket, Key=key).get("SSEKMSEncryptionContext")
    if context is not None:  # moto echoes the context on GET when it keeps it
        assert json.loads(base64.b64decode(context)) == {"tenant": "t1"}
    assert (guard.stats.written, guard.stats.duplicate) == (1, 0)


def test_same_bytes_again_are_a_duplicate_and_different_bytes_a_conflict(s3) -> None:
    client, bucket, kms = s3
    guard = TenantS3(client, bucket, "t1", kms)
    key = guard.key("state", "deals", "cursor", "1.json")
    guard.put_bytes(key, b"one")
    guard.put_bytes(key, b"one")
    with pytest.raises(ObjectConflict, match="already holds different content"):
        guard.put_bytes(key, b"two")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"one"
    assert (guard.stats.written, guard.stats.duplicate) == (1, 1)


def test_a_key_outside_the_tenant_is_blocked_before_any_request(s3) -> None:
    client, bucket, kms = s3
    guard = TenantS3(client, bucket, "t1", kms)
    with RequestRecorder(client) as recorder:
        for key in ("tenants/t10/raw/x", "tenants/t1", "tenants/t1x/y", "other/tenants/t1/x"):
            with pytest.raises(UnsafeKey):
                guard.put_bytes(key, b"x")
    assert recorder.count() == 0
    assert guard.stats.blocked == 4
    assert_balanced(guard, attempted=4)
    assert audit(client, bucket, kms.key_id)["objects"] == 0


HOSTILE_KEYS_INSIDE_THE_PREFIX = {
    "dot-dot": "tenants/t1/raw/../../t2/raw/x",
    "dot": "tenants/t1/./raw/x",
    "percent-encoded-dot-dot": "tenants/t1/raw/%2e%2e/x",
    "nul": "tenants/t1/raw/x\x00.parquet",
    "newline": "tenants/t1/raw/x\n",
    "backslash": "tenants/t1/raw\\..\\x",
    "empty-segment": "tenants/t1//raw/x",
    "trailing-slash": "tenants/t1/raw/",
    "only-the-prefix": "tenants/t1/",
    "not-nfc": "tenants/t1/raw/cafe\u0301",
    "over-1024-bytes": "tenants/t1/raw/" + "x" * 1010,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_KEYS_INSIDE_THE_PREFIX))
def test_a_key_the_builder_would_refuse_is_blocked_before_any_request(s3, name: str) -> None:
    """Starting with the tenant's prefix is not enough: every segment is checked again on write."""
    client, bucket, kms = s3
    guard = TenantS3(client, bucket, "t1", kms)
    key = HOSTILE_KEYS_INSIDE_THE_PREFIX[name]
    with RequestRecorder(client) as recorder:
        with pytest.raises(UnsafeKey, match="was not made by the key builder"):
            guard.put_bytes(key, b"x")
        with pytest.raises(UnsafeKey):
            guard.delete([guard.key("raw", "ok"), key])
    assert recorder.count() == 0
    assert guard.stats.blocked == 1
    assert audit(client, bucket, kms.key_id)["objects"] == 0


def test_t1_never_lists_or_reads_t10(s3) -> None:
    client, bucket, kms = s3
    t1, t10 = TenantS3(client, bucket, "t1", kms), TenantS3(client, bucket, "t10", kms)
    t10.put_bytes(t10.key("raw", "a"), b"t10")
    t1.put_bytes(t1.key("raw", "a"), b"t1")
    assert list(t1.list_keys("raw")) == ["tenants/t1/raw/a"]
    with pytest.raises(UnsafeKey):
        t1.get_bytes("tenants/t10/raw/a")
    assert list(t1.list_keys("raw", start_after=t1.key("raw", "0"))) == ["tenants/t1/raw/a"]
    assert list(t1.list_keys("raw", start_after=t1.key("raw", "a"))) == []
    with pytest.raises(UnsafeKey):
        list(t1.list_keys("raw", start_after="tenants/t10/raw/"))


S3_FAULTS = {
    "500-first-2": (server_error(500), first(2)),
    "503-slow-down": (server_error(503, "SlowDown"), first(3)),
    "read-timeout": (read_timeout(), first(2)),
    "connection-reset": (connection_reset(), first(2)),
}


@pytest.mark.parametrize("scenario", sorted(S3_FAULTS))
def test_transient_faults_are_retried_and_nothing_is_lost_or_duplicated(s3, scenario: str) -> None:
    client, bucket, kms = s3
    fault, schedule = S3_FAULTS[scenario]
    guard = TenantS3(client, bucket, "t1", kms)
    bodies = {guard.key("raw", "s", f"{n}.bin"): f"body-{n}".encode() for n in range(5)}
    with FaultInjector(client, fault, schedule, operation="PutObject") as injector:
        for key, body in bodies.items():
            guard.put_bytes(key, body)
    assert injector.injected >= 2
    assert_balanced(guard, attempted=len(bodies))
    assert guard.stats.written + guard.stats.duplicate == len(bodies)
    assert audit(client, bucket, kms.key_id) == {"objects": 5, "cross_tenant": 0, "unencrypted": 0}
    assert {k: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in bodies} == bodies


def test_a_committed_put_whose_response_is_lost_counts_as_a_duplicate(moto_server) -> None:
    kms = kms_key(moto_server)
    direct = moto_server.client("s3")
    ensure_bucket(direct, "lost-response")
    with DroppingProxy(
        moto_server.endpoint_url,
        matches=lambda headers, body: headers.get("if-none-match") == "*",
        drop_on={1},
    ) as proxy:
        client = moto_server.client("s3", endpoint_url=proxy.endpoint_url, retries=RETRYING)
        guard = TenantS3(client, "lost-response", "t1", kms)
        key = guard.key("raw", "deals", "part.parquet")
        guard.put_bytes(key, b"committed once")
    assert proxy.dropped == 1, "the first put committed upstream and its response was lost"
    assert (guard.stats.written, guard.stats.duplicate) == (0, 1), "the retry found its own bytes"
    assert audit(direct, "lost-response", kms.key_id) == {"objects": 1, "cross_tenant": 0, "unencrypted": 0}


def test_a_large_object_goes_multipart_create_once_and_leaves_no_upload_behind(s3) -> None:
    client, bucket, kms = s3
    guard = TenantS3(client, bucket, "t1", kms)
    body = bytes(range(256)) * (MULTIPART_THRESHOLD // 256 + 4096)
    key = guard.key("raw", "big", "part.parquet")
    with RequestRecorder(client) as recorder:
        guard.put_bytes(key, body)
        guard.put_bytes(key, body)
    assert recorder.count("UploadPart") >= 4
    assert (guard.stats.written, guard.stats.duplicate) == (1, 1)
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert audit(client, bucket, kms.key_id) == {"objects": 1, "cross_tenant": 0, "unencrypted": 0}
