-- Which feeds need attention: failing now, never fetched, a failed fetch in the last
-- 24 hours, or no new story in the last 24 hours? (Disabled feeds are left out.)
--
-- Parameters: none (the 24 hours end now).
-- Columns: feed name, status, consecutive failures, the last error, fetches and failed
-- fetches in the last 24 hours, new articles in the last 24 hours, last successful fetch.
-- Rows: the longest-failing feed first.
--
--   psql "$URL" -f sql/queries/feeds_needing_attention.sql
SELECT
    feed_name,
    status,
    consecutive_failures,
    last_error,
    fetches_24h,
    failed_24h,
    new_24h,
    last_success_at
FROM v_feed_health
WHERE enabled
  AND (status <> 'ok' OR failed_24h > 0 OR new_24h = 0)
ORDER BY consecutive_failures DESC, failed_24h DESC, feed_name;
