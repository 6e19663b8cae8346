-- Idempotent publish: insert new keys, update a key only with a strictly newer cursor value, so an
-- older or repeated version never overwrites a newer one and a rerun changes nothing.
MERGE INTO {curated} t
USING "BATCH_NEWEST" s
ON {on}
WHEN MATCHED AND s.{cursor} > t.{cursor} THEN UPDATE SET {updates}
WHEN NOT MATCHED THEN INSERT ({inserts}) VALUES ({values})
