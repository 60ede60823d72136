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
