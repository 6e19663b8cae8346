"""End-to-end harness: real Airflow ``dag.test()``, moto over HTTP, the fake API and DuckDB."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pathlib import Path

DAYS = ("2026-11-01", "2026-11-02")


@pytest.fixture(scope="session")
def stack():
    from dev.embedded import apply_env, start_embedded

    running = start_embedded()
    apply_env(running.connection_env())
    yield running
    running.stop()


@pytest.fixture(scope="session")
def fast_retry_sources(tmp_path_factory):
    """The repository's source configs with second-long retry delays, so a failing task fails fast."""
    import os
    import shutil

    from salestalk.config.loader import SOURCES_DIR

    folder = tmp_path_factory.mktemp("sources")
    shutil.copytree(SOURCES_DIR, folder, dirs_exist_ok=True)
    defaults = folder / "_defaults.yaml"
    text = defaults.read_text().replace("retry_delay_seconds: 30", "retry_delay_seconds: 1")
    text = text.replace("max_retry_delay_seconds: 600", "max_retry_delay_seconds: 2")
    defaults.write_text(text.replace("retries: 3", "retries: 2"))
    os.environ["SALESTALK_SOURCES_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def dags(stack, fast_retry_sources):
    from dev.demo import load_dags
    from dev.localairflow import ensure_metadata_db

    ensure_metadata_db()
    return load_dags()


@dataclass
class Harness:
    stack: Any
    dags: dict
    bucket: str
    duckdb_path: Path

    @property
    def api(self):
        return self.stack.api_server.api

    def run(self, source: str, day: str = DAYS[0]):
        from dev.demo import run_source_day

        return run_source_day(self.dags[f"source_{source}"], self.stack, day)

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        import duckdb

        con = duckdb.connect(str(self.duckdb_path), read_only=True)
        try:
            con.execute("SET TimeZone = 'UTC'")
            return con.execute(query, params or []).fetchall()
        finally:
            con.close()

    def count(self, table: str, tenant: str | None = None, day: str | None = None) -> int:
        where, params = [], []
        if tenant:
            where.append("_tenant_id = ?")
            params.append(tenant)
        if day:
            where.append("_interval_start = ?::TIMESTAMPTZ")
            params.append(f"{day}T00:00:00Z")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        return self.sql(f"SELECT count(*) FROM {table}{clause}", params)[0][0]

    def curated(self, source: str) -> list[tuple]:
        return self.sql(f"SELECT * EXCLUDE (_published_run_id) FROM curated.{source} ORDER BY ALL")

    def objects(self, prefix: str = "") -> dict[str, str]:
        client = self.stack.s3_client()
        found = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = item["ETag"]
        return found

    def summaries(self, source: str, day: str = DAYS[0]) -> dict[str, dict]:
        from salestalk.accounting import batch_summaries
        from salestalk.config.loader import load_sources
        from salestalk.warehouse.duckdb import DuckDBWarehouse

        config = load_sources().configs[source]
        rows = batch_summaries(DuckDBWarehouse(self.duckdb_path), config, f"{day}T00:00:00Z")
        return {row["tenant"]: row for row in rows}


def new_harness(stack, dags, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    """A fresh bucket with the tenants' exports, a fresh DuckDB file in ``folder``, the fake API reset."""
    from dev.embedded import ensure_bucket, seed_inbound_files
    from tests.support.sources import demo_sources

    bucket = f"e2e-{uuid.uuid4().hex[:12]}"
    duckdb_path = folder / "warehouse.duckdb"
    monkeypatch.setenv("SALESTALK_BUCKET", bucket)
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(duckdb_path))
    client = stack.s3_client()
    ensure_bucket(client, bucket)
    for source in demo_sources(kind="s3_files"):  # the tenants' exports; events are seeded by their own tests
        seed_inbound_files(client, bucket, source, list(DAYS))
    stack.api_server.api.reset()
    return Harness(stack=stack, dags=dags, bucket=bucket, duckdb_path=duckdb_path)


@pytest.fixture
def harness(stack, dags, tmp_path, monkeypatch) -> Harness:
    yield new_harness(stack, dags, tmp_path, monkeypatch)
    stack.api_server.api.reset()
