"""Property tests: adversarial tenant and item ids are refused before any I/O; valid ones stay in their pk."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salestalk.storage.tenant_dynamodb import (
    MAX_ITEM_ID_BYTES,
    InvalidItemId,
    build_item_key,
    partition_key,
    validate_item_id,
)
from salestalk.tenancy import TENANT_ID_PATTERN, InvalidTenantId, validate_tenant_id
from tests.support.aws_faults import RequestRecorder
from tests.support.dynamo_env import DynamoEnv


def fast(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


NASTY_PIECES = [
    "#",
    "/",
    "\\",
    "..",
    "%2F",
    "\x00",
    "\n",
    "\x7f",
    "\u0085",
    "TENANT#",
    "t1#",
    "#deals#",
    "e\u0301",
    "\u212b",
    "\ufeff",
    "\u202e",
    "Ａ",
    "🙂",
    " ",
]

nasty_text = st.lists(
    st.one_of(st.sampled_from(NASTY_PIECES), st.text(max_size=8), st.text(alphabet="t1-0", max_size=6)),
    max_size=6,
).map("".join)
long_text = st.integers(min_value=MAX_ITEM_ID_BYTES - 4, max_value=MAX_ITEM_ID_BYTES + 40).map(
    lambda n: "é" * (n // 2)
)
adversarial = st.one_of(nasty_text, long_text, st.text(max_size=40), st.integers(), st.none(), st.booleans())
valid_tenant = st.from_regex(TENANT_ID_PATTERN, fullmatch=True).filter(lambda t: "--" not in t)


def is_valid_tenant(candidate: object) -> bool:
    try:
        validate_tenant_id(candidate)
    except InvalidTenantId:
        return False
    return True


def expected_item_id_validity(candidate: object) -> bool:
    """The rules, restated independently of the implementation."""
    if isinstance(candidate, bool) or not isinstance(candidate, str | int):
        return False
    text = str(candidate)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return (
        0 < len(encoded) <= MAX_ITEM_ID_BYTES
        and not any(unicodedata.category(ch) == "Cc" for ch in text)
        and unicodedata.normalize("NFC", text) == text
    )


@fast(100)
@given(candidates=st.lists(st.one_of(adversarial, valid_tenant), min_size=10, max_size=30))
def test_adversarial_tenant_ids_are_refused_before_any_request(moto_server, candidates: list) -> None:
    env = shared_env(moto_server)
    recorder = RequestRecorder(env.dynamodb).attach()
    try:
        for candidate in candidates:
            if is_valid_tenant(candidate):
                key = build_item_key(candidate, "deals", "x")
                assert key["pk"] == f"TENANT#{candidate}#deals#"
                continue
            try:
                env.writer(candidate, dead_letter=env.dead_letters("t1"))
            except InvalidTenantId:
                pass
            else:
                raise AssertionError(f"tenant id {candidate!r} was accepted")
        assert recorder.count() == 0
    finally:
        recorder.detach()


@fast(150)
@given(tenant=valid_tenant, candidates=st.lists(adversarial, min_size=10, max_size=30))
def test_item_ids_are_valid_exactly_when_the_rules_say_and_keys_stay_in_their_pk(tenant, candidates) -> None:
    pk = partition_key(tenant, "deals")
    for candidate in candidates:
        if expected_item_id_validity(candidate):
            key = build_item_key(tenant, "deals", candidate)
            assert key == {"pk": pk, "sk": str(candidate)}
        else:
            try:
                validate_item_id(candidate)
            except InvalidItemId:
                pass
            else:
                raise AssertionError(f"item id {candidate!r} was accepted")


@fast(25)
@given(
    candidates=st.lists(
        adversarial.filter(lambda c: not expected_item_id_validity(c)), min_size=1, max_size=5
    )
)
def test_invalid_item_ids_never_reach_dynamodb(moto_server, candidates: list) -> None:
    env = shared_env(moto_server)
    writer = env.writer("t1")
    recorder = RequestRecorder(env.dynamodb).attach()
    try:
        counts = writer.put_once([{"dealId": c} for c in candidates], "dealId")
    finally:
        recorder.detach()
    assert (counts.attempted, counts.dead_lettered, counts.written) == (len(candidates), len(candidates), 0)
    assert recorder.count() == 0


tenant_family = valid_tenant.filter(lambda t: len(t) <= 30).map(lambda t: [t, t + "0", t + "-1"])
printable = st.text(alphabet=st.characters(exclude_categories=["Cc", "Cs"]), max_size=8)
valid_item_ids = (
    st.one_of(
        st.lists(st.one_of(st.sampled_from(NASTY_PIECES), printable), min_size=1, max_size=6).map("".join),
        st.integers().map(str),
        st.just("é" * (MAX_ITEM_ID_BYTES // 2)),
    )
    .map(lambda text: unicodedata.normalize("NFC", text))
    .filter(expected_item_id_validity)
)


@fast(30)
@given(tenants=tenant_family, item_ids=st.lists(valid_item_ids, min_size=1, max_size=8, unique=True))
def test_valid_ids_land_only_under_their_own_tenants_pk(
    moto_server, tenants: list[str], item_ids: list[str]
) -> None:
    env = DynamoEnv(moto_server)  # a fresh table per example
    for tenant in tenants:
        items = [{"itemId": item_id, "tenantId": tenant, "owner": tenant} for item_id in item_ids]
        counts = env.writer(tenant).batch_put(items, "itemId")
        assert counts.written == len(item_ids)

    assert env.keys_by_partition() == {partition_key(t, "deals"): sorted(item_ids) for t in tenants}
    for tenant in tenants:
        assert {item["owner"] for item in env.writer(tenant).query("deals")} == {tenant}


_shared: dict[int, DynamoEnv] = {}


def shared_env(moto_server) -> DynamoEnv:
    """One table and bucket for all examples of the tests that must not write to DynamoDB."""
    if id(moto_server) not in _shared:
        _shared[id(moto_server)] = DynamoEnv(moto_server)
    return _shared[id(moto_server)]
