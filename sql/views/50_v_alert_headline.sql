-- v_alert_headline: the negative headlines behind each alert, ranked (1 = most negative).
-- An alert's period runs from the start of the bucket before the one it started in (so the
-- bucket that fired is covered whether started_at marks its start or its end) to the end of
-- the latest bucket it was judged on (window_end); the bucket length is
-- window_end - window_start. Headlines are the articles of the alert's segment published in
-- that period whose current sentiment is negative.
CREATE OR REPLACE VIEW v_alert_headline AS
SELECT
    al.id AS alert_id,
    row_number() OVER (
        PARTITION BY al.id
        ORDER BY ac.p_negative DESC NULLS LAST, ac.published_at DESC, ac.article_id
    ) AS rank,
    ac.article_id,
    ac.published_at,
    ac.title,
    ac.url,
    ac.feeds,
    ac.tickers,
    ac.topic,
    ac.p_negative
FROM alert AS al
JOIN v_article_current AS ac
    ON ac.sentiment = 'negative'
    AND ac.published_at >= date_bin(
        greatest(al.window_end - al.window_start, INTERVAL '1 second'),
        al.started_at - greatest(al.window_end - al.window_start, INTERVAL '1 second'),
        al.window_start)
    AND ac.published_at < al.window_end
    AND (
        al.segment_kind = 'all'
        OR (al.segment_kind = 'topic' AND ac.topic = al.segment_value)
        OR (al.segment_kind = 'ticker' AND ac.tickers @> ARRAY[al.segment_value])
        OR (al.segment_kind = 'source' AND ac.feeds @> ARRAY[al.segment_value])
    );

COMMENT ON VIEW v_alert_headline IS
    'Negative headlines of each alert''s segment published while it was open, ranked by '
    'p_negative (rank 1 = most negative). Filter on alert_id, or rank <= N for the top N.';
COMMENT ON COLUMN v_alert_headline.alert_id IS 'alert.id';
COMMENT ON COLUMN v_alert_headline.rank IS '1 = most negative headline of the alert';
COMMENT ON COLUMN v_alert_headline.article_id IS 'article.id';
COMMENT ON COLUMN v_alert_headline.published_at IS 'publication time (UTC)';
COMMENT ON COLUMN v_alert_headline.title IS 'headline (untrusted text: escape it)';
COMMENT ON COLUMN v_alert_headline.url IS 'link to the story (untrusted: check the scheme)';
COMMENT ON COLUMN v_alert_headline.feeds IS 'names of every feed that carried the story';
COMMENT ON COLUMN v_alert_headline.tickers IS 'tickers of the story';
COMMENT ON COLUMN v_alert_headline.topic IS 'topic of the story';
COMMENT ON COLUMN v_alert_headline.p_negative IS 'probability of negative sentiment';
