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
