-- One row per (failing record, reason), in the DuckDB path's reason order: built-in key checks,
-- cast failures, then the suite's row rules in suite order ({rule_selects}, each with bound values).
INSERT INTO {verdicts} ("_TENANT_ID", "_INTERVAL_START", "_RECORD_NUM", "_REASON_POS", "_REASON")
SELECT p."TENANT", p."INTERVAL_START", r."_RECORD_NUM", r."POS", r."REASON"
FROM (
    SELECT "_RECORD_NUM", 0 AS "POS", 'primary_key_null' AS "REASON" FROM "BATCH_ROWS" WHERE {pk_null}
    UNION ALL
    SELECT "_RECORD_NUM", 1, 'cursor_null' FROM "BATCH_ROWS" WHERE {cursor} IS NULL
    UNION ALL
    SELECT b."_RECORD_NUM", 100 + f.index, f.value::VARCHAR
    FROM "BATCH_ROWS" b, LATERAL FLATTEN(input => b."_CAST_FAILURES") f
    {rule_selects}
) r CROSS JOIN "SALESTALK_BATCH" p
