"""Deterministic seed data for the fake source API: pure functions, no I/O.

Each (resource, tenant, day) is drawn from its own ``random.Random`` seeded by those three values, so
two builds are always equal. Tenants are ``DEMO_TENANTS``, and for scale runs the generated tenants
``t001``..``t999`` (:func:`generated_tenants`), each sized as one of the demo tenants. The history starts on ``FIRST_DAY``, the first
of the ``DEMO_DAYS``, and every later day has the same sizes and the same mix of anomalies. Ids are
numbered per day: day 1 starts at 00001, day 2 at 05001, day n at (n - 1) * 5000 + 1 (``D-``, ``C-``, ``E-``
prefixes).

Rows per tenant and day (``DAILY_SIZES``, counting every anomalous row):
deals acme 300, globex 200, initech 120; calls 500, 300, 150; product_usage 400, 250, 100.

Every row has a hidden ``_arrived_at`` (never served) that decides when the API shows it. A normal row
is updated before 23:50 and arrives 0-10 minutes later, so always on its own day. The anomalies below
are disjoint and listed per (resource, tenant, day) by ``seed_manifest``; n is the day's row count:

- bad rows, max(2, 1.5% of n): kinds cycle in the order of ``BAD_VALUE_KINDS``: deals get a negative
  amount, a null stage or currency "XYZ"; calls get duration_seconds 20000, sentiment 3.5 or a null
  call_id; product_usage gets a negative event_count or feature "teleport".
- duplicates, max(1, 1% of n): the same row served twice, hidden arrival included.
- versions, max(1, 1% of n): an older and a newer row for one pk (updated 10 min to 2 h apart,
  ``VERSIONED_FIELD`` changed), both arriving on time.
- late, max(2, 1% of n): rows updated in the last 4 hours of the day (20:00-24:00) that arrive at
  00:30-05:30 the next day. A day-1 extraction at 2026-11-02T00:05Z misses them; one with a 6-hour
  overlap run after 05:30 on day 2 sees them. ``out_of_order`` (max(1, half of them)) are OLDER versions
  of a pk whose newer row, updated after 22:00, arrived on time.
- equal cursors: 6 groups of 3, 3, 4, 4, 5 and 6 rows share exactly the same ``updated_at``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

DEMO_TENANTS: tuple[str, ...] = ("acme", "globex", "initech")
DEMO_DAYS: tuple[date, ...] = (date(2026, 11, 1), date(2026, 11, 2))
FIRST_DAY = DEMO_DAYS[0]
RESOURCES: tuple[str, ...] = ("deals", "calls", "product_usage")
HTTP_RESOURCES: tuple[str, ...] = ("deals", "calls")

DAILY_SIZES: dict[str, dict[str, int]] = {
    "deals": {"acme": 300, "globex": 200, "initech": 120},
    "calls": {"acme": 500, "globex": 300, "initech": 150},
    "product_usage": {"acme": 400, "globex": 250, "initech": 100},
}
PRIMARY_KEYS: dict[str, str] = {"deals": "deal_id", "calls": "call_id", "product_usage": "event_id"}
ID_PREFIXES: dict[str, str] = {"deals": "D", "calls": "C", "product_usage": "E"}
FIELDS: dict[str, tuple[str, ...]] = {
    "deals": (
        "deal_id",
        "account_name",
        "stage",
        "amount",
        "currency",
        "owner_email",
        "close_date",
        "updated_at",
    ),
    "calls": ("call_id", "deal_id", "rep_email", "duration_seconds", "sentiment", "call_date", "updated_at"),
    "product_usage": ("event_id", "user_id", "feature", "event_count", "usage_date", "updated_at"),
}
CURSOR_FIELD = "updated_at"
ARRIVED_AT = "_arrived_at"

STAGES = ("prospecting", "qualified", "proposal", "negotiation", "closed_won", "closed_lost")
CURRENCIES = ("USD", "EUR", "GBP")
FEATURES = ("transcription", "summary", "coaching", "forecast")
ENUM_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "deals": {"stage": STAGES, "currency": CURRENCIES},
    "calls": {},
    "product_usage": {"feature": FEATURES},
}
MAX_CALL_SECONDS = 14_400
BAD_VALUE_KINDS: dict[str, tuple[tuple[str, Any], ...]] = {
    "deals": (("amount", "negative"), ("stage", None), ("currency", "XYZ")),
    "calls": (("duration_seconds", 20_000), ("sentiment", 3.5), ("call_id", None)),
    "product_usage": (("event_count", "negative"), ("feature", "teleport")),
}
VERSIONED_FIELD: dict[str, str] = {"deals": "amount", "calls": "sentiment", "product_usage": "event_count"}
EQUAL_GROUP_SIZES = (3, 3, 4, 4, 5, 6)

IDS_PER_DAY = 5_000
_GENERATED = re.compile(r"t\d{3}")
_SECOND = timedelta(seconds=1)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)")
_NORMAL_LAST_UPDATE = 23 * 3600 + 50 * 60
_LATE_WINDOW_START = 20 * 3600
_NEXT_DAY_ARRIVAL = (30 * 60, 5 * 3600 + 30 * 60)

_FIRST_NAMES = (
    "ana",
    "ben",
    "chen",
    "dina",
    "eli",
    "fatima",
    "goran",
    "hana",
    "ivan",
    "jules",
    "kofi",
    "lea",
)
_LAST_NAMES = ("smith", "garcia", "nguyen", "okafor", "rossi", "schmidt", "tanaka", "dubois", "kowalski")
_COMPANY_WORDS = ("Blue", "North", "Apex", "Cedar", "Quantum", "Harbor", "Summit", "Iron", "Nova", "Vertex")
_COMPANY_KINDS = ("Logistics", "Foods", "Systems", "Health", "Energy", "Retail", "Labs", "Partners")


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with whole seconds and a ``Z`` suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp such as 2026-11-01T13:05:00Z; raise ValueError otherwise."""
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"{text!r} is not an RFC 3339 timestamp like 2026-11-01T13:05:00Z")
    return datetime.fromisoformat(text.upper()).astimezone(UTC)


