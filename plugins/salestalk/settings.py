"""Runtime settings read from the environment at call time, never at import time."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from salestalk import REPO_ROOT

LOCAL_DIR = REPO_ROOT / ".local"


@dataclass(frozen=True)
class Settings:
    bucket: str
    duckdb_path: Path
    duckdb_memory_limit: str
    aws_conn_id: str
    data_docs_dir: Path
    dynamodb_table: str
    warehouse: str = "duckdb"
    snowflake_conn_id: str = "snowflake_default"


def get_settings() -> Settings:
    return Settings(
        bucket=os.environ.get("SALESTALK_BUCKET", "salestalk-local"),
        duckdb_path=Path(os.environ.get("SALESTALK_DUCKDB_PATH", LOCAL_DIR / "warehouse.duckdb")),
        duckdb_memory_limit=os.environ.get("SALESTALK_DUCKDB_MEMORY_LIMIT", "512MB"),
        aws_conn_id=os.environ.get("SALESTALK_AWS_CONN_ID", "aws_default"),
        data_docs_dir=REPO_ROOT / "great_expectations" / "uncommitted" / "data_docs" / "local_site",
        dynamodb_table=os.environ.get("SALESTALK_DYNAMODB_TABLE", "salestalk-app"),
        warehouse=os.environ.get("SALESTALK_WAREHOUSE", "duckdb"),
        snowflake_conn_id=os.environ.get("SALESTALK_SNOWFLAKE_CONN_ID", "snowflake_default"),
    )
