"""The warehouse interface the pipeline and every reader use, and the configured backend.

A backend offers primitives, not steps: open a session, run SQL with bound values, fetch rows or a
frame, and stage a batch's landed Parquet parts as a raw relation. Everything else (tables, the
staging pointer, verdicts, MERGE, the audit results) is one SQL text per statement, spelt through the
backend's :class:`~salestalk.warehouse.dialect.Dialect`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    import pandas as pd

    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.dialect import Dialect


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

    def stage_parts(
        self,
        session: Session,
        source: SourceConfig,
        load_id: str,
        keys: list[str],
        read: Callable[[str], bytes],
    ) -> str:
        """Copy the landed Parquet parts (S3 ``keys``; ``read(key)`` gives checked bytes) into a new
        relation of raw text columns and return its quoted name. :meth:`drop_staged` removes it."""
        ...

    def drop_staged(self, session: Session, relation: str) -> None: ...
