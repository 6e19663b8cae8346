-- Row rules of suite 'product_usage' as landed, compiled for Snowflake.

-- expect_column_values_to_not_be_null(event_id)
-- params: []
"EVENT_ID" IS NULL;

-- expect_column_values_to_not_be_null(user_id)
-- params: []
"USER_ID" IS NULL;

-- expect_column_values_to_not_be_null(feature)
-- params: []
"FEATURE" IS NULL;

-- expect_column_values_to_not_be_null(event_count)
-- params: []
"EVENT_COUNT" IS NULL;

-- expect_column_values_to_not_be_null(usage_date)
-- params: []
"USAGE_DATE" IS NULL;

-- expect_column_values_to_not_be_null(updated_at)
-- params: []
"UPDATED_AT" IS NULL;

-- expect_column_values_to_be_between(event_count)
-- params: [0.0, 1000000.0]
NOT "EVENT_COUNT" IS NULL AND NOT ("EVENT_COUNT" >= ? AND "EVENT_COUNT" <= ?);

-- expect_column_values_to_be_in_set(feature)
-- params: ["transcription", "summary", "coaching", "forecast"]
NOT "FEATURE" IS NULL AND "FEATURE" NOT IN (?, ?, ?, ?);
