-- Row rules of suite 'classifications' as landed, compiled for Snowflake.

-- expect_column_values_to_not_be_null(request_id)
-- params: []
"REQUEST_ID" IS NULL;

-- expect_column_values_to_not_be_null(classified_at)
-- params: []
"CLASSIFIED_AT" IS NULL;

-- expect_column_values_to_not_be_null(intent)
-- params: []
"INTENT" IS NULL;

-- expect_column_values_to_be_in_set(intent)
-- params: ["pricing", "objection", "scheduling", "competitor", "churn_risk", "other"]
NOT "INTENT" IS NULL AND "INTENT" NOT IN (?, ?, ?, ?, ?, ?);

-- expect_column_values_to_be_in_set(subject_type)
-- params: ["call", "email", "meeting"]
NOT "SUBJECT_TYPE" IS NULL AND "SUBJECT_TYPE" NOT IN (?, ?, ?);

-- expect_column_values_to_not_be_null(confidence_overall)
-- params: []
("CONFIDENCE_OVERALL" IS NULL OR "CONFIDENCE_OVERALL" = CAST('NaN' AS DOUBLE));

-- expect_column_values_to_be_between(confidence_overall)
-- params: [0, 1]
NOT ("CONFIDENCE_OVERALL" IS NULL OR "CONFIDENCE_OVERALL" = CAST('NaN' AS DOUBLE)) AND NOT ("CONFIDENCE_OVERALL" >= ? AND "CONFIDENCE_OVERALL" <= ?);
