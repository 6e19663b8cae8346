"""A fair, bounded and reported writer lock for the embedded DuckDB file: first come, first served across
processes.

The queue is a folder next to the database. Each waiter takes the next ticket number (under a short
``flock`` on ``queue.lock``) and holds an ``flock`` on its own ticket file for as long as it waits and
holds. A ticket's turn comes when no live ticket with a lower number is left. A ticket whose file is no
longer locked belongs to a process that died: the next waiter removes it, so a killed waiter or holder
never blocks the queue. A wait longer than the timeout raises :class:`WarehouseLockTimeout`, naming
who holds the lock and for how long.

Every acquisition that waited logs one line for the on-call reader when it is released, e.g.
``warehouse lock: waited 12.3 s (4 ahead), held 0.8 s by validate deals/acme``. :func:`lock_times` sums a
step's wait and hold seconds (see ``lock_wait_seconds`` and ``lock_held_seconds`` in the step results).
"""

from __future__ import annotations

import contextvars
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Generator

log = logging.getLogger(__name__)

TICKET = "ticket-"
QUEUE_LOCK = "queue.lock"
POLL_SECONDS = 0.05
NEXT_IN_LINE_POLL_SECONDS = 0.005  # the head of the queue looks often: each handoff waits at most this
LOG_WAIT_SECONDS = 1.0  # an acquisition with nobody ahead logs at INFO only if it waited this long


class WarehouseLockTimeout(TimeoutError):
    """The warehouse lock was not ours within the timeout."""


@dataclass
class LockTimes:
    """Seconds spent waiting for and holding the warehouse lock, summed over sessions."""

    wait: float = 0.0
    held: float = 0.0
    sessions: int = 0
    _since: float | None = None  # when the open session got the lock

    def acquired(self, wait: float, at: float) -> None:
        self.wait += wait
        self.sessions += 1
        self._since = at

    def released(self, at: float) -> None:
        if self._since is not None:
            self.held += at - self._since
            self._since = None

    def fields(self) -> dict[str, float]:
        """``lock_wait_seconds`` and ``lock_held_seconds`` so far, the open session's hold up to now included."""
        held = self.held + (time.monotonic() - self._since if self._since is not None else 0.0)
        return {"lock_wait_seconds": round(self.wait, 3), "lock_held_seconds": round(held, 3)}


_ledgers: contextvars.ContextVar[tuple[LockTimes, ...]] = contextvars.ContextVar("lock_ledgers", default=())


@contextmanager
def lock_times() -> Generator[LockTimes, None, None]:
    """Sum the wait and hold seconds of every warehouse session opened inside the block (this thread)."""
    times = LockTimes()
    token = _ledgers.set((*_ledgers.get(), times))
    try:
        yield times
    finally:
        _ledgers.reset(token)


def lock_fields() -> dict[str, float]:
    """The innermost :func:`lock_times` block's seconds so far (for a result recorded inside a session), or {}."""
    ledgers = _ledgers.get()
    return ledgers[-1].fields() if ledgers else {}


@dataclass
class Ticket:
    number: int
    path: Path
    fd: int
    ahead: int  # tickets ahead when it joined the queue
    waited: float = 0.0


_threads = threading.local()


def _held_here() -> dict[str, int]:
    """Per thread: lock folder -> how many sessions of this thread hold it (nested ones do not queue)."""
    if not hasattr(_threads, "held"):
        _threads.held = {}
    return _threads.held


def _number(name: str) -> int | None:
    if not name.startswith(TICKET):
        return None
    try:
        return int(name[len(TICKET) :].split("-", 1)[0])
    except ValueError:
        return None