def as_date(day: date | str) -> date:
    return date.fromisoformat(day) if isinstance(day, str) else day


def day_start(day: date | str) -> datetime:
    return datetime.combine(as_date(day), datetime.min.time(), tzinfo=UTC)


def settled_at(day: date | str) -> datetime:
    """When the last of the day's rows has arrived: the latest late arrival, the next morning."""
    return day_start(day) + timedelta(days=1, seconds=_NEXT_DAY_ARRIVAL[1])


def generated_tenants(count: int) -> tuple[str, ...]:
    """``count`` generated tenants for scale runs, ``t001``, ``t002``, ...: each has the sizes and the
    anomaly mix of a demo tenant (``t001`` as acme, ``t002`` as globex, ``t003`` as initech, and so on)."""
    return tuple(f"t{number:03d}" for number in range(1, count + 1))


def size_model(tenant: str) -> str:
    """The demo tenant whose daily sizes ``tenant`` has: itself, or for a generated tenant, one in turn."""
    if tenant in DEMO_TENANTS:
        return tenant
    if _GENERATED.fullmatch(tenant):
        return DEMO_TENANTS[(int(tenant[1:]) - 1) % len(DEMO_TENANTS)]
    raise ValueError(f"unknown tenant {tenant!r}; expected one of {DEMO_TENANTS} or a generated t001..t999")


def is_seeded_tenant(tenant: str) -> bool:
    """True for a demo tenant and for a generated one (:func:`generated_tenants`)."""
    return tenant in DEMO_TENANTS or bool(_GENERATED.fullmatch(tenant))


def daily_size(resource: str, tenant: str) -> int:
    _check(resource, tenant)
    return DAILY_SIZES[resource][size_model(tenant)]


