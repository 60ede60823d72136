-- Which topics' negative share rose most today, compared with the 7 days before?
--
-- "Today" is the UTC day that contains as_of, up to as_of; the baseline is the 7 UTC days
-- before it.
-- Parameters:
--   as_of   e.g. -v as_of=now or -v as_of='2026-11-20 12:00Z'
-- Columns: topic; classified and negative articles and negative share today and in the 7 days
-- before; rise = share_today - share_before (NULL for a topic with no history).
-- Rows: every topic with an article today, largest rise first, topics without history last.
--
--   psql "$URL" -v as_of=now -f sql/queries/topics_negative_share_rising_today.sql
WITH days AS (
    SELECT
        s.segment_value AS topic,
        count(*) FILTER (WHERE s.published_at >= date_bin('1 day',
            CAST(:'as_of' AS timestamptz), TIMESTAMPTZ '2000-01-01 00:00:00+00')) AS articles_today,
        count(*) FILTER (WHERE s.published_at >= date_bin('1 day',
            CAST(:'as_of' AS timestamptz), TIMESTAMPTZ '2000-01-01 00:00:00+00')
            AND s.sentiment = 'negative') AS negative_today,
        count(*) FILTER (WHERE s.published_at < date_bin('1 day',
            CAST(:'as_of' AS timestamptz), TIMESTAMPTZ '2000-01-01 00:00:00+00')) AS articles_before,
        count(*) FILTER (WHERE s.published_at < date_bin('1 day',
            CAST(:'as_of' AS timestamptz), TIMESTAMPTZ '2000-01-01 00:00:00+00')
            AND s.sentiment = 'negative') AS negative_before
    FROM v_article_segment AS s
    WHERE s.segment_kind = 'topic'
      AND s.published_at >= date_bin('1 day', CAST(:'as_of' AS timestamptz),
                                     TIMESTAMPTZ '2000-01-01 00:00:00+00') - INTERVAL '7 days'
      AND s.published_at < CAST(:'as_of' AS timestamptz)
    GROUP BY s.segment_value
),
shares AS (
    SELECT
        *,
        round(negative_today::numeric / nullif(articles_today, 0), 3) AS share_today,
        round(negative_before::numeric / nullif(articles_before, 0), 3) AS share_before
    FROM days
)
SELECT
    topic, articles_today, negative_today, share_today,
    articles_before, negative_before, share_before,
    share_today - share_before AS rise
FROM shares
WHERE articles_today > 0
ORDER BY rise DESC NULLS LAST, share_today DESC, topic;
