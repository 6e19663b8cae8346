-- Snowflake version of include/sql/insight_summary.sql: same rows (metric, stage, currency, value).
--
-- Reads the temp views INSIGHT_DEALS, INSIGHT_CALLS and INSIGHT_PUBLISHES that the Snowflake backend
-- creates on the same session (empty and typed when a table does not exist yet). The five values are
-- bound once, positionally, in the PARAMS CTE:
--   tenant, period_start (inclusive instant), period_end (exclusive instant), first_day, last_day.
WITH
params AS (
    SELECT
        CAST(? AS VARCHAR) AS tenant,
        CAST(? AS TIMESTAMP_TZ) AS period_start,
        CAST(? AS TIMESTAMP_TZ) AS period_end,
        CAST(? AS DATE) AS first_day,
        CAST(? AS DATE) AS last_day
),
deals AS (
    SELECT
        d.deal_id,
        coalesce(d.stage, 'unknown') AS stage,
        coalesce(d.currency, 'unknown') AS currency,
        CAST(round(d.amount, 2) AS NUMBER(18, 2)) AS amount,
        coalesce(d.stage, '') NOT IN ('closed_won', 'closed_lost') AS is_open,
        d.updated_at
    FROM insight_deals d CROSS JOIN params p
    WHERE d._tenant_id = p.tenant
),
known_deals AS (SELECT d.* FROM deals d CROSS JOIN params p WHERE d.updated_at < p.period_end),
period_deals AS (SELECT d.* FROM known_deals d CROSS JOIN params p WHERE d.updated_at >= p.period_start),
period_calls AS (
    SELECT c.duration_seconds, CAST(c.sentiment AS NUMBER(18, 6)) AS sentiment
    FROM insight_calls c CROSS JOIN params p
    WHERE c._tenant_id = p.tenant AND c.call_date BETWEEN p.first_day AND p.last_day
),
changes AS (
    SELECT max(d._loaded_at) AS changed_at FROM insight_deals d CROSS JOIN params p WHERE d._tenant_id = p.tenant
    UNION ALL
    SELECT max(c._loaded_at) FROM insight_calls c CROSS JOIN params p WHERE c._tenant_id = p.tenant
    UNION ALL
    SELECT max(b.recorded_at) FROM insight_publishes b CROSS JOIN params p WHERE b.tenant = p.tenant
),
metrics AS (
    SELECT 'deals_updated' AS metric, NULL AS stage, NULL AS currency, CAST(count(*) AS NUMBER(38, 6)) AS value
    FROM period_deals
    UNION ALL
    SELECT 'deals_won', NULL, NULL, count_if(stage = 'closed_won') FROM period_deals
    UNION ALL
    SELECT 'deals_lost', NULL, NULL, count_if(stage = 'closed_lost') FROM period_deals
    UNION ALL
    SELECT 'deals_updated_by_stage', stage, NULL, count(*) FROM period_deals GROUP BY stage
    UNION ALL
    SELECT 'won_amount', NULL, currency, sum(amount)
    FROM period_deals WHERE stage = 'closed_won' AND amount IS NOT NULL GROUP BY currency
    UNION ALL
    SELECT 'open_deals', NULL, NULL, count_if(is_open) FROM known_deals
    UNION ALL
    SELECT 'open_deals_by_stage', stage, NULL, count(*) FROM known_deals WHERE is_open GROUP BY stage
    UNION ALL
    SELECT 'open_pipeline_amount', NULL, currency, sum(amount)
    FROM known_deals WHERE is_open AND amount IS NOT NULL GROUP BY currency
    UNION ALL
    SELECT 'open_pipeline_amount_by_stage', stage, currency, sum(amount)
    FROM known_deals WHERE is_open AND amount IS NOT NULL GROUP BY stage, currency
    UNION ALL
    SELECT 'calls', NULL, NULL, count(*) FROM period_calls
    UNION ALL
    SELECT 'calls_with_duration', NULL, NULL, count(duration_seconds) FROM period_calls
    UNION ALL
    SELECT 'call_duration_seconds_total', NULL, NULL, coalesce(sum(duration_seconds), 0) FROM period_calls
    UNION ALL
    SELECT 'calls_with_sentiment', NULL, NULL, count(sentiment) FROM period_calls
    UNION ALL
    SELECT 'sentiment_total', NULL, NULL, coalesce(sum(sentiment), 0) FROM period_calls
    UNION ALL
    -- Epoch microseconds of the latest change (NULL when nothing was ever published for the tenant).
    SELECT 'inputs_changed_at_us', NULL, NULL, date_part(epoch_microsecond, max(changed_at)) FROM changes
)
SELECT metric, stage, currency, CAST(value AS NUMBER(38, 6)) AS value
FROM metrics ORDER BY metric, stage NULLS FIRST, currency NULLS FIRST
