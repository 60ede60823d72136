-- v_article_current: every article with its current classification, feeds and tickers.
-- "Current" = made by the active model (model.active) for the article's present text
-- (classification.content_hash = article.content_hash). Articles the active model has not
-- classified yet (new, or edited since) keep their row with NULL sentiment and topic.
CREATE OR REPLACE VIEW v_article_current AS
SELECT
    a.id AS article_id,
    a.published_at,
    a.title,
    a.url,
    a.tickers,
    coalesce(f.feeds, '{}'::text[]) AS feeds,
    c.sentiment,
    c.p_negative,
    c.p_neutral,
    c.p_positive,
    c.topic,
    c.topic_prob,
    c.model_id,
    c.created_at AS classified_at,
    a.date_flag
FROM article AS a
LEFT JOIN model AS m ON m.active
LEFT JOIN classification AS c
    ON c.article_id = a.id AND c.model_id = m.id AND c.content_hash = a.content_hash
LEFT JOIN LATERAL (
    SELECT array_agg(fd.name::text ORDER BY fd.name) AS feeds
    FROM article_feed AS af
    JOIN feed AS fd ON fd.id = af.feed_id
    WHERE af.article_id = a.id
) AS f ON true;

COMMENT ON VIEW v_article_current IS
    'One row per article with the active model''s classification of its current text '
    '(NULL sentiment/topic until classified). Filter by published_at (indexed), '
    'topic (indexed) or tickers @> ARRAY[''TICKER''] (GIN-indexed).';
COMMENT ON COLUMN v_article_current.article_id IS 'article.id';
COMMENT ON COLUMN v_article_current.published_at IS
    'publication time (UTC); fetch time when the feed gave none (see date_flag)';
COMMENT ON COLUMN v_article_current.title IS 'headline as published (untrusted text: escape it)';
COMMENT ON COLUMN v_article_current.url IS 'link to the story (untrusted: check the scheme)';
COMMENT ON COLUMN v_article_current.tickers IS 'tickers found in the text or via the watchlist';
COMMENT ON COLUMN v_article_current.feeds IS 'names of every feed that carried the story';
COMMENT ON COLUMN v_article_current.sentiment IS
    'negative, neutral or positive; NULL when the active model has not classified this text';
COMMENT ON COLUMN v_article_current.p_negative IS 'probability of negative sentiment';
COMMENT ON COLUMN v_article_current.p_neutral IS 'probability of neutral sentiment';
COMMENT ON COLUMN v_article_current.p_positive IS 'probability of positive sentiment';
COMMENT ON COLUMN v_article_current.topic IS 'one of the model''s financial topics';
COMMENT ON COLUMN v_article_current.topic_prob IS 'probability of that topic';
COMMENT ON COLUMN v_article_current.model_id IS 'model.id of the active model that classified it';
COMMENT ON COLUMN v_article_current.classified_at IS 'when the classification was written';
COMMENT ON COLUMN v_article_current.date_flag IS
    'NULL, ''missing'' (fetch time used) or ''future'' (clamped)';
