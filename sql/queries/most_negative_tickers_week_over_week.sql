-- Which tickers drew the most negative news in the last 7 days, and how does that compare
-- with the 7 days before?
--
-- Parameters are psql variables (from Python, sentinel.report.queries.load_query turns them
-- into bind parameters).
-- Parameters:
--   as_of   end of "this week" (exclusive), e.g. -v as_of=now or -v as_of='2026-11-20 12:00Z'
-- Columns: ticker; negative articles, classified articles and negative share this week and
-- last week; change = negative this week - negative last week.
-- Rows: every ticker with a negative article in either week, most negative this week first.
--
--   psql "$URL" -v as_of=now -f sql/queries/most_negative_tickers_week_over_week.sql
WITH weekly AS (
    SELECT
        s.segment_value AS ticker,
        count(*) FILTER (WHERE s.published_at >= CAST(:'as_of' AS timestamptz) - INTERVAL '7 days')
            AS articles_this_week,
        count(*) FILTER (WHERE s.published_at >= CAST(:'as_of' AS timestamptz) - INTERVAL '7 days'
                           AND s.sentiment = 'negative') AS negative_this_week,
        count(*) FILTER (WHERE s.published_at < CAST(:'as_of' AS timestamptz) - INTERVAL '7 days')
            AS articles_last_week,
        count(*) FILTER (WHERE s.published_at < CAST(:'as_of' AS timestamptz) - INTERVAL '7 days'
                           AND s.sentiment = 'negative') AS negative_last_week
    FROM v_article_segment AS s
    WHERE s.segment_kind = 'ticker'
      AND s.published_at >= CAST(:'as_of' AS timestamptz) - INTERVAL '14 days'
      AND s.published_at < CAST(:'as_of' AS timestamptz)
    GROUP BY s.segment_value
)
SELECT
    ticker,
    negative_this_week,
    articles_this_week,
    round(negative_this_week::numeric / nullif(articles_this_week, 0), 3) AS share_this_week,
    negative_last_week,
    articles_last_week,
    round(negative_last_week::numeric / nullif(articles_last_week, 0), 3) AS share_last_week,
    negative_this_week - negative_last_week AS change
FROM weekly
WHERE negative_this_week > 0 OR negative_last_week > 0
ORDER BY negative_this_week DESC, change DESC, ticker
LIMIT 50;