def _describe(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


class FifoLock:
    """First-come-first-served lock on ``directory`` shared by processes and threads on one machine.

    Re-entrant per thread: a session opened inside another session of the same thread does not queue.
    """

    def __init__(
        self, directory: Path, timeout_seconds: float, *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.directory = directory
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds

    @contextmanager
    def hold(self, label: str) -> Generator[Ticket | None, None, None]:
        """Wait for our turn (at most the timeout), hold the lock for the block, log and record the times."""
        mine = _held_here()
        key = str(self.directory.resolve())
        if mine.get(key):  # this thread already holds it (through any FifoLock on the same folder)
            mine[key] += 1
            try:
                yield None
            finally:
                mine[key] -= 1
            return
        started = time.monotonic()
        ticket = self._join(label)
        try:
            self._wait_turn(ticket, started)
            acquired = time.monotonic()
            ticket.waited = acquired - started
            self._write(ticket, {"pid": os.getpid(), "label": label, "acquired_at": time.time()})
            ledgers = _ledgers.get()
            for times in ledgers:
                times.acquired(ticket.waited, acquired)
            mine[key] = 1
            try:
                yield ticket
            finally:
                mine[key] = 0
                released = time.monotonic()
                held = released - acquired
                for times in ledgers:
                    times.released(released)
                level = logging.INFO if ticket.ahead or ticket.waited >= LOG_WAIT_SECONDS else logging.DEBUG
                log.log(
                    level,
                    "warehouse lock: waited %.1f s (%d ahead), held %.1f s by %s",
                    ticket.waited,
                    ticket.ahead,
                    held,
                    label,
                )
        finally:
            self._leave(ticket)

    def _join(self, label: str) -> Ticket:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / QUEUE_LOCK, "a+b") as queue:
            fcntl.flock(queue, fcntl.LOCK_EX)
            numbers = []
            for name in os.listdir(self.directory):
                if name.startswith(".new-"):  # only a holder of queue.lock makes these: a dead one's leftover
                    (self.directory / name).unlink(missing_ok=True)
                elif (n := _number(name)) is not None:
                    numbers.append(n)
            number = max(numbers, default=0) + 1
            fresh = self.directory / f".new-{uuid.uuid4().hex}"
            fd = os.open(fresh, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            ticket = Ticket(number, self.directory / f"{TICKET}{number:012d}-{os.getpid()}", fd, len(numbers))
            self._write(ticket, {"pid": os.getpid(), "label": label, "queued_at": time.time()})
            os.rename(fresh, ticket.path)  # visible only once locked, so never mistaken for a dead one
        return ticket

    def _wait_turn(self, ticket: Ticket, started: float) -> None:
        deadline = started + self.timeout_seconds
        # The next in line watches the holder alone (one flock probe per poll); the others list the queue
        # each poll, so they notice at once when they move up to next in line.
        nearest: Path | None = None
        next_in_line = False
        while True:
            if nearest is None or not next_in_line or not self._alive(nearest):
                nearest, next_in_line = self._live_ahead(ticket.number)
                if nearest is None:
                    return
            if time.monotonic() >= deadline:
                raise WarehouseLockTimeout(self._timeout_message(ticket, time.monotonic() - started))
            time.sleep(
                min(self.poll_seconds, NEXT_IN_LINE_POLL_SECONDS) if next_in_line else self.poll_seconds
            )

    def _tickets_ahead(self, number: int) -> list[tuple[int, Path]]:
        found = []
        for name in os.listdir(self.directory):
            n = _number(name)
            if n is not None and n < number:
                found.append((n, self.directory / name))
        return sorted(found)

    def _live_ahead(self, number: int) -> tuple[Path | None, bool]:
        """The nearest live ticket ahead of ``number`` (dead ones are removed), or None when it is our turn;
        and whether it is the first in the queue (then ours is next)."""
        ahead = self._tickets_ahead(number)
        for _, path in reversed(ahead):
            if self._alive(path):
                return path, path == ahead[0][1]
        return None, False

    @staticmethod
    def _alive(path: Path) -> bool:
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        else:  # nobody holds it: its process died between joining and leaving
            log.warning("warehouse lock: removed the ticket of a process that died (%s)", path.name)
            path.unlink(missing_ok=True)
            return False
        finally:
            os.close(fd)

    def _timeout_message(self, ticket: Ticket, waited: float) -> str:
        live = [path for _, path in self._tickets_ahead(ticket.number) if self._alive(path)]
        message = f"warehouse lock on {self.directory} not acquired after {waited:.1f} s"
        if not live:
            return message
        holder = _describe(live[0])
        since = holder.get("acquired_at")
        held = f"for {time.time() - since:.1f} s" if since else "(still starting)"
        return (
            f"{message}: held by {holder.get('label', '?')} (pid {holder.get('pid', '?')}) {held}, "
            f"{len(live)} ticket(s) ahead of ours. Raise lock_timeout_seconds or look at that task's log."
        )

    @staticmethod
    def _write(ticket: Ticket, info: dict) -> None:
        body = json.dumps(info).encode()
        os.ftruncate(ticket.fd, 0)
        os.pwrite(ticket.fd, body, 0)

    @staticmethod
    def _leave(ticket: Ticket) -> None:
        ticket.path.unlink(missing_ok=True)
        os.close(ticket.fd)
