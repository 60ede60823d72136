-- Which alerts opened in the last 30 days, and which headlines were behind each?
--
-- Every alert opened in the 30 days before as_of, with its three most negative headlines.
--
-- Parameters:
--   as_of   e.g. -v as_of=now or -v as_of='2026-11-22'
-- Columns: the alert (id, segment, state, when it started and resolved, observed vs expected
-- negative articles, their ratio) and, one row each, its top three headlines (rank, title,
-- url, the feeds that carried it). An alert without negative headlines has one row with
-- NULL rank.
-- Rows: newest alert first; headlines by rank.
--
--   psql "$URL" -v as_of=now -f sql/queries/alerts_last_month_with_headlines.sql
SELECT
    h.alert_id,
    h.dedup_key,
    h.state,
    h.started_at,
    h.resolved_at,
    h.observed,
    h.expected,
    round(h.ratio::numeric, 2) AS ratio,
    ah.rank,
    ah.title,
    ah.url,
    array_to_string(ah.feeds, ', ') AS sources
FROM v_alert_history AS h
LEFT JOIN v_alert_headline AS ah ON ah.alert_id = h.alert_id AND ah.rank <= 3
WHERE h.started_at >= CAST(:'as_of' AS timestamptz) - INTERVAL '30 days'
  AND h.started_at < CAST(:'as_of' AS timestamptz)
ORDER BY h.started_at DESC, h.alert_id, ah.rank;
