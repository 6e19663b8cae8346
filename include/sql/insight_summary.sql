-- One tenant's insight summary over one period, as long-format rows: (metric, stage, currency, value).
--
-- Run by salestalk.insights.compute_insight_summary. It reads three temp views that module creates on
-- the same connection: insight_deals (over curated.deals), insight_calls (over curated.calls) and
-- insight_publishes (the publish steps of deals and calls in audit.batch_results). A view over a table
-- that does not exist yet is empty, so a source that never ran gives zeros.
--
-- Written once, in DuckDB's dialect; other warehouses run its sqlglot transpilation (the Snowflake text
-- is pinned by tests/unit/warehouse/golden/insight_summary.snowflake.sql). The five values are bound
-- once, positionally, in the params CTE:
--   tenant        the canonical tenant id (already checked by validate_tenant_id)
--   period_start  first instant of the period, '2026-11-01T00:00:00Z' (inclusive)
--   period_end    first instant after the period, '2026-11-02T00:00:00Z' (exclusive)
--   first_day     first day of the period (DATE, inclusive)
--   last_day      last day of the period (DATE, inclusive)
--
-- Amounts are rounded to cents and summed as DECIMAL, and sentiment as DECIMAL(18, 6), so the sums are
-- exact and the same on every run whatever order DuckDB aggregates in: a recompute over unchanged data
-- must give a byte-identical item. Averages are divided out in Python from the exact sums and counts.
WITH
params AS (
    SELECT
        CAST(? AS VARCHAR) AS tenant,
        CAST(? AS TIMESTAMPTZ) AS period_start,
        CAST(? AS TIMESTAMPTZ) AS period_end,
        CAST(? AS DATE) AS first_day,
        CAST(? AS DATE) AS last_day
),
deals AS (
    SELECT
        d.deal_id,
        coalesce(d.stage, 'unknown') AS stage,
        coalesce(d.currency, 'unknown') AS currency,
        CAST(round(d.amount, 2) AS DECIMAL(18, 2)) AS amount,
        coalesce(d.stage, '') NOT IN ('closed_won', 'closed_lost') AS is_open,
        d.updated_at
    FROM insight_deals d CROSS JOIN params p
    WHERE d._tenant_id = p.tenant
),
-- The newest known version of every deal last updated before the period ended: the pipeline "as of"
-- the end of the period (curated keeps the newest version only).
known_deals AS (SELECT d.* FROM deals d CROSS JOIN params p WHERE d.updated_at < p.period_end),
period_deals AS (SELECT d.* FROM known_deals d CROSS JOIN params p WHERE d.updated_at >= p.period_start),
period_calls AS (
    SELECT c.duration_seconds, CAST(c.sentiment AS DECIMAL(18, 6)) AS sentiment
    FROM insight_calls c CROSS JOIN params p
    WHERE c._tenant_id = p.tenant AND c.call_date BETWEEN p.first_day AND p.last_day
),
-- When this tenant's inputs last changed: every publish that changed curated rows set their _loaded_at,
-- and every publish (even one that changed nothing) is recorded in audit.batch_results.
changes AS (
    SELECT max(d._loaded_at) AS changed_at FROM insight_deals d CROSS JOIN params p WHERE d._tenant_id = p.tenant
    UNION ALL
    SELECT max(c._loaded_at) FROM insight_calls c CROSS JOIN params p WHERE c._tenant_id = p.tenant
    UNION ALL
    SELECT max(b.recorded_at) FROM insight_publishes b CROSS JOIN params p WHERE b.tenant = p.tenant
),
metrics AS (
    SELECT 'deals_updated' AS metric, NULL AS stage, NULL AS currency, CAST(count(*) AS DECIMAL(38, 6)) AS value
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
    -- Epoch seconds of the latest change (NULL when nothing was ever published for the tenant).
    SELECT 'inputs_changed_at_s', NULL, NULL, floor(extract(epoch FROM max(changed_at))) FROM changes
)
SELECT metric, stage, currency, CAST(value AS DECIMAL(38, 6)) AS value
FROM metrics ORDER BY metric, stage NULLS FIRST, currency NULLS FIRST
