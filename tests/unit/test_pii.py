"""PII is hashed per tenant or dropped before landing; its format rules run on the clear value first."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salestalk.pii import (
    HASH_PREFIX,
    PII_KEY_ENV,
    PiiConfigError,
    hash_value,
    landed_suite,
    pii_screen,
    tenant_key,
)
from salestalk.quality.suite import load_suite, parse_suite, suite_path
from salestalk.rawtext import records_chunk

KEY = {PII_KEY_ENV: "unit-test-pii-key-0123456789"}
DEALS = load_suite(suite_path("deals"))
EMAIL_RULE = "expect_column_values_to_match_regex(owner_email)"
COLUMNS = ["deal_id", "owner_email"]


def screened(screen, *records: dict) -> list[tuple[dict, list[str]]]:
    """Each record as landed (its configured columns) with its rejections, after ``screen``."""
    chunk = screen(records_chunk(list(records), COLUMNS))
    rows = chunk.table.select(COLUMNS).to_pylist()
    return [(row, chunk.rejections.get(n, [])) for n, row in enumerate(rows)]


def test_hash_is_keyed_per_tenant_and_stable() -> None:
    master = KEY[PII_KEY_ENV].encode()
    acme, globex = tenant_key(master, "acme"), tenant_key(master, "globex")
    assert hash_value(acme, "a@b.co") == hash_value(acme, "a@b.co"), "joins within a tenant still work"
    assert hash_value(acme, "a@b.co") != hash_value(globex, "a@b.co"), "two tenants never hash alike"
    assert hash_value(tenant_key(b"another-master-key!!", "acme"), "a@b.co") != hash_value(acme, "a@b.co")
    assert re.fullmatch(r"h1:[0-9a-f]{64}", hash_value(acme, "a@b.co"))
    assert hash_value(acme, None) is None


def test_screen_hashes_checks_the_clear_value_and_never_returns_it() -> None:
    screen = pii_screen(DEALS, {"owner_email": "hash"}, "acme", KEY)
    (good, good_reasons), (bad, bad_reasons), empty = screened(
        screen,
        {"deal_id": "D1", "owner_email": "rep@acme.example.com"},
        {"deal_id": "D2", "owner_email": "not an email"},
        {"deal_id": "D3", "owner_email": None},
    )
    assert good_reasons == [] and bad_reasons == [EMAIL_RULE]
    assert good["owner_email"].startswith(HASH_PREFIX) and bad["owner_email"].startswith(HASH_PREFIX)
    assert good["owner_email"] == hash_value(
        tenant_key(KEY[PII_KEY_ENV].encode(), "acme"), "rep@acme.example.com"
    )
    assert good["deal_id"] == "D1", "other columns are untouched"
    assert empty == ({"deal_id": "D3", "owner_email": None}, [])


def test_dropped_columns_land_as_null() -> None:
    screen = pii_screen(DEALS, {"owner_email": "drop"}, "acme", {})
    ((record, reasons),) = screened(screen, {"deal_id": "D1", "owner_email": "not an email"})
    assert record == {"deal_id": "D1", "owner_email": None}
    assert reasons == [EMAIL_RULE], "the format rule still runs on the clear value"


def test_the_warehouse_suite_loses_only_the_rules_run_before_landing() -> None:
    landed = landed_suite(DEALS, {"owner_email": "hash"})
    assert EMAIL_RULE not in landed.reasons
    assert set(DEALS.reasons) - set(landed.reasons) == {EMAIL_RULE}
    assert landed_suite(DEALS, {}) == DEALS


def test_a_rule_that_cannot_see_clear_values_is_a_config_error() -> None:
    suite = parse_suite(
        {
            "name": "s",
            "expectations": [
                {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "email", "value_set": ["x"]},
                }
            ],
        }
    )
    with pytest.raises(PiiConfigError, match=r"expect_column_values_to_be_in_set\(email\) checks PII column"):
        pii_screen(suite, {"email": "hash"}, "acme", KEY)


def test_hashing_without_a_key_fails_before_anything_lands() -> None:
    with pytest.raises(PiiConfigError, match=PII_KEY_ENV):
        pii_screen(DEALS, {"owner_email": "hash"}, "acme", {})
    with pytest.raises(PiiConfigError, match=PII_KEY_ENV):
        pii_screen(DEALS, {"owner_email": "hash"}, "acme", {PII_KEY_ENV: "short"})


@settings(max_examples=300, deadline=None)
@given(value=st.text(min_size=1, max_size=60), tenant=st.sampled_from(["acme", "globex", "t1", "t10"]))
def test_no_clear_value_survives_the_screen(value: str, tenant: str) -> None:
    screen = pii_screen(DEALS, {"owner_email": "hash"}, tenant, KEY)
    ((record, reasons),) = screened(screen, {"owner_email": value})
    assert record["owner_email"] != value and record["owner_email"].startswith(HASH_PREFIX)
    assert set(reasons) <= set(DEALS.reasons), "reasons come from the suite's names, never from a value"
