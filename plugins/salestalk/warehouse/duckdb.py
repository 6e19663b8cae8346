"""The embedded warehouse: one DuckDB file. Each session is a short connection, so processes take turns."""

from __future__ import annotations

import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salestalk.warehouse.dialect import DUCKDB

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
        self.staged_folders: dict[str, Path] = {}  # read_parquet relation -> its downloaded parts

    @contextmanager
    def connect(self, *, tag: dict[str, str] | None = None) -> Generator[DuckDBSession, None, None]:
        import duckdb

        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout_seconds
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

    def stage_parts(
        self,
        session: DuckDBSession,
        source: SourceConfig,
        load_id: str,
        keys: list[str],
        read: Callable[[str], bytes],
    ) -> str:
        """The parts, downloaded one at a time next to the database file, as one ``read_parquet`` relation."""
        from salestalk.warehouse.tables import raw_columns

        folder = self.path.parent / f".{self.path.name}.parts" / load_id
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for number, key in enumerate(keys):
            local = folder / f"part-{number:05d}.parquet"
            local.write_bytes(read(key))
            files.append(local.as_posix().replace("'", "''"))
        if not files:
            relation = DUCKDB.ident(f"raw_{load_id}")
            session.execute(f"CREATE TEMPORARY TABLE {relation} ({', '.join(raw_columns(DUCKDB, source))})")
            return relation
        listed = ", ".join(f"'{f}'" for f in files)
        relation = f"read_parquet([{listed}])"
        self.staged_folders[relation] = folder
        return relation

    def drop_staged(self, session: DuckDBSession, relation: str) -> None:
        folder = self.staged_folders.pop(relation, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            session.execute(f"DROP TABLE IF EXISTS {relation}")
