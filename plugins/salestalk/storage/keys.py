"""The one builder of S3 keys. Every key lives under ``tenants/{tenant}/``."""

from __future__ import annotations

import re
import unicodedata

from salestalk.tenancy import validate_tenant_id

MAX_KEY_BYTES = 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f%\\/]")


class UnsafeKey(ValueError):
    """A key segment or key that could escape its tenant prefix or confuse S3."""


def tenant_prefix(tenant: str) -> str:
    return f"tenants/{validate_tenant_id(tenant)}/"


def validate_segment(segment: object) -> str:
    if not isinstance(segment, str) or not segment:
        raise UnsafeKey(f"key segment must be a non-empty string (got {segment!r})")
    if segment in {".", ".."}:
        raise UnsafeKey(f"key segment {segment!r} is a path traversal")
    if _UNSAFE.search(segment):
        raise UnsafeKey(f"key segment {segment!r} holds a slash, backslash, percent or control character")
    if unicodedata.normalize("NFC", segment) != segment:
        raise UnsafeKey(f"key segment {segment!r} is not NFC-normalised")
    return segment


def build_key(tenant: str, *segments: str) -> str:
    """``tenants/{tenant}/seg1/seg2...``, every segment checked, the result asserted to stay in the tenant."""
    prefix = tenant_prefix(tenant)
    key = prefix + "/".join(validate_segment(s) for s in segments)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UnsafeKey(f"key is {len(key.encode())} bytes, over the {MAX_KEY_BYTES}-byte limit")
    if not key.startswith(prefix) or not segments:
        raise UnsafeKey(f"key {key!r} is not inside {prefix!r}")
    return key


def check_built_key(tenant: str, key: object) -> str:
    """``key`` if :func:`build_key` would have made it for ``tenant`` (every segment checked again), else
    :class:`UnsafeKey` naming the key: the last line of defence for writes."""
    if not isinstance(key, str):
        raise UnsafeKey(f"key must be a string (got {type(key).__name__})")
    prefix = tenant_prefix(tenant)
    if not key.startswith(prefix):
        raise UnsafeKey(f"key {key[:200]!r} is outside tenant prefix {prefix!r}")
    try:
        rebuilt = build_key(tenant, *key[len(prefix) :].split("/"))
    except UnsafeKey as exc:
        raise UnsafeKey(f"key {key[:200]!r} was not made by the key builder: {exc}") from None
    if rebuilt != key:  # pragma: no cover - build_key joins the same segments back
        raise UnsafeKey(f"key {key[:200]!r} was not made by the key builder")
    return key


def build_prefix(tenant: str, *segments: str) -> str:
    """A listing prefix that always ends with the delimiter, so ``t1`` never matches ``t10``."""
    return build_key(tenant, *segments) + "/" if segments else tenant_prefix(tenant)


def interval_segments(kind: str, source: str, interval_label: str) -> tuple[str, ...]:
    return (kind, source, f"interval={interval_label}")
