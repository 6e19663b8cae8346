-- Cast a load's raw text columns to the schema and append them to staging under the load's id.
-- {casts}: <cast expression> AS "<COLUMN>" per schema column   {cast_failures}: ARRAY_CONSTRUCT_COMPACT(...)
-- {raw_record}: TO_JSON(OBJECT_CONSTRUCT_KEEP_NULL('<name>', "<COLUMN>", ...))
-- _LOADED_AT is when the batch was extracted and landed; the business date stays its own column.
INSERT INTO {staging} ({columns}, "_RECORD_NUM", "_TENANT_ID", "_RUN_ID", "_INTERVAL_START", "_INTERVAL_END",
    "_LOADED_AT", "_RAW_RECORD", "_EXTRA_JSON", "_CAST_FAILURES", "_LOAD_ID")
SELECT {casts}, r."_RECORD_NUM", p."TENANT", p."RUN_ID", p."INTERVAL_START", p."INTERVAL_END",
    p."LOADED_AT", {raw_record}, r."_EXTRA_JSON", {cast_failures}, p."LOAD_ID"
FROM {raw_table} r CROSS JOIN "SALESTALK_BATCH" p
