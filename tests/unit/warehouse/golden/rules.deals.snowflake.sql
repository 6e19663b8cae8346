-- Row rules of suite 'deals' as landed, compiled for Snowflake.

-- expect_column_values_to_not_be_null(deal_id)
-- params: []
"DEAL_ID" IS NULL;

-- expect_column_values_to_not_be_null(stage)
-- params: []
"STAGE" IS NULL;

-- expect_column_values_to_not_be_null(amount)
-- params: []
("AMOUNT" IS NULL OR "AMOUNT" = CAST('NaN' AS DOUBLE));

-- expect_column_values_to_not_be_null(currency)
-- params: []
"CURRENCY" IS NULL;

-- expect_column_values_to_not_be_null(updated_at)
-- params: []
"UPDATED_AT" IS NULL;

-- expect_column_values_to_be_between(amount)
-- params: [0.0, 10000000.0]
NOT ("AMOUNT" IS NULL OR "AMOUNT" = CAST('NaN' AS DOUBLE)) AND NOT ("AMOUNT" >= ? AND "AMOUNT" <= ?);

-- expect_column_values_to_be_in_set(stage)
-- params: ["prospecting", "qualified", "proposal", "negotiation", "closed_won", "closed_lost"]
NOT "STAGE" IS NULL AND "STAGE" NOT IN (?, ?, ?, ?, ?, ?);

-- expect_column_values_to_be_in_set(currency)
-- params: ["USD", "EUR", "GBP"]
NOT "CURRENCY" IS NULL AND "CURRENCY" NOT IN (?, ?, ?);
