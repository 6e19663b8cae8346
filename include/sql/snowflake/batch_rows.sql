-- The batch's rows of its current staging load, materialised for the session.
CREATE OR REPLACE TEMPORARY TABLE "BATCH_ROWS" AS
SELECT s.*
FROM {staging} s
JOIN "SALESTALK_BATCH" p ON s."_TENANT_ID" = p."TENANT" AND s."_INTERVAL_START" = p."INTERVAL_START"
JOIN "AUDIT"."STAGING_LOADS" l
    ON l."SOURCE" = p."SOURCE" AND l."TENANT" = p."TENANT" AND l."INTERVAL_START" = p."INTERVAL_START"
    AND s."_LOAD_ID" = l."LOAD_ID"
