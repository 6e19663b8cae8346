"""The DuckDB writer lock queue: first come, first served across processes, never blocked by a dead process,
bounded by a timeout that names the holder, and logged. Real processes, real flock, a real DuckDB file.

Nothing here asserts a duration: order and presence only, so a busy 2-core machine cannot flake it.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from salestalk.warehouse.duckdb import DuckDBWarehouse
from salestalk.warehouse.lock import TICKET, FifoLock, WarehouseLockTimeout, lock_times

CTX = multiprocessing.get_context("spawn")  # a fresh interpreter per waiter, as Airflow's task processes are


def _tickets(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(TICKET)) if folder.exists() else []


def _wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _hold_until_released(folder: str, label: str, release: str) -> None:
    """Take the lock and keep it until the file ``release`` exists."""
    with FifoLock(Path(folder), 120).hold(label):
        while not os.path.exists(release):
            time.sleep(0.02)


def _take_and_note(folder: str, label: str, order: str) -> None:
    """Take the lock, append ``label`` to the order file, let go."""
    with FifoLock(Path(folder), 120).hold(label), open(order, "a") as out:
        out.write(label + "\n")


def _start(target, *args) -> multiprocessing.Process:
    process = CTX.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def _queue_in_order(folder: Path, order: Path, labels: list[str]) -> list[multiprocessing.Process]:
    """Start one waiter per label, each only once the previous one holds its ticket: a known arrival order."""
    processes = []
    for label in labels:
        before = len(_tickets(folder))
        processes.append(_start(_take_and_note, str(folder), label, str(order)))
        _wait_for(lambda n=before: len(_tickets(folder)) > n, f"{label} to join the queue")
    return processes


def test_waiters_get_the_lock_in_the_order_they_queued(tmp_path) -> None:
    folder, release, order = tmp_path / "q", tmp_path / "release", tmp_path / "order"
    holder = _start(_hold_until_released, str(folder), "holder", str(release))
    _wait_for(lambda: len(_tickets(folder)) == 1, "the holder's ticket")
    labels = [f"w{n}" for n in range(4)]
    waiters = _queue_in_order(folder, order, labels)
    release.touch()
    for process in [holder, *waiters]:
        process.join(60)
        assert process.exitcode == 0
    assert order.read_text().split() == labels
    assert _tickets(folder) == [], "every ticket is removed when its holder lets go"


def test_a_killed_holder_and_a_killed_waiter_never_block_the_queue(tmp_path) -> None:
    folder, release, order = tmp_path / "q", tmp_path / "release", tmp_path / "order"
    holder = _start(_hold_until_released, str(folder), "holder", str(release))  # release never comes
    _wait_for(lambda: len(_tickets(folder)) == 1, "the holder's ticket")
    stuck_waiter = _start(_hold_until_released, str(folder), "stuck", str(release))
    _wait_for(lambda: len(_tickets(folder)) == 2, "the stuck waiter's ticket")
    waiters = _queue_in_order(folder, order, ["a", "b"])
    os.kill(stuck_waiter.pid, signal.SIGKILL)
    os.kill(holder.pid, signal.SIGKILL)
    for process in waiters:
        process.join(60)
        assert process.exitcode == 0
    assert order.read_text().split() == ["a", "b"]
    assert _tickets(folder) == []


def test_a_timeout_names_the_holder_and_how_long_it_held(tmp_path) -> None:
    folder, release = tmp_path / "q", tmp_path / "release"
    holder = _start(_hold_until_released, str(folder), "validate deals/acme", str(release))
    try:
        _wait_for(lambda: len(_tickets(folder)) == 1, "the holder's ticket")
        _wait_for(lambda: "acquired_at" in (folder / _tickets(folder)[0]).read_text(), "the holder's turn")
        with pytest.raises(WarehouseLockTimeout) as raised, FifoLock(folder, 0.3).hold("publish deals/beta"):
            pytest.fail("the lock was taken while another process held it")
        message = str(raised.value)
        assert "not acquired after" in message
        assert "held by validate deals/acme" in message
        assert f"pid {holder.pid}" in message
        assert " s, 1 ticket(s) ahead" in message
        assert len(_tickets(folder)) == 1, "the timed-out waiter left the queue"
    finally:
        release.touch()
        holder.join(60)
    assert holder.exitcode == 0


def test_a_wait_is_logged_in_one_line_and_summed_for_the_step(tmp_path, caplog) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb")
    folder, release = warehouse.lock.directory, tmp_path / "release"
    holder = _start(_hold_until_released, str(folder), "load_to_staging deals/acme", str(release))
    _wait_for(lambda: len(_tickets(folder)) == 1, "the holder's ticket")
    _start(_touch_later, str(release))
    caplog.set_level(logging.INFO, logger="salestalk.warehouse.lock")
    with lock_times() as times:
        with warehouse.connect(tag={"source": "deals", "tenant": "beta", "step": "validate"}) as s:
            assert s.fetchall("SELECT 42") == [(42,)]
        with warehouse.connect(tag={"source": "deals", "tenant": "beta", "step": "validate"}) as s:
            s.fetchall("SELECT 1")
    holder.join(60)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("warehouse lock:")]
    assert len(lines) == 1, lines  # the second session had nobody ahead and did not wait: DEBUG only
    assert lines[0].startswith("warehouse lock: waited ")
    assert " (1 ahead), held " in lines[0]
    assert lines[0].endswith("by validate deals/beta")
    assert times.sessions == 2
    assert times.wait > 0 and times.held > 0


def _touch_later(path: str) -> None:
    time.sleep(0.5)
    Path(path).touch()


def test_a_nested_session_in_the_same_thread_does_not_queue_behind_itself(tmp_path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)
    other = DuckDBWarehouse(tmp_path / "wh.duckdb", lock_timeout_seconds=5)  # e.g. a reader's own handle
    with warehouse.connect(tag={"step": "outer"}) as outer, other.connect(tag={"step": "inner"}) as inner:
        outer.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert inner.fetchall("SELECT x FROM t") == [(1,)]
    assert _tickets(warehouse.lock.directory) == []


def test_the_ticket_names_who_waits_for_the_timeout_message(tmp_path) -> None:
    lock = FifoLock(tmp_path / "q", 5)
    with lock.hold("publish deals/acme") as ticket:
        info = json.loads(ticket.path.read_text())
    assert (info["pid"], info["label"]) == (os.getpid(), "publish deals/acme")
    assert "acquired_at" in info


def test_threads_of_one_process_queue_like_processes(tmp_path) -> None:
    """A shard's tenants running in threads take turns too: another thread is not a nested session."""
    import threading

    lock = FifoLock(tmp_path / "q", 0.3)
    outcome: list[str] = []

    def other_thread() -> None:
        try:
            with FifoLock(tmp_path / "q", 0.3).hold("publish deals/beta"):
                outcome.append("acquired")
        except WarehouseLockTimeout as exc:
            outcome.append(str(exc))

    with lock.hold("validate deals/acme"):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(60)
    assert len(outcome) == 1 and "held by validate deals/acme" in outcome[0]
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(60)
    assert outcome[1] == "acquired"


def test_only_the_ticket_right_behind_the_holder_is_next_in_line(tmp_path) -> None:
    """The next in line polls often (a short handoff); the ones behind it keep the slow poll."""
    lock = FifoLock(tmp_path / "q", 5)
    holder, second, third = (lock._join(label) for label in ("holder", "second", "third"))
    try:
        assert lock._live_ahead(holder.number) == (None, False)
        assert lock._live_ahead(second.number) == (holder.path, True)
        assert lock._live_ahead(third.number) == (second.path, False)
        lock._leave(holder)
        assert lock._live_ahead(third.number) == (second.path, True)
    finally:
        for ticket in (second, third):
            lock._leave(ticket)
