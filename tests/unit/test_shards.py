"""Tenant shards (salestalk.shards): how a run's tenants are cut, named and planned per step."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salestalk.names import EXTRACT, LOAD, PUBLISH, STEPS
from salestalk.shards import (
    AUTO_MAX_SHARDS,
    AUTO_MIN_SHARDS,
    AUTO_ONE_PER_TASK,
    AUTO_SHARD_TENANTS,
    as_shards,
    make_shards,
    plan_step,
    run_tenants,
    shard_label,
    shard_size,
)
from tests.support.sources import a_source

tenant_lists = st.lists(st.from_regex(r"t[0-9]{3}", fullmatch=True), unique=True, max_size=400)


@given(tenant_lists, st.one_of(st.none(), st.integers(1, 50)))
def test_shards_keep_every_tenant_once_in_order(tenants: list[str], configured: int | None) -> None:
    size = shard_size(configured, len(tenants))
    shards = make_shards(tenants, size)
    assert run_tenants(shards) == tenants
    assert all(1 <= len(s) <= size for s in shards)
    if configured is None:
        assert len(shards) <= AUTO_MAX_SHARDS
        if len(tenants) <= AUTO_ONE_PER_TASK:
            assert size == 1  # few tenants: one per task, as before shards
        else:
            assert len(shards) >= min(AUTO_MIN_SHARDS, len(tenants))
            assert size <= AUTO_SHARD_TENANTS or len(shards) == AUTO_MAX_SHARDS


def test_auto_size_at_the_issues_scale() -> None:
    assert [shard_size(None, n) for n in (3, 12, 13, 30, 75, 100, 300, 1000)] == [1, 1, 4, 8, 19, 25, 25, 84]
    assert len(make_shards([f"t{i:03d}" for i in range(300)], 25)) == 12
    assert shard_size(7, 3) == 7
    with pytest.raises(ValueError, match="at least one tenant"):
        make_shards(["a"], 0)


def test_labels_name_small_shards_in_full_and_large_ones_by_their_ends() -> None:
    assert shard_label(["acme"]) == "acme"
    assert shard_label(["acme", "globex", "initech"]) == "acme, globex, initech"
    assert shard_label([f"t{i:03d}" for i in range(1, 26)]) == "t001 … t025 (25 tenants)"


def test_runs_from_before_shards_read_as_shards_of_one() -> None:
    assert as_shards(["acme", "globex"]) == [["acme"], ["globex"]]
    assert run_tenants([["a", "b"], ["c"]]) == ["a", "b", "c"]
    assert as_shards(None) == []


def test_a_step_takes_the_tenants_whose_previous_step_finished_in_this_run() -> None:
    finished = {
        "a": {EXTRACT: {"landed": 3}, LOAD: {"staged": 3}},  # load done: skipped, its counts kept
        "b": {EXTRACT: {"landed": 2}},  # ready for load
        # "c": extract failed or never ran in this run: blocked
    }
    plan = plan_step(LOAD, ["a", "b", "c"], finished)
    assert plan.todo == ["b"] and plan.done == {"a": {"staged": 3}} and plan.blocked == ["c"]
    first = plan_step(EXTRACT, ["a", "b", "c"], finished)
    assert first.todo == ["c"] and set(first.done) == {"a", "b"} and first.blocked == []


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), st.sets(st.sampled_from(STEPS))))
def test_every_tenant_is_in_exactly_one_part_of_a_plan(done_steps: dict[str, set[str]]) -> None:
    finished = {t: {s: {} for s in steps} for t, steps in done_steps.items()}
    for step in STEPS:
        plan = plan_step(step, ["a", "b", "c", "d"], finished)
        parts = [set(plan.todo), set(plan.done), set(plan.blocked)]
        assert set().union(*parts) == {"a", "b", "c", "d"} and sum(len(p) for p in parts) == 4
        assert all(step not in done_steps.get(t, set()) for t in plan.todo)
    assert plan_step(PUBLISH, ["a"], {}).blocked == ["a"]


def test_the_shard_table_gives_each_tenant_one_line_with_its_outcome() -> None:
    from salestalk.steplog import shard_table

    plan = plan_step(
        LOAD, ["a", "b", "c", "d"], {"a": {EXTRACT: {}, LOAD: {"staged": 3}}, "b": {EXTRACT: {}}}
    )
    plan.todo.append("d")  # as if extract had finished for d too
    table = shard_table(
        LOAD, ["a", "b", "c", "d"], plan, {"b": {"staged": 1200}}, {"d": OSError("disk\nfull")}
    )
    lines = table.splitlines()
    assert lines[0] == f"{LOAD} for 4 tenant(s): 1 done, 1 failed, 1 already done, 1 waiting on upstream"
    assert lines[1].split() == [
        "a",
        "already",
        "done",
        "finished",
        "earlier",
        "in",
        "this",
        "run;",
        "not",
        "redone",
    ]
    assert lines[2].split()[:5] == ["b", "done", "rows", "staged", "1,200"]
    assert "waiting on upstream" in lines[3] and lines[3].split()[0] == "c"
    assert lines[4].split()[:4] == ["d", "failed", "OSError:", "disk"] and "full" not in lines[4]
    assert "redoes only those" in lines[5]


def test_finished_steps_are_kept_per_run_on_both_warehouses(warehouse) -> None:
    """audit.step_runs (salestalk.warehouse.tables): what each tenant finished in which run, replaced by a
    later run's row for the same interval and step, never read across runs."""
    import datetime as dt

    from salestalk.warehouse import tables

    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with warehouse.connect() as s:
        assert tables.finished_steps(s, "deals", start, "run-1", ["a", "b"]) == {}  # no table yet
        tables.record_finished(s, "deals", start, "run-1", EXTRACT, {"a": {"landed": 3}, "b": {"landed": 0}})
        tables.record_finished(s, "deals", start, "run-1", LOAD, {"a": {"staged": 3}})
        tables.record_finished(s, "calls", start, "run-1", LOAD, {"b": {"staged": 9}})  # another source
        assert tables.finished_steps(s, "deals", start, "run-1", ["a", "b", "c"]) == {
            "a": {EXTRACT: {"landed": 3}, LOAD: {"staged": 3}},
            "b": {EXTRACT: {"landed": 0}},
        }
        tables.record_finished(s, "deals", start, "run-2", EXTRACT, {"a": {"landed": 4}})
        assert tables.finished_steps(s, "deals", start, "run-2", ["a", "b"]) == {
            "a": {EXTRACT: {"landed": 4}}
        }
        assert tables.finished_steps(s, "deals", start, "run-1", ["a"]) == {"a": {LOAD: {"staged": 3}}}
        assert tables.finished_steps(s, "deals", start + dt.timedelta(days=1), "run-1", ["a"]) == {}
        rows = s.fetchall("SELECT COUNT(*) FROM audit.step_runs WHERE source = 'deals' AND tenant = 'a'")
        assert rows[0][0] == 2, "one row per tenant, interval and step"


