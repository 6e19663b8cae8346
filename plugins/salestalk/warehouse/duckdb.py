"""The embedded warehouse: one DuckDB file. Each session attaches the file for its statements only, and
processes take turns in a first-come-first-served queue (:mod:`.lock`): never around S3 or GX work."""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salestalk.warehouse.base import LocalParts, lock_label
from salestalk.warehouse.dialect import DUCKDB, is_identifier, string_literal
from salestalk.warehouse.lock import FifoLock

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    import pandas as pd

    from salestalk.config.models import SourceConfig

MEMORY_LIMIT = re.compile(r"[0-9]{1,6}(\.[0-9]+)?(KB|MB|GB|KiB|MiB|GiB)")

_engine_lock = threading.Lock()
_engine: tuple[int, Any] | None = None  # (pid, in-memory DuckDB); a forked child makes its own
_attached: dict[str, list[Any]] = {}  # file -> [catalog, open sessions (more than one only when nested)]


def engine() -> Any:
    """This process's DuckDB instance. Sessions attach the warehouse file to it, which costs about 1 ms where a
    new ``duckdb.connect(file)`` costs 12 ms or more (a new instance each time), all of it inside the lock."""
    global _engine
    import duckdb

    with _engine_lock:
        if _engine is None or _engine[0] != os.getpid():
            _engine = (os.getpid(), duckdb.connect(":memory:"))
            _attached.clear()
        return _engine[1]


class DuckDBSession:
    dialect = DUCKDB

    def __init__(self, con: Any) -> None:
        self.con = con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.con.execute(sql, list(params) if params else None)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.con.execute(sql, list(params) if params else None).fetchall()

    def frame(self, sql: str) -> pd.DataFrame:
        return self.con.sql(sql).df()


class DuckDBWarehouse:
    dialect = DUCKDB

    def __init__(self, path: Path, lock_timeout_seconds: float = 300.0, memory_limit: str = "512MB") -> None:
        if not MEMORY_LIMIT.fullmatch(memory_limit):
            raise ValueError(f"DuckDB memory limit {memory_limit!r} must look like 512MB or 2GB")
        self.path = path
        self.location = str(path)
        self.lock_timeout_seconds = lock_timeout_seconds
        self.memory_limit = memory_limit
        self.file = os.path.realpath(path)
        self._lock: FifoLock | None = None

    @contextmanager
    def connect(self, *, tag: dict[str, str] | None = None) -> Generator[DuckDBSession, None, None]:
        """A session, after this process's turn in the lock queue (first come, first served; see .lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock.hold(lock_label(tag)) as ticket:
            # our turn: the file is free unless something outside the queue holds it (a CLI, an old build)
            remaining = self.lock_timeout_seconds - (ticket.waited if ticket else 0.0)
            deadline = time.monotonic() + max(remaining, 0.0)
            con = engine().cursor()
            try:
                catalog = self._attach(con, deadline)
            except BaseException:
                con.close()
                raise
            try:
                con.execute(f"USE {DUCKDB.ident(catalog)}")
                con.execute("SET TimeZone = 'UTC'")
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
                con.execute("SET temp_directory = ?", [str(self.path) + ".tmp"])
                con.execute("SET preserve_insertion_order = false")
                yield DuckDBSession(con)
            finally:
                con.close()  # rolls back an unfinished transaction, drops the temporary tables
                self._detach()

    def _attach(self, con: Any, deadline: float) -> str:
        """Attach the file as its own name (its stem, as when opened on its own), unless nested in a session
        that already has; the stem gets a suffix only while another file of that name is attached here."""
        import duckdb

        with _engine_lock:
            held = _attached.get(self.file)
            if held:
                held[1] += 1
                return held[0]
            taken = {"memory", "temp", "system", *(catalog for catalog, _ in _attached.values())}
            stem = self.path.stem if is_identifier(self.path.stem) else "warehouse"
            catalog = next(
                c for n in range(1, 10_000) if (c := stem if n == 1 else f"{stem}_{n}") not in taken
            )
            _attached[self.file] = [catalog, 1]
        delay = 0.05
        try:
            while True:
                try:
                    con.execute(f"ATTACH {string_literal(self.file)} AS {DUCKDB.ident(catalog)}")
                    return catalog
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
        except BaseException:
            with _engine_lock:
                del _attached[self.file]
            raise

    def _detach(self) -> None:
        """Write the file back and let it go, so the next process in the queue can attach it (after the
        outermost of nested sessions)."""
        with _engine_lock:
            held = _attached[self.file]
            held[1] -= 1
            if held[1]:
                return
            del _attached[self.file]
        con = engine().cursor()
        try:
            con.execute(f"DETACH DATABASE IF EXISTS {DUCKDB.ident(held[0])}")
        finally:
            con.close()

    @property
    def lock(self) -> FifoLock:
        """The queue for this database file, shared by every process and thread on the machine."""
        if self._lock is None or self._lock.timeout_seconds != self.lock_timeout_seconds:
            folder = self.path.parent / f".{self.path.name}.lock"
            self._lock = FifoLock(folder, self.lock_timeout_seconds)
        return self._lock

    @contextmanager
    def fetch_parts(
        self, source: SourceConfig, load_id: str, keys: list[str], read: Callable[[str], bytes]
    ) -> Generator[LocalParts, None, None]:
        """The parts, downloaded one at a time next to the database file (no session, no lock); removed after."""
        folder = self.path.parent / f".{self.path.name}.parts" / load_id
        folder.mkdir(parents=True, exist_ok=True)
        try:
            files = []
            for number, key in enumerate(keys):
                local = folder / f"part-{number:05d}.parquet"
                local.write_bytes(read(key))
                files.append(local)
            yield LocalParts(load_id, list(keys), files)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def stage_parts(self, session: DuckDBSession, source: SourceConfig, parts: LocalParts) -> str:
        """The downloaded parts as one ``read_parquet`` relation (an empty raw table when there are none)."""
        from salestalk.warehouse.tables import raw_columns

        if not parts.files:
            relation = DUCKDB.ident(f"raw_{parts.load_id}")
            session.execute(f"CREATE TEMPORARY TABLE {relation} ({', '.join(raw_columns(DUCKDB, source))})")
            return relation
        listed = ", ".join(string_literal(f.as_posix()) for f in parts.files)
        return f"read_parquet([{listed}])"

    def drop_staged(self, session: DuckDBSession, relation: str) -> None:
        if not relation.startswith("read_parquet("):  # the files go with fetch_parts
            session.execute(f"DROP TABLE IF EXISTS {relation}")
