"""analyst views (v_*) and the indexes under their filters

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:00:00

The view SQL is copied into this file, not read from ``sql/views/*.sql`` at run time: a
migration must create the same schema forever, and reading the files would silently change
what this old revision does whenever a view is edited later. To change a view, edit its file
in ``sql/views/`` and add a new migration carrying the new text (CREATE OR REPLACE VIEW, or
DROP and CREATE when columns change). ``tests/integration/test_views.py`` fails while the
files and the migrated database disagree.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Bucket starts as the views compute them; the expression indexes must repeat them exactly
# for a filter on v_sentiment_hourly/daily.bucket_start to use them.
ORIGIN = "'2000-01-01 00:00:00+00'::timestamp with time zone"
HOUR_BUCKET = f"date_bin('01:00:00'::interval, published_at, {ORIGIN})"
DAY_BUCKET = f"date_bin('1 day'::interval, published_at, {ORIGIN})"

# (view name, its SQL as of this revision), in dependency order.
VIEWS: list[tuple[str, str]] = [
    # sql/views/10_v_article_current.sql
    ("v_article_current", """\
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
"""),
    # sql/views/20_v_article_segment.sql
    ("v_article_segment", """\
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
"""),
    # sql/views/30_v_sentiment_hourly.sql
    ("v_sentiment_hourly", """\
-- v_sentiment_hourly: per UTC hour and segment (all, topic, ticker, source): how many
-- classified articles, how many of each sentiment, and the negative share. Buckets with no
-- classified article have no row. Filtering on bucket_start uses the expression index
-- ix_article_published_hour on article.
CREATE OR REPLACE VIEW v_sentiment_hourly AS
SELECT
    date_bin('1 hour', s.published_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket_start,
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

COMMENT ON VIEW v_sentiment_hourly IS
    'Classified articles per UTC hour and segment, by sentiment, with the negative share. '
    'Filter on bucket_start (indexed) and segment_kind/segment_value.';
COMMENT ON COLUMN v_sentiment_hourly.bucket_start IS 'start of the UTC hour';
COMMENT ON COLUMN v_sentiment_hourly.segment_kind IS 'all, topic, ticker or source';
COMMENT ON COLUMN v_sentiment_hourly.segment_value IS 'all, the topic, the ticker or the feed name';
COMMENT ON COLUMN v_sentiment_hourly.articles IS 'classified articles in the bucket and segment';
COMMENT ON COLUMN v_sentiment_hourly.negative IS 'of which negative';
COMMENT ON COLUMN v_sentiment_hourly.neutral IS 'of which neutral';
COMMENT ON COLUMN v_sentiment_hourly.positive IS 'of which positive';
COMMENT ON COLUMN v_sentiment_hourly.negative_share IS 'negative / articles (0 to 1)';
COMMENT ON COLUMN v_sentiment_hourly.mean_p_negative IS 'mean probability of negative sentiment';
"""),
    # sql/views/40_v_sentiment_daily.sql
    ("v_sentiment_daily", """\
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
"""),
    # sql/views/50_v_alert_headline.sql
    ("v_alert_headline", """\
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
"""),
    # sql/views/60_v_alert_history.sql
    ("v_alert_history", """\
-- v_alert_history: one row per alert (pending, firing or resolved) with observed vs expected,
-- its notifications, and the top five negative headlines behind it (from v_alert_headline).
CREATE OR REPLACE VIEW v_alert_history AS
SELECT
    al.id AS alert_id,
    al.dedup_key,
    al.segment_kind,
    al.segment_value,
    al.state,
    al.started_at,
    al.last_firing_at,
    al.resolved_at,
    al.window_start,
    al.window_end,
    al.observed,
    al.expected,
    al.observed / nullif(al.expected, 0) AS ratio,
    al.negative_share,
    al.expected_share,
    al.score,
    d.notifications_sent,
    d.notifications_undelivered,
    h.negative_headlines,
    coalesce(h.top_headlines, '{}'::text[]) AS top_headlines
FROM alert AS al
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE ad.status = 'sent') AS notifications_sent,
        count(*) FILTER (WHERE ad.status IN ('failed', 'dead')) AS notifications_undelivered
    FROM alert_delivery AS ad
    WHERE ad.alert_id = al.id
) AS d
CROSS JOIN LATERAL (
    SELECT
        count(*) AS negative_headlines,
        array_agg(ah.title ORDER BY ah.rank) FILTER (WHERE ah.rank <= 5) AS top_headlines
    FROM v_alert_headline AS ah
    WHERE ah.alert_id = al.id
) AS h;

COMMENT ON VIEW v_alert_history IS
    'Every alert with observed vs expected, notification counts and its top five negative '
    'headlines. Filter on started_at (indexed), state or dedup_key.';
COMMENT ON COLUMN v_alert_history.alert_id IS 'alert.id (v_alert_headline.alert_id)';
COMMENT ON COLUMN v_alert_history.dedup_key IS 'segment identity, e.g. ticker:AAPL';
COMMENT ON COLUMN v_alert_history.segment_kind IS 'all, topic, ticker or source';
COMMENT ON COLUMN v_alert_history.segment_value IS 'the topic, ticker or feed name';
COMMENT ON COLUMN v_alert_history.state IS 'pending, firing or resolved';
COMMENT ON COLUMN v_alert_history.started_at IS 'when the alert opened';
COMMENT ON COLUMN v_alert_history.last_firing_at IS 'latest time it was judged firing';
COMMENT ON COLUMN v_alert_history.resolved_at IS 'when it resolved; NULL while open';
COMMENT ON COLUMN v_alert_history.window_start IS 'start of the latest bucket judged';
COMMENT ON COLUMN v_alert_history.window_end IS 'end of the latest bucket judged';
COMMENT ON COLUMN v_alert_history.observed IS 'negative articles observed in that bucket';
COMMENT ON COLUMN v_alert_history.expected IS 'negative articles the baseline expected';
COMMENT ON COLUMN v_alert_history.ratio IS 'observed / expected; NULL when expected is 0';
COMMENT ON COLUMN v_alert_history.negative_share IS 'observed negative share';
COMMENT ON COLUMN v_alert_history.expected_share IS 'negative share the baseline expected';
COMMENT ON COLUMN v_alert_history.score IS 'the detector''s spike score';
COMMENT ON COLUMN v_alert_history.notifications_sent IS 'notifications delivered';
COMMENT ON COLUMN v_alert_history.notifications_undelivered IS
    'notifications failed (will retry) or dead (gave up)';