def test_a_shard_s_deferred_results_are_recorded_together_on_both_warehouses(warehouse) -> None:
    """Inside ``deferred_results`` a step's result waits for the shard's one recording session; outside it
    is written at once. Recording again replaces a batch's result, never adds a second."""
    import datetime as dt

    from salestalk.batch import Batch
    from salestalk.names import VALIDATE
    from salestalk.warehouse import tables

    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    source = a_source()
    a, b = (Batch(source.name, t, start, end, "run-1") for t in ("a", "b"))
    with warehouse.connect() as s:
        tables.ensure_tables(s, source)
    with tables.deferred_results() as pending:
        tables.save_result(warehouse, a, VALIDATE, {"failing": 1})
        tables.save_result(warehouse, b, VALIDATE, {"failing": 0})
    assert tables.batch_results(warehouse, source.name, start) == {}, "nothing written inside the block"
    assert [(p[0].tenant, p[1], p[2]) for p in pending] == [
        ("a", VALIDATE, {"failing": 1}),
        ("b", VALIDATE, {"failing": 0}),
    ]
    with warehouse.connect() as s:
        tables.record_results(s, pending)
        tables.record_results(s, pending)
    assert tables.batch_results(warehouse, source.name, start) == {
        "a": {VALIDATE: {"failing": 1}},
        "b": {VALIDATE: {"failing": 0}},
    }
    tables.save_result(warehouse, a, VALIDATE, {"failing": 2})  # no block: its own session
    assert tables.batch_results(warehouse, source.name, start)["a"] == {VALIDATE: {"failing": 2}}
    with warehouse.connect() as s:
        rows = s.fetchall("SELECT COUNT(*) FROM audit.batch_results WHERE tenant = 'a'")
    assert rows[0][0] == 1, "one result per batch and step"
