"""The tag vocabulary. A DAG tag outside it is a config error, so the UI filters stay useful."""

from __future__ import annotations

TAG_VOCABULARY: frozenset[str] = frozenset(
    {
        "source",
        "rest_api",
        "s3_files",
        "events",
        "crm",
        "calls",
        "billing",
        "product",
        "pii",
        "tier-1",
        "tier-2",
        "demo",
    }
)
