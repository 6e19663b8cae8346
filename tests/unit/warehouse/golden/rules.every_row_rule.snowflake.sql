-- Every supported row rule, compiled for Snowflake.

-- expect_column_values_to_not_be_null(s)
-- params: []
"S" IS NULL;

-- expect_column_values_to_not_be_null(f)
-- params: []
("F" IS NULL OR "F" = CAST('NaN' AS DOUBLE));

-- expect_column_values_to_be_null(i)
-- params: []
NOT "I" IS NULL;

-- expect_column_values_to_be_between(f)
-- params: [0, 1]
NOT ("F" IS NULL OR "F" = CAST('NaN' AS DOUBLE)) AND NOT ("F" >= ? AND "F" <= ?);

-- expect_column_values_to_be_between(i)
-- params: [1]
NOT "I" IS NULL AND NOT ("I" > ?);

-- expect_column_values_to_be_between(d)
-- params: ["2020-01-01", "2030-12-31"]
NOT "D" IS NULL AND NOT ("D" >= ? AND "D" <= ?);

-- expect_column_values_to_be_in_set(s)
-- params: ["a", "b"]
NOT "S" IS NULL AND "S" NOT IN (?, ?);

-- expect_column_values_to_be_in_set(i)
-- params: []
NOT "I" IS NULL;

-- expect_column_values_to_not_be_in_set(s)
-- params: ["x"]
NOT "S" IS NULL AND "S" IN (?);

-- expect_column_values_to_match_regex(s)
-- params: ["([a-z]+@[a-z]+)\\n?"]
NOT "S" IS NULL AND NOT REGEXP_LIKE(CAST("S" AS VARCHAR), ?, 's');

-- expect_column_values_to_not_match_regex(s)
-- params: [".*([0-9]).*"]
NOT "S" IS NULL AND REGEXP_LIKE(CAST("S" AS VARCHAR), ?, 's');

-- expect_column_value_lengths_to_be_between(s)
-- params: [1, 3]
NOT "S" IS NULL AND NOT (LENGTH(CAST("S" AS VARCHAR)) >= ? AND LENGTH(CAST("S" AS VARCHAR)) <= ?);

-- expect_column_value_lengths_to_equal(s)
-- params: [2]
NOT "S" IS NULL AND LENGTH(CAST("S" AS VARCHAR)) <> ?;

-- expect_column_values_to_be_unique(s)
-- params: []
NOT "S" IS NULL AND "S" IN (SELECT "S" FROM "BATCH_ROWS" WHERE NOT "S" IS NULL GROUP BY "S" HAVING COUNT(*) > 1);
