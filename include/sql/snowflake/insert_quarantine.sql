-- Copy the batch's failing rows, with their reasons in order, to quarantine.
INSERT INTO {quarantine} ({staging_columns}, "_REASONS", "_QUARANTINED_RUN_ID")
SELECT {b_columns}, r."_REASONS", p."RUN_ID"
FROM "BATCH_ROWS" b
JOIN (
    SELECT v."_RECORD_NUM", ARRAY_AGG(v."_REASON") WITHIN GROUP (ORDER BY v."_REASON_POS") AS "_REASONS"
    FROM {verdicts} v
    JOIN "SALESTALK_BATCH" p ON v."_TENANT_ID" = p."TENANT" AND v."_INTERVAL_START" = p."INTERVAL_START"
    GROUP BY v."_RECORD_NUM"
) r ON r."_RECORD_NUM" = b."_RECORD_NUM"
CROSS JOIN "SALESTALK_BATCH" p