def anomaly_counts(resource: str, tenant: str) -> dict[str, int]:
    """How many rows of each anomaly kind one day of (resource, tenant) holds."""
    size = daily_size(resource, tenant)
    late = max(2, size // 100)
    return {
        "bad_rows": max(2, size * 15 // 1000),
        "duplicates": max(1, size // 100),
        "versions": max(1, size // 100),
        "late": late,
        "out_of_order": max(1, late // 2),
    }


def public_record(row: dict[str, Any]) -> dict[str, Any]:
    """The row without its hidden (underscore) fields."""
    return {key: value for key, value in row.items() if not key.startswith("_")}


def seed_rows(resource: str, tenant: str, day: date | str) -> list[dict[str, Any]]:
    """The day's rows ordered by (updated_at, pk), each with its hidden ``_arrived_at``."""
    return _build_day(resource, tenant, as_date(day))[0]


def seed_manifest(resource: str, tenant: str, day: date | str) -> dict[str, Any]:
    """Ids of each anomaly kind in the day's rows (a null pk is listed as None)."""
    return _build_day(resource, tenant, as_date(day))[1]


def product_usage_rows(
    tenant: str, day: date | str, *, include_arrival: bool = False
) -> list[dict[str, Any]]:
    """The day's product_usage rows, as the lead lands them as files (not served over HTTP)."""
    rows = seed_rows("product_usage", tenant, day)
    return rows if include_arrival else [public_record(row) for row in rows]


def fault_late_records(
    resource: str, tenant: str, start: datetime, end: datetime, count: int
) -> list[dict[str, Any]]:
    """``count`` new rows ("LATE-00001"...) spread evenly over [start, end), arriving as updated."""
    first = _ceil_to_second(start)
    if end <= first:
        return []
    span = (end - first).total_seconds()
    rng = random.Random(f"salestalk-fakeapi/late-records/{resource}/{tenant}")
    rows = []
    for index in range(count):
        updated_at = first + timedelta(seconds=int(span * index / count))
        record = _RECORD_FACTORIES[resource](rng, tenant, updated_at.date(), f"LATE-{index + 1:05d}")
        record[CURSOR_FIELD] = format_timestamp(updated_at)
        record[ARRIVED_AT] = record[CURSOR_FIELD]
        rows.append(record)
    return rows


def _check(resource: str, tenant: str) -> None:
    if resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}; expected one of {RESOURCES}")
    if not is_seeded_tenant(tenant):
        raise ValueError(
            f"unknown tenant {tenant!r}; expected one of {DEMO_TENANTS} or a generated t001..t999"
        )


def _ceil_to_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + _SECOND


def _build_day(resource: str, tenant: str, day: date) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    counts = anomaly_counts(resource, tenant)
    day_index = (day - FIRST_DAY).days
    if day_index < 0:
        raise ValueError(f"seed data starts on {FIRST_DAY}; got {day}")
    rng = random.Random(f"salestalk-fakeapi/{resource}/{tenant}/{day.isoformat()}")
    unique_count = daily_size(resource, tenant) - counts["duplicates"] - counts["versions"]
    unique_count -= counts["out_of_order"]
    prefix, number_base = ID_PREFIXES[resource], day_index * IDS_PER_DAY
    records = [
        _RECORD_FACTORIES[resource](rng, tenant, day, f"{prefix}-{number_base + number:05d}")
        for number in range(1, unique_count + 1)
    ]
    picks = _pick_disjoint(rng, unique_count, counts)
    start = day_start(day)
    for record in records:
        _stamp(record, start, rng.randrange(_NORMAL_LAST_UPDATE), on_time=True, rng=rng)
    for indexes in _split(picks["equal"], EQUAL_GROUP_SIZES):
        second = rng.randrange(3600, 23 * 3600)
        for index in indexes:
            _stamp(records[index], start, second, on_time=True, rng=rng)
    for index in picks["late"]:
        _stamp(records[index], start, rng.randrange(_LATE_WINDOW_START, 24 * 3600), on_time=False, rng=rng)
    older_versions = [
        _older_version(
            rng, resource, records[index], start, rng.randrange(2 * 3600, _NORMAL_LAST_UPDATE), True
        )
        for index in picks["versions"]
    ]
    out_of_order = [
        _older_version(
            rng, resource, records[index], start, rng.randrange(22 * 3600, _NORMAL_LAST_UPDATE), False
        )
        for index in picks["out_of_order"]
    ]
    bad_kinds = BAD_VALUE_KINDS[resource]
    bad_details = [
        _break_value(rng, resource, records[index], bad_kinds[position % len(bad_kinds)])
        for position, index in enumerate(picks["bad_rows"])
    ]
    duplicates = [dict(records[index]) for index in picks["duplicates"]]
    rows = sorted(records + older_versions + out_of_order + duplicates, key=_row_sort_key(resource))
    pk = PRIMARY_KEYS[resource]
    manifest = {
        "resource": resource,
        "tenant": tenant,
        "day": day.isoformat(),
        "rows": len(rows),
        "bad_rows": [detail["id"] for detail in bad_details],
        "bad_row_details": bad_details,
        "duplicates": [records[index][pk] for index in picks["duplicates"]],
        "versions": [records[index][pk] for index in picks["versions"]],
        "late": [records[index][pk] for index in picks["late"]] + [row[pk] for row in out_of_order],
        "out_of_order": [row[pk] for row in out_of_order],
        "equal_updated_at_groups": _equal_groups(rows, pk),
    }
    return rows, manifest


def _pick_disjoint(rng: random.Random, unique_count: int, counts: dict[str, int]) -> dict[str, list[int]]:
    """Disjoint sets of row indexes for each anomaly kind and the equal-cursor groups."""
    shuffled = list(range(unique_count))
    rng.shuffle(shuffled)
    wanted = {
        "bad_rows": counts["bad_rows"],
        "duplicates": counts["duplicates"],
        "versions": counts["versions"],
        "late": counts["late"] - counts["out_of_order"],
        "out_of_order": counts["out_of_order"],
        "equal": sum(EQUAL_GROUP_SIZES),
    }
    picks, taken = {}, 0
    for kind, how_many in wanted.items():
        picks[kind] = sorted(shuffled[taken : taken + how_many])
        taken += how_many
    return picks


def _split(items: list[int], sizes: tuple[int, ...]) -> list[list[int]]:
    chunks, taken = [], 0
    for size in sizes:
        chunks.append(items[taken : taken + size])
        taken += size
    return chunks


def _stamp(
    record: dict[str, Any], start: datetime, second: int, *, on_time: bool, rng: random.Random
) -> None:
    """Set updated_at to ``second`` of the day and the arrival 0-10 min later, or the next morning."""
    updated_at = start + timedelta(seconds=second)
    if on_time:
        arrived_at = updated_at + timedelta(seconds=rng.randint(0, 600))
    else:
        arrived_at = start + timedelta(days=1, seconds=rng.randint(*_NEXT_DAY_ARRIVAL))
    record[CURSOR_FIELD] = format_timestamp(updated_at)
    record[ARRIVED_AT] = format_timestamp(arrived_at)


def _older_version(
    rng: random.Random, resource: str, record: dict[str, Any], start: datetime, second: int, on_time: bool
) -> dict[str, Any]:
    """Move ``record`` to ``second`` (arriving on time) and return its older version."""
    _stamp(record, start, second, on_time=True, rng=rng)
    older = dict(record)
    field = VERSIONED_FIELD[resource]
    older[field] = _changed_value(rng, older[field])
    _stamp(older, start, second - rng.randint(600, 2 * 3600), on_time=on_time, rng=rng)
    return older


def _changed_value(rng: random.Random, value: Any) -> Any:
    if isinstance(value, int):
        return value + rng.randint(1, 50) if value < 50 else value - rng.randint(1, 50)
    shrunk = value * rng.uniform(0.5, 0.95)
    return round(shrunk - 0.01 if value >= 0 else shrunk + 0.01, 2)


def _break_value(
    rng: random.Random, resource: str, record: dict[str, Any], kind: tuple[str, Any]
) -> dict[str, Any]:
    pk = PRIMARY_KEYS[resource]
    column, value = kind
    if value == "negative":
        value = -rng.randint(1, 5000) if isinstance(record[column], int) else -round(rng.uniform(1, 5000), 2)
    record[column] = value
    return {"id": record[pk], "column": column, "value": value}


def _row_sort_key(resource: str) -> Callable[[dict[str, Any]], tuple[str, str]]:
    pk = PRIMARY_KEYS[resource]
    return lambda row: (row[CURSOR_FIELD], row[pk] or "")


def _equal_groups(rows: list[dict[str, Any]], pk: str) -> list[dict[str, Any]]:
    """Every updated_at shared by 3 or more rows, with those rows' ids."""
    sizes = Counter(row[CURSOR_FIELD] for row in rows)
    return [
        {"updated_at": moment, "ids": [row[pk] for row in rows if row[CURSOR_FIELD] == moment]}
        for moment, size in sorted(sizes.items())
        if size >= 3
    ]


def _person_email(rng: random.Random, tenant: str) -> str:
    return f"{rng.choice(_FIRST_NAMES)}.{rng.choice(_LAST_NAMES)}@{tenant}.example.com"


def _deal(rng: random.Random, tenant: str, day: date, deal_id: str) -> dict[str, Any]:
    stage = rng.choice(STAGES)
    closed = stage.startswith("closed_")
    close_offset = -rng.randint(0, 30) if closed else rng.randint(1, 90)
    return {
        "deal_id": deal_id,
        "account_name": f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_KINDS)}",
        "stage": stage,
        "amount": round(rng.uniform(500, 250_000), 2),
        "currency": rng.choice(CURRENCIES),
        "owner_email": _person_email(rng, tenant),
        "close_date": (day + timedelta(days=close_offset)).isoformat(),
        CURSOR_FIELD: "",
    }


def _call(rng: random.Random, tenant: str, day: date, call_id: str) -> dict[str, Any]:
    existing_deals = daily_size("deals", tenant) - 10
    deal_number = max(0, (day - FIRST_DAY).days) * IDS_PER_DAY + rng.randint(1, existing_deals)
    return {
        "call_id": call_id,
        "deal_id": f"D-{deal_number:05d}",
        "rep_email": _person_email(rng, tenant),
        "duration_seconds": rng.randint(30, 5400),
        "sentiment": round(rng.uniform(-1, 1), 3),
        "call_date": day.isoformat(),
        CURSOR_FIELD: "",
    }


def _usage(rng: random.Random, tenant: str, day: date, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": f"U-{rng.randint(1, 200):04d}",
        "feature": rng.choice(FEATURES),
        "event_count": rng.randint(0, 500),
        "usage_date": day.isoformat(),
        CURSOR_FIELD: "",
    }


_RECORD_FACTORIES: dict[str, Callable[[random.Random, str, date, str], dict[str, Any]]] = {
    "deals": _deal,
    "calls": _call,
    "product_usage": _usage,
}
