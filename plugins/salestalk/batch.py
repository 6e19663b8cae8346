"""The unit of work: one source, one tenant, one data interval."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from salestalk.tenancy import validate_tenant_id

STAMP = "%Y%m%dT%H%M%SZ"


def parse_utc(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        stamp = value
    else:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone")
    utc = stamp.astimezone(dt.UTC)
    # A plain datetime: pendulum's arithmetic drops a stdlib tzinfo.
    return dt.datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=dt.UTC)


def as_utc(value: Any) -> dt.datetime | None:
    """A timestamp as a warehouse driver returns it (naive meaning UTC, aware, or text) in UTC; None stays."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        return parse_utc(str(value))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def format_utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Batch:
    source: str
    tenant: str
    interval_start: dt.datetime
    interval_end: dt.datetime
    run_id: str

    def __post_init__(self) -> None:
        validate_tenant_id(self.tenant)
        object.__setattr__(self, "interval_start", parse_utc(self.interval_start))
        object.__setattr__(self, "interval_end", parse_utc(self.interval_end))
        if self.interval_end <= self.interval_start:
            raise ValueError(f"empty data interval {self.interval_start} .. {self.interval_end}")

    @property
    def interval_label(self) -> str:
        return f"{self.interval_start.strftime(STAMP)}_{self.interval_end.strftime(STAMP)}"

    @property
    def ds(self) -> str:
        return self.interval_start.strftime("%Y-%m-%d")

    def describe(self) -> str:
        return f"source={self.source} tenant={self.tenant} interval={self.interval_label}"
