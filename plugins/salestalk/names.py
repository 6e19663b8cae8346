"""Names used across the pipeline, defined once: steps, warehouse schemas and S3 key kinds."""

from __future__ import annotations

from typing import Final

# The five steps of a source batch, in order. The same names label the DAG's tasks, the rows of
# audit.batch_results and the accounting.
EXTRACT: Final = "extract"
LOAD: Final = "load_to_staging"
VALIDATE: Final = "validate"
QUARANTINE: Final = "quarantine"
PUBLISH: Final = "publish"
STEPS: Final = (EXTRACT, LOAD, VALIDATE, QUARANTINE, PUBLISH)
# Tasks of a source run besides the steps: the one that picks its tenants, and its deadline watch.
SELECT_TASK_ID: Final = "tenants"
WATCH_TASK_ID: Final = "deadline"
SHARD_GROUP_ID: Final = "tenant"  # the mapped task group of the steps, one instance per shard of tenants
FAILED_TENANTS_KEY: Final = "failed_tenants"  # the XCom of a step task naming its shard's failed tenants
# The steps that record a result in the warehouse (extract records its manifest in S3).
WAREHOUSE_STEPS: Final = (LOAD, VALIDATE, QUARANTINE, PUBLISH)

# Warehouse schemas.
STAGING: Final = "staging"
AUDIT: Final = "audit"
QUARANTINE_SCHEMA: Final = "quarantine"
CURATED: Final = "curated"
SCHEMAS: Final = (STAGING, AUDIT, QUARANTINE_SCHEMA, CURATED)

# Audit tables.
BATCH_RESULTS: Final = "batch_results"
STEP_RUNS: Final = "step_runs"  # which tenant finished which step in which run (salestalk.shards)
STAGING_LOADS: Final = "staging_loads"
VERDICTS_SUFFIX: Final = "_verdicts"

# S3 key kinds: the segment after tenants/{tenant}/.
RAW: Final = "raw"
QUARANTINE_KEYS: Final = "quarantine"
STATE: Final = "state"
INBOUND: Final = "inbound"
KEY_KINDS: Final = (RAW, QUARANTINE_KEYS, STATE, INBOUND)


def verdicts_table(source: str) -> str:
    return source + VERDICTS_SUFFIX


# Airflow's [aws] session_factory for every component: clients share one botocore model loader per process.
AWS_SESSION_FACTORY: Final = "salestalk.aws_sessions.SharedModelSessionFactory"
