"""What the pipeline must produce, computed independently from the fake API's seed data."""

from __future__ import annotations

import datetime as dt

from dev.fakeapi import seed

TENANTS = ("acme", "globex", "initech")
SOURCES = {"deals": "deal_id", "calls": "call_id", "product_usage": "event_id"}
OVERLAP = dt.timedelta(hours=6)


def day_start(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def extracted_rows(source: str, tenant: str, day: str) -> list[dict]:
    """What the source shows for the interval at the time the demo extracts it."""
    start = day_start(day)
    if source == "product_usage":
        return seed.product_usage_rows(tenant, day)
    clock = start + dt.timedelta(days=1, minutes=5)
    since, before = start - OVERLAP, start + dt.timedelta(days=1)
    rows = [r for d in seed.DEMO_DAYS for r in seed.seed_rows(source, tenant, d)]
    return [
        seed.public_record(r)
        for r in rows
        if seed.parse_timestamp(r["_arrived_at"]) <= clock
        and since <= seed.parse_timestamp(r["updated_at"]) < before
    ]


def bad_ids(source: str, tenant: str) -> set:
    return {i for d in seed.DEMO_DAYS for i in seed.seed_manifest(source, tenant, d)["bad_rows"]}


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
