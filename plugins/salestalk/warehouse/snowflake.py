"""The production warehouse: Snowflake, through the provider's ``SnowflakeHook``.

Selected with ``SALESTALK_WAREHOUSE=snowflake``; account, role, warehouse and database come from the
Airflow connection (``SALESTALK_SNOWFLAKE_CONN_ID``, default ``snowflake_default``), the stage from the
source config's ``snowflake`` block. What is Snowflake-only lives here: the session, the ``QUERY_TAG``
and staging landed parts through a stage with ``PUT`` and ``COPY INTO``.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from salestalk.names import STAGING
from salestalk.warehouse.base import LocalParts
from salestalk.warehouse.dialect import SNOWFLAKE

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    import pandas as pd

    from salestalk.config.models import SourceConfig

log = logging.getLogger(__name__)

# S3 keys and stage paths put in COPY/PUT text (they cannot be bound): built by salestalk.storage.keys
# and checked again here.
STAGE_PATH = re.compile(r"[A-Za-z0-9_=./-]{1,1024}")
APP = "salestalk"


def stage_path(value: str, *, absolute: bool = False) -> str:
    """``value`` if it is a plain relative path (an absolute one for our own temp files), else ValueError."""
    if not STAGE_PATH.fullmatch(value) or ".." in value or value.startswith("/") != absolute:
        raise ValueError(f"unsafe stage path {value!r}")
    return value


def qualified_stage(name: str) -> str:
    """``db.schema.stage``, ``schema.stage`` or ``stage`` (in the staging schema), each part checked and quoted."""
    parts = name.split(".")
    if len(parts) == 1:
        parts = [STAGING, *parts]
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"invalid stage name {name!r}")
    return ".".join(SNOWFLAKE.ident(p) for p in parts)


QUERY_TAG_MAX = 2000  # Snowflake's limit on the QUERY_TAG session parameter, in characters
# Dropped, in this order, from a tag that would not fit; source, tenant and step always stay.
QUERY_TAG_OPTIONAL = ("interval", "run_id")


def query_tag(**fields: str) -> str:
    """The session's ``QUERY_TAG``: compact JSON, ``app`` first, then the fields by name, e.g.
    ``{"app":"salestalk","interval":"...","run_id":"...","source":"deals","step":"publish","tenant":"acme"}``.
    salestalk.cost reads ``source`` and ``tenant`` back from QUERY_ATTRIBUTION_HISTORY."""
    fields = {k: str(v) for k, v in sorted(fields.items()) if v is not None}
    for optional in (None, *QUERY_TAG_OPTIONAL):
        fields.pop(optional, None)
        text = json.dumps({"app": APP, **fields}, separators=(",", ":"))
        if len(text) <= QUERY_TAG_MAX:
            return text
    raise ValueError(f"query tag longer than {QUERY_TAG_MAX} characters: {text[:80]}...")


class SnowflakeSession:
    dialect = SNOWFLAKE

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def cursor(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        cursor = self.conn.cursor()
        cursor.execute(sql, list(params) if params else None)
        return cursor

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self.cursor(sql, params)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self.cursor(sql, params).fetchall()

    def frame(self, sql: str) -> pd.DataFrame:
        return self.cursor(sql).fetch_pandas_all()


class SnowflakeWarehouse:
    dialect = SNOWFLAKE

    def __init__(self, conn_id: str = "snowflake_default") -> None:
        self.conn_id = conn_id
        self.location = f"Snowflake connection {conn_id}"

    def hook(self, tag: dict[str, str] | None = None) -> Any:
        from salestalk.warehouse.snowflake_hook import SalesTalkSnowflakeHook

        return SalesTalkSnowflakeHook(
            snowflake_conn_id=self.conn_id, session_parameters={"QUERY_TAG": query_tag(**(tag or {}))}
        )

    @contextmanager
    def connect(self, *, tag: dict[str, str] | None = None) -> Generator[SnowflakeSession, None, None]:
        conn = self.hook(tag).get_conn()
        try:
            yield SnowflakeSession(conn)
        finally:
            conn.close()

    @contextmanager
    def fetch_parts(
        self, source: SourceConfig, load_id: str, keys: list[str], read: Callable[[str], bytes]
    ) -> Generator[LocalParts, None, None]:
        """For an internal stage, the parts downloaded to a temp folder for PUT (before the session opens);
        an external stage reads the keys in place, so nothing is downloaded."""
        keys = [stage_path(k) for k in keys]
        if source.snowflake.stage_kind == "external" or not keys:
            yield LocalParts(load_id, keys, [])
            return
        with tempfile.TemporaryDirectory(prefix="salestalk-put-") as folder:
            files = []
            for number, key in enumerate(keys):
                local = Path(folder) / f"part-{number:05d}.parquet"
                local.write_bytes(read(key))
                files.append(local)
            yield LocalParts(load_id, keys, files)

    def stage_parts(self, session: SnowflakeSession, source: SourceConfig, parts: LocalParts) -> str:
        """COPY the parts into a per-load transient table: from the external stage by key, or (``stage_kind:
        internal``) after a PUT of the fetched files to a per-load prefix."""
        from salestalk.warehouse.tables import raw_columns

        load_id = parts.load_id
        relation = SNOWFLAKE.table(STAGING, f"{source.name}__load_{load_id}")
        session.execute(f"CREATE TRANSIENT TABLE {relation} ({', '.join(raw_columns(SNOWFLAKE, source))})")
        if not parts.keys:
            return relation
        keys = [stage_path(k) for k in parts.keys]
        stage = qualified_stage(source.snowflake.stage)
        if source.snowflake.stage_kind == "external":
            origin, files, purge = f"@{stage}", "FILES = (" + ", ".join(f"'{k}'" for k in keys) + ")", ""
        else:
            session.execute(f"CREATE STAGE IF NOT EXISTS {stage}")
            origin, files, purge = f"@{stage}/loads/{load_id}/", "", "PURGE = TRUE"
            for local in parts.files:
                session.execute(
                    f"PUT 'file://{stage_path(local.as_posix(), absolute=True)}' {origin} "
                    "AUTO_COMPRESS = FALSE OVERWRITE = TRUE"
                )
        result = session.fetchall(
            f"COPY INTO {relation} FROM {origin} {files} FILE_FORMAT = (TYPE = PARQUET) "
            f"MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE FORCE = TRUE {purge}"
        )
        log.info("COPY INTO %s: %d file(s)", relation, len(result))
        return relation

    def drop_staged(self, session: SnowflakeSession, relation: str) -> None:
        session.execute(f"DROP TABLE IF EXISTS {relation}")
