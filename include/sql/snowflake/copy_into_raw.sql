-- Load one batch's landed raw Parquet parts into a per-load transient table, column by name.
-- {raw_table}: the per-load table (every schema column as VARCHAR, plus _RECORD_NUM, _EXTRA_JSON, _ABSENT)
-- {stage_path}: @<stage>[/<prefix>/]   {files}: FILES = ('<key>', ...) or empty (a per-load internal prefix)
-- FORCE: a rerun reloads the same files on purpose (staging is replaced per batch by load id).
COPY INTO {raw_table}
FROM {stage_path}
{files}
FILE_FORMAT = (TYPE = PARQUET)
MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE
FORCE = TRUE
{purge}
