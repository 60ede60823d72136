-- v_article_segment: each classified article once per segment it belongs to, the same
-- segments the alerts use: all, topic, ticker (one row per ticker) and source (one row per
-- feed that carried it). The bucketed views below aggregate this.
CREATE OR REPLACE VIEW v_article_segment AS
SELECT ac.article_id, ac.published_at, 'all'::text AS segment_kind, 'all'::text AS segment_value,
       ac.sentiment, ac.p_negative
FROM v_article_current AS ac
WHERE ac.sentiment IS NOT NULL
UNION ALL
SELECT ac.article_id, ac.published_at, 'topic', ac.topic::text, ac.sentiment, ac.p_negative
FROM v_article_current AS ac
WHERE ac.sentiment IS NOT NULL AND ac.topic IS NOT NULL
UNION ALL
SELECT ac.article_id, ac.published_at, 'ticker', t.ticker, ac.sentiment, ac.p_negative
FROM v_article_current AS ac
CROSS JOIN LATERAL unnest(ac.tickers) AS t (ticker)
WHERE ac.sentiment IS NOT NULL
UNION ALL
SELECT ac.article_id, ac.published_at, 'source', s.feed, ac.sentiment, ac.p_negative
FROM v_article_current AS ac
CROSS JOIN LATERAL unnest(ac.feeds) AS s (feed)
WHERE ac.sentiment IS NOT NULL;

COMMENT ON VIEW v_article_segment IS
    'Each classified article once per segment: (all, all), (topic, <topic>), '
    '(ticker, <ticker>) per ticker, (source, <feed name>) per feed that carried it. '
    'Matches alert.segment_kind / segment_value.';
COMMENT ON COLUMN v_article_segment.article_id IS 'article.id';
COMMENT ON COLUMN v_article_segment.published_at IS 'publication time (UTC)';
COMMENT ON COLUMN v_article_segment.segment_kind IS 'all, topic, ticker or source';
COMMENT ON COLUMN v_article_segment.segment_value IS
    'all, the topic, the ticker or the feed name';
COMMENT ON COLUMN v_article_segment.sentiment IS 'current sentiment (never NULL here)';
COMMENT ON COLUMN v_article_segment.p_negative IS 'probability of negative sentiment';
