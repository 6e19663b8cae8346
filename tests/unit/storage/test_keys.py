"""The key builder keeps every key inside its tenant's prefix."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salestalk.storage.keys import UnsafeKey, build_key, build_prefix, tenant_prefix, validate_segment
from salestalk.tenancy import InvalidTenantId, validate_tenant_id


def test_prefixes_end_with_the_delimiter() -> None:
    assert tenant_prefix("t1") == "tenants/t1/"
    assert not "tenants/t10/raw/x".startswith(tenant_prefix("t1"))
    assert build_prefix("t1", "raw", "deals") == "tenants/t1/raw/deals/"


@pytest.mark.parametrize(
    "segment",
    [
        pytest.param("", id="empty"),
        pytest.param(".", id="dot"),
        pytest.param("..", id="dotdot"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\\b", id="backslash"),
        pytest.param("%2e%2e", id="percent-encoded"),
        pytest.param("a\x00b", id="nul"),
        pytest.param("line\nbreak", id="newline"),
        pytest.param("cafe\u0301", id="not-nfc"),
    ],
)
def test_unsafe_segments_are_rejected(segment: str) -> None:
    with pytest.raises(UnsafeKey):
        validate_segment(segment)


def test_keys_over_1024_bytes_are_rejected() -> None:
    with pytest.raises(UnsafeKey, match="over the 1024-byte limit"):
        build_key("acme", "x" * 1100)


@pytest.mark.parametrize(
    "tenant",
    [
        "",
        "Acme",
        "acme corp",
        "acme_",
        "-acme",
        "acme-",
        "a--b",
        "ａｃｍｅ",
        "acme\n",
        "x" * 33,
        "tenants/acme",
    ],
)
def test_non_canonical_tenant_ids_are_rejected(tenant: str) -> None:
    with pytest.raises(InvalidTenantId):
        validate_tenant_id(tenant)


ADVERSARIAL = st.sampled_from(
    ["/", ".", "..", "%2e", "%2F", "\x00", "\n", "\u0301", "ｔ", "-", "--", "t1", "t10", "A"]
)
adversarial_text = st.lists(st.one_of(ADVERSARIAL, st.text(max_size=4)), max_size=8).map("".join)
tenants = st.one_of(st.from_regex(r"[a-z0-9][a-z0-9-]{0,33}", fullmatch=True), adversarial_text)
segments_lists = st.lists(
    st.one_of(st.from_regex(r"[a-z0-9_=.-]{1,12}", fullmatch=True), adversarial_text), min_size=1, max_size=4
)


@settings(max_examples=3000, deadline=None)
@given(tenant=tenants, segments=segments_lists)
def test_a_built_key_never_leaves_its_tenant(tenant: str, segments: list[str]) -> None:
    try:
        key = build_key(tenant, *segments)
    except (UnsafeKey, InvalidTenantId):
        return
    assert re.fullmatch(r"(?!.*--)[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?", tenant), (
        "only canonical tenants pass"
    )
    assert unicodedata.is_normalized("NFC", key) and len(key.encode()) <= 1024
    assert not any(c in key for c in "%\\\x00\n")
    assert key.startswith(f"tenants/{tenant}/")
    assert key.split("/")[1] == tenant
    assert len(key.split("/")) == 2 + len(segments)
    assert not {"", ".", ".."} & set(key.split("/"))