COMMENT ON COLUMN v_alert_history.negative_headlines IS
    'negative headlines behind the alert (all ranks of v_alert_headline)';
COMMENT ON COLUMN v_alert_history.top_headlines IS
    'the five most negative headlines, most negative first';
"""),
    # sql/views/70_v_feed_health.sql
    ("v_feed_health", """\
-- v_feed_health: one row per feed: its state (ok, failing, never fetched, disabled), the
-- last error, what its fetches did in the last 24 hours, and how many stories it carried.
CREATE OR REPLACE VIEW v_feed_health AS
SELECT
    f.id AS feed_id,
    f.name AS feed_name,
    f.url,
    f.enabled,
    CASE
        WHEN NOT f.enabled THEN 'disabled'
        WHEN f.last_attempt_at IS NULL THEN 'never fetched'
        WHEN f.consecutive_failures > 0 THEN 'failing'
        ELSE 'ok'
    END AS status,
    f.consecutive_failures,
    f.last_attempt_at,
    f.last_success_at,
    f.last_http_status,
    f.last_error,
    x.fetches_24h,
    x.failed_24h,
    x.not_modified_24h,
    x.bozo_24h,
    x.new_24h,
    x.mean_duration_ms_24h,
    a.articles,
    a.last_published_at
FROM feed AS f
CROSS JOIN LATERAL (
    SELECT
        count(*) AS fetches_24h,
        count(*) FILTER (WHERE ff.error IS NOT NULL) AS failed_24h,
        count(*) FILTER (WHERE ff.not_modified) AS not_modified_24h,
        count(*) FILTER (WHERE ff.bozo) AS bozo_24h,
        coalesce(sum(ff.new), 0) AS new_24h,
        avg(ff.duration_ms)::double precision AS mean_duration_ms_24h
    FROM feed_fetch AS ff
    WHERE ff.feed_id = f.id AND ff.fetched_at >= now() - INTERVAL '24 hours'
) AS x
CROSS JOIN LATERAL (
    SELECT count(*) AS articles, max(ar.published_at) AS last_published_at
    FROM article_feed AS af
    JOIN article AS ar ON ar.id = af.article_id
    WHERE af.feed_id = f.id
) AS a;

COMMENT ON VIEW v_feed_health IS
    'Each feed''s state, last error and its fetches in the last 24 hours (relative to now()).';
COMMENT ON COLUMN v_feed_health.feed_id IS 'feed.id';
COMMENT ON COLUMN v_feed_health.feed_name IS 'feed.name (the source segment value)';
COMMENT ON COLUMN v_feed_health.url IS 'feed URL';
COMMENT ON COLUMN v_feed_health.enabled IS 'false: no longer polled';
COMMENT ON COLUMN v_feed_health.status IS 'ok, failing, never fetched or disabled';
COMMENT ON COLUMN v_feed_health.consecutive_failures IS 'failed fetches since the last success';
COMMENT ON COLUMN v_feed_health.last_attempt_at IS 'latest fetch attempt';
COMMENT ON COLUMN v_feed_health.last_success_at IS 'latest successful fetch';
COMMENT ON COLUMN v_feed_health.last_http_status IS 'HTTP status of the latest attempt';
COMMENT ON COLUMN v_feed_health.last_error IS 'why the latest attempt failed; NULL when ok';
COMMENT ON COLUMN v_feed_health.fetches_24h IS 'fetches in the last 24 hours';
COMMENT ON COLUMN v_feed_health.failed_24h IS 'of which failed';
COMMENT ON COLUMN v_feed_health.not_modified_24h IS 'of which answered 304 Not Modified';
COMMENT ON COLUMN v_feed_health.bozo_24h IS 'of which were ill-formed but parsed (feedparser bozo)';
COMMENT ON COLUMN v_feed_health.new_24h IS 'new articles stored from it in the last 24 hours';
COMMENT ON COLUMN v_feed_health.mean_duration_ms_24h IS 'mean fetch duration (ms), last 24 hours';
COMMENT ON COLUMN v_feed_health.articles IS 'articles it has carried, all time';
COMMENT ON COLUMN v_feed_health.last_published_at IS 'newest publication time among them';
"""),
]


def upgrade() -> None:
    op.create_index("ix_article_published_hour", "article", [sa.text(HOUR_BUCKET)])
    op.create_index("ix_article_published_day", "article", [sa.text(DAY_BUCKET)])
    op.create_index("ix_classification_model_id_topic", "classification", ["model_id", "topic"])
    connection = op.get_bind()
    for _name, sql in VIEWS:
        connection.exec_driver_sql(sql)


def downgrade() -> None:
    for name, _sql in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_index("ix_classification_model_id_topic", table_name="classification")
    op.drop_index("ix_article_published_day", table_name="article")
    op.drop_index("ix_article_published_hour", table_name="article")
