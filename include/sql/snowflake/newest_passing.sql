-- The newest passing version per primary key in the batch (the MERGE source). Never relies on a
-- PRIMARY KEY or UNIQUE constraint: Snowflake does not enforce them.
CREATE OR REPLACE TEMPORARY TABLE "BATCH_NEWEST" AS
SELECT b.*, p."RUN_ID" AS "_PUBLISHED_RUN_ID"
FROM "BATCH_ROWS" b CROSS JOIN "SALESTALK_BATCH" p
WHERE NOT EXISTS (
    SELECT 1 FROM {verdicts} v
    WHERE v."_TENANT_ID" = b."_TENANT_ID" AND v."_INTERVAL_START" = b."_INTERVAL_START"
    AND v."_RECORD_NUM" = b."_RECORD_NUM"
)
QUALIFY ROW_NUMBER() OVER (PARTITION BY {pk} ORDER BY {cursor} DESC, b."_RECORD_NUM" DESC) = 1
