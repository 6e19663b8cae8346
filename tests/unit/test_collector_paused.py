"""salestalk.dagfactory.collector_paused: the garbage collector is off while DAGs are built and afterwards
exactly as it was, also when the build raises."""

from __future__ import annotations

import gc

import pytest

from salestalk.dagfactory import collector_paused


@pytest.fixture
def restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


@pytest.mark.parametrize("enabled_before", [True, False])
def test_the_collector_is_paused_and_restored(restore_gc, enabled_before) -> None:
    (gc.enable if enabled_before else gc.disable)()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled() is enabled_before


def test_the_collector_is_restored_when_the_build_raises(restore_gc) -> None:
    gc.enable()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a broken build")
    assert gc.isenabled()
