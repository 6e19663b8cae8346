"""What the pipeline must produce, computed independently from the fake API's seed data.

The oracle covers the demo sources with REST or file extracts: those whose config says they read the fake
API's demo data (tests/support/sources.py, ``demo_resource``), whatever their names; any other source in
the config folder is left out, so adding one changes nothing here.
"""

from __future__ import annotations

import datetime as dt

from dev.fakeapi import seed
from tests.support.sources import all_tenants, configs, demo_resource, demo_sources


def _oracle_sources():
    return {c.name: c for c in demo_sources() if c.extract.kind in {"rest_api", "s3_files"}}


CONFIGS = _oracle_sources()
# source name -> primary key column, and -> the seed resource its demo data comes from
SOURCES = {name: c.table_schema.primary_key[0] for name, c in CONFIGS.items()}
RESOURCES = {name: demo_resource(c) for name, c in CONFIGS.items()}
# Every tenant of the oracle's sources (all of them demo tenants).
TENANTS = tuple(sorted({t for c in CONFIGS.values() for t in c.tenants}))


def tenants_of(source: str) -> tuple[str, ...]:
    return tuple(configs()[source].tenants)


def insight_tenants() -> tuple[str, ...]:
    """The insight summaries' tenants: every tenant of every source in the config folder."""
    return tuple(all_tenants())


def day_start(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def overlap(source: str) -> dt.timedelta:
    return dt.timedelta(minutes=CONFIGS[source].extract.overlap_minutes)


def extracted_rows(source: str, tenant: str, day: str) -> list[dict]:
    """What the source shows for the interval at the time the demo extracts it."""
    start = day_start(day)
    resource = RESOURCES[source]
    if CONFIGS[source].extract.kind == "s3_files":
        return seed.product_usage_rows(tenant, day)
    clock = start + dt.timedelta(days=1, minutes=5)
    since, before = start - overlap(source), start + dt.timedelta(days=1)
    rows = [r for d in seed.DEMO_DAYS for r in seed.seed_rows(resource, tenant, d)]
    return [
        seed.public_record(r)
        for r in rows
        if seed.parse_timestamp(r["_arrived_at"]) <= clock
        and since <= seed.parse_timestamp(r["updated_at"]) < before
    ]


def bad_ids(source: str, tenant: str) -> set:
    return {i for d in seed.DEMO_DAYS for i in seed.seed_manifest(RESOURCES[source], tenant, d)["bad_rows"]}


def oracle(source: str, tenant: str, day: str) -> dict:
    pk = SOURCES[source]
    rows = extracted_rows(source, tenant, day)
    bad = bad_ids(source, tenant)
    failing = [r for r in rows if r[pk] is None or r[pk] in bad]
    passing = [r for r in rows if not (r[pk] is None or r[pk] in bad)]
    unique = {r[pk] for r in passing}
    return {
        "extracted": len(rows),
        "quarantined": len(failing),
        "passed": len(unique),
        "duplicates_dropped": len(passing) - len(unique),
        "passing_rows": passing,
    }


def newest_versions(source: str, tenant: str, days: tuple[str, ...]) -> dict[str, str]:
    pk = SOURCES[source]
    newest: dict[str, str] = {}
    for day in days:
        for row in oracle(source, tenant, day)["passing_rows"]:
            if row[pk] not in newest or row["updated_at"] > newest[row[pk]]:
                newest[row[pk]] = row["updated_at"]
    return newest
