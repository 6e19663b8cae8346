"""The embedded warehouse: one DuckDB file. Each session is a short connection, and processes take turns in a
first-come-first-served queue (:mod:`.lock`): open a session for statements only, never around S3 or GX work."""

from __future__ import annotations

import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salestalk.warehouse.base import LocalParts, lock_label
from salestalk.warehouse.dialect import DUCKDB
from salestalk.warehouse.lock import FifoLock

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    import pandas as pd

    from salestalk.config.models import SourceConfig

MEMORY_LIMIT = re.compile(r"[0-9]{1,6}(\.[0-9]+)?(KB|MB|GB|KiB|MiB|GiB)")


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
        self._lock: FifoLock | None = None

    @contextmanager
    def connect(self, *, tag: dict[str, str] | None = None) -> Generator[DuckDBSession, None, None]:
        """A session, after this process's turn in the lock queue (first come, first served; see .lock)."""
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock.hold(lock_label(tag)) as ticket:
            # our turn: the file is free unless something outside the queue holds it (a CLI, an old build)
            remaining = self.lock_timeout_seconds - (ticket.waited if ticket else 0.0)
            deadline = time.monotonic() + max(remaining, 0.0)
            delay = 0.05
            while True:
                try:
                    con = duckdb.connect(str(self.path))
                    break
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                        raise
                    time.sleep(delay)
                    delay = min(delay * 2, 1.0)
            try:
                con.execute("SET TimeZone = 'UTC'")
                con.execute(f"SET memory_limit = '{self.memory_limit}'")
                con.execute("SET temp_directory = ?", [str(self.path) + ".tmp"])
                con.execute("SET preserve_insertion_order = false")
                yield DuckDBSession(con)
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
        listed = ", ".join("'" + f.as_posix().replace("'", "''") + "'" for f in parts.files)
        return f"read_parquet([{listed}])"

    def drop_staged(self, session: DuckDBSession, relation: str) -> None:
        if not relation.startswith("read_parquet("):  # the files go with fetch_parts
            session.execute(f"DROP TABLE IF EXISTS {relation}")
