-- v_sentiment_daily: per UTC day and segment (all, topic, ticker, source): how many
-- classified articles, how many of each sentiment, and the negative share. Buckets with no
-- classified article have no row. Filtering on bucket_start uses the expression index
-- ix_article_published_day on article.
CREATE OR REPLACE VIEW v_sentiment_daily AS
SELECT
    date_bin('1 day', s.published_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket_start,
    s.segment_kind,
    s.segment_value,
    count(*) AS articles,
    count(*) FILTER (WHERE s.sentiment = 'negative') AS negative,
    count(*) FILTER (WHERE s.sentiment = 'neutral') AS neutral,
    count(*) FILTER (WHERE s.sentiment = 'positive') AS positive,
    (count(*) FILTER (WHERE s.sentiment = 'negative'))::double precision / count(*)
        AS negative_share,
    avg(s.p_negative) AS mean_p_negative
FROM v_article_segment AS s
GROUP BY 1, 2, 3;

COMMENT ON VIEW v_sentiment_daily IS
    'Classified articles per UTC day and segment, by sentiment, with the negative share. '
    'Filter on bucket_start (indexed) and segment_kind/segment_value.';
COMMENT ON COLUMN v_sentiment_daily.bucket_start IS 'start of the UTC day';
COMMENT ON COLUMN v_sentiment_daily.segment_kind IS 'all, topic, ticker or source';
COMMENT ON COLUMN v_sentiment_daily.segment_value IS 'all, the topic, the ticker or the feed name';
COMMENT ON COLUMN v_sentiment_daily.articles IS 'classified articles in the bucket and segment';
COMMENT ON COLUMN v_sentiment_daily.negative IS 'of which negative';
COMMENT ON COLUMN v_sentiment_daily.neutral IS 'of which neutral';
COMMENT ON COLUMN v_sentiment_daily.positive IS 'of which positive';
COMMENT ON COLUMN v_sentiment_daily.negative_share IS 'negative / articles (0 to 1)';
COMMENT ON COLUMN v_sentiment_daily.mean_p_negative IS 'mean probability of negative sentiment';
