"""A shard's tenant threads take the GIL in short turns, and the process's setting comes back after."""

from __future__ import annotations

import sys

import pytest

from salestalk.tasks import short_gil_turns


def test_short_turns_inside_and_the_previous_interval_after_even_on_error() -> None:
    before = sys.getswitchinterval()
    with short_gil_turns(0.002):
        assert sys.getswitchinterval() == pytest.approx(0.002)
    assert sys.getswitchinterval() == before
    with pytest.raises(RuntimeError), short_gil_turns():
        assert sys.getswitchinterval() == pytest.approx(0.001)
        raise RuntimeError("a tenant failed")
    assert sys.getswitchinterval() == before
