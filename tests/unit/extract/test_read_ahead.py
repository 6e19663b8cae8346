"""The reader thread keeps order, stays at most one item ahead, and hands its errors to the consumer."""

from __future__ import annotations

import threading

import pytest

from salestalk.extract import read_ahead


def test_items_arrive_in_order_and_produced_at_most_depth_ahead() -> None:
    produced: list[int] = []
    consumed: list[int] = []
    gaps: list[int] = []

    def items():
        for n in range(50):
            produced.append(n)
            yield n

    for item in read_ahead(items(), depth=1):
        gaps.append(len(produced) - len(consumed))
        consumed.append(item)
    assert consumed == list(range(50))
    assert max(gaps) <= 3, "one queued, one being put, one being made: memory stays bounded"


def test_the_readers_error_is_raised_in_the_consumer_after_the_items_before_it() -> None:
    def items():
        yield 1
        yield 2
        raise ValueError("page 3 failed")

    seen = []
    with pytest.raises(ValueError, match="page 3 failed"):
        for item in read_ahead(items()):
            seen.append(item)
    assert seen == [1, 2]


def test_a_consumer_that_stops_early_stops_the_reader() -> None:
    release = threading.Event()

    def items():
        yield from range(1000)
        release.set()

    for item in read_ahead(items()):
        if item == 3:
            break
    assert not release.is_set(), "the reader did not run on to the end"
    assert not any(t.name == "extract-read-ahead" and t.is_alive() for t in threading.enumerate())
