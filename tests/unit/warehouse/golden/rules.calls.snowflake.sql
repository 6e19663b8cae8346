-- Row rules of suite 'calls' as landed, compiled for Snowflake.

-- expect_column_values_to_not_be_null(call_id)
-- params: []
"CALL_ID" IS NULL;

-- expect_column_values_to_not_be_null(deal_id)
-- params: []
"DEAL_ID" IS NULL;

-- expect_column_values_to_not_be_null(duration_seconds)
-- params: []
"DURATION_SECONDS" IS NULL;

-- expect_column_values_to_not_be_null(updated_at)
-- params: []
"UPDATED_AT" IS NULL;

-- expect_column_values_to_be_between(duration_seconds)
-- params: [0.0, 14400.0]
NOT "DURATION_SECONDS" IS NULL AND NOT ("DURATION_SECONDS" >= ? AND "DURATION_SECONDS" <= ?);

-- expect_column_values_to_be_between(sentiment)
-- params: [-1.0, 1.0]
NOT ("SENTIMENT" IS NULL OR "SENTIMENT" = CAST('NaN' AS DOUBLE)) AND NOT ("SENTIMENT" >= ? AND "SENTIMENT" <= ?);
