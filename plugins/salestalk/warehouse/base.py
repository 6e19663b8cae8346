"""The warehouse interface the pipeline and every reader use, and the configured backend.

A backend offers primitives, not steps: open a session, run SQL with bound values, fetch rows or a
frame, fetch a batch's landed Parquet parts (outside any session) and stage them as a raw relation.
A session is held for statements alone: S3 reads, GX and file building happen before or after it, since
the embedded backend has one writer at a time. Everything else (tables, the
staging pointer, verdicts, MERGE, the audit results) is one SQL text per statement, spelt through the
backend's :class:`~salestalk.warehouse.dialect.Dialect`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from pathlib import Path

    import pandas as pd

    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.dialect import Dialect


@dataclass(frozen=True)
class LocalParts:
    """A load's landed parts, fetched before a session opens: ``files`` are local copies in ``keys`` order,
    or empty where the backend reads the keys in place (Snowflake's external stage)."""

    load_id: str
    keys: list[str]
    files: list[Path]


def lock_label(tag: dict[str, str] | None) -> str:
    """Who a session is for, in lock log lines and timeout messages: ``validate deals/acme``."""
    tag = tag or {}
    who = "/".join(tag[k] for k in ("source", "tenant") if tag.get(k))
    return " ".join(part for part in (tag.get("step", "session"), who) if part)


class Session(Protocol):
    """One open connection. Values are always bound (``?``), never formatted into SQL."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]: ...

    def frame(self, sql: str) -> pd.DataFrame: ...


class Warehouse(Protocol):
    dialect: Dialect
    location: str  # where it is, for messages: a file path or a connection id

    def connect(self, *, tag: dict[str, str] | None = None) -> AbstractContextManager[Session]:
        """A session; ``tag`` names the batch and step for cost attribution where the backend can."""
        ...

    def fetch_parts(
        self, source: SourceConfig, load_id: str, keys: list[str], read: Callable[[str], bytes]
    ) -> AbstractContextManager[LocalParts]:
        """The landed Parquet parts (S3 ``keys``; ``read(key)`` gives checked bytes) made ready for
        :meth:`stage_parts`, without a session; anything downloaded is removed when the block ends."""
        ...

    def stage_parts(self, session: Session, source: SourceConfig, parts: LocalParts) -> str:
        """Statements only: the fetched parts as a relation of raw text columns; returns its quoted name.
        :meth:`drop_staged` removes it."""
        ...

    def drop_staged(self, session: Session, relation: str) -> None: ...
