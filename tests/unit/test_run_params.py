"""Trigger params of a source DAG: the tenants a run processes and the interval it covers."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salestalk.run_params import (
    RunParamsError,
    param_specs,
    run_interval,
    schedule_interval,
    selected_tenants,
)


@pytest.fixture(scope="module")
def sources():
    from salestalk.config.loader import load_sources

    return list(load_sources().configs.values())


def test_defaults_are_every_tenant_and_the_runs_own_interval(sources) -> None:
    start, end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    for source in sources:
        specs = param_specs(source)
        assert specs["tenants"]["default"] == list(source.tenants)
        assert specs["tenants"]["examples"] == list(source.tenants) and "items" not in specs["tenants"]
        assert selected_tenants(source, {}) == selected_tenants(source, None) == list(source.tenants)
        context = {"params": {"interval_start": None}, "data_interval_start": start, "data_interval_end": end}
        assert run_interval(source, context) == (start, end)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_a_subset_keeps_config_order(sources, data) -> None:
    source = data.draw(st.sampled_from(sources))
    subset = data.draw(st.lists(st.sampled_from(list(source.tenants)), min_size=1, unique=True))
    chosen = selected_tenants(source, {"tenants": subset})
    assert set(chosen) == set(subset) and chosen == [t for t in source.tenants if t in subset]


def test_an_unknown_tenant_names_the_valid_ones(sources) -> None:
    source = sources[0]
    with pytest.raises(RunParamsError, match=f"valid: {', '.join(source.tenants)}"):
        selected_tenants(source, {"tenants": [*source.tenants[:1], "not-a-tenant"]})


def test_an_interval_start_on_the_grid_gives_that_interval(sources) -> None:
    for source in sources:
        start, end = run_interval(source, {"params": {"interval_start": "2026-11-01T00:00:00Z"}})
        assert start == dt.datetime(2026, 11, 1, tzinfo=dt.UTC) and end > start
        assert schedule_interval(source, "2026-11-01T00:00:00") == (start, end)  # no offset: UTC
        assert schedule_interval(source, end)[0] == end  # intervals tile


def test_an_off_grid_or_garbled_start_is_refused_with_the_nearest(sources) -> None:
    source = sources[0]
    start, end = schedule_interval(source, "2026-11-01T00:00:00Z")
    with pytest.raises(RunParamsError, match="nearest"):
        schedule_interval(source, start + (end - start) / 2)
    with pytest.raises(RunParamsError, match="ISO 8601"):
        schedule_interval(source, "yesterday")
