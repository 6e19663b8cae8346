"""Generated tenants (t001..) for scale runs: served only when SALESTALK_FAKEAPI_TENANTS asks, each with the
rows of the demo tenant it is modelled on, and the file/event seeds accept them too."""

from __future__ import annotations

import pytest

from dev.fakeapi import events_seed, seed
from dev.fakeapi.app import GENERATED_TENANTS_ENV, FakeSourceApi

WINDOW = {"updated_since": ["2026-11-01T00:00:00Z"], "updated_before": ["2026-11-02T00:00:00Z"]}


def _served(api: FakeSourceApi, tenant: str) -> tuple[int, int]:
    """(status, total rows of one demo day) for ``tenant``'s deals, paging through every page."""
    query = {**WINDOW, "page_size": ["1000"]}
    api.set_clock("2026-11-10T00:00:00Z")
    rows, cursor = 0, None
    while True:
        response = api.handle(
            "GET", f"/v1/tenants/{tenant}/deals", {**query, **({"cursor": [cursor]} if cursor else {})}, None
        )
        if response.status != 200:
            return response.status, rows
        body = response.json()
        rows += len(body["data"])
        cursor = body["next_cursor"]
        if cursor is None:
            return 200, rows


def test_generated_tenants_are_served_only_when_asked(monkeypatch) -> None:
    monkeypatch.delenv(GENERATED_TENANTS_ENV, raising=False)
    assert _served(FakeSourceApi(rate_limit=None), "t001")[0] == 404
    monkeypatch.setenv(GENERATED_TENANTS_ENV, "4")
    api = FakeSourceApi(rate_limit=None)
    assert api.tenants[-4:] == ("t001", "t002", "t003", "t004")
    assert _served(api, "t005")[0] == 404


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_a_generated_tenant_has_its_models_sizes(monkeypatch, number: int) -> None:
    monkeypatch.setenv(GENERATED_TENANTS_ENV, "4")
    tenant = f"t{number:03d}"
    model = seed.DEMO_TENANTS[(number - 1) % len(seed.DEMO_TENANTS)]
    assert seed.daily_size("deals", tenant) == seed.daily_size("deals", model)
    status, rows = _served(FakeSourceApi(rate_limit=None), tenant)
    _, model_rows = _served(FakeSourceApi(rate_limit=None), model)
    assert status == 200
    assert rows == model_rows > 0
    assert events_seed.expected_counts(tenant, "2026-11-01") == events_seed.expected_counts(
        model, "2026-11-01"
    )
    assert len(seed.product_usage_rows(tenant, "2026-11-01")) == len(
        seed.product_usage_rows(model, "2026-11-01")
    )


@pytest.mark.parametrize("tenant", ["t1", "t0001", "x001", "acme2"])
def test_other_tenants_are_still_refused(tenant: str) -> None:
    assert not seed.is_seeded_tenant(tenant)
    with pytest.raises(ValueError, match="unknown tenant"):
        seed.daily_size("deals", tenant)
