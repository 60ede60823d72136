-- How did news about one ticker move, hour by hour?
--
-- Every UTC hour from since to until, including hours without news (zeros, NULL share).
-- Parameters:
--   ticker  e.g. -v ticker=HLVP
--   since   e.g. -v since='2026-11-20 00:00Z'
--   until   exclusive, e.g. -v until=now
-- Columns: bucket_start (UTC hour), classified articles, negative / neutral / positive counts,
-- negative share and mean probability of negative sentiment.
--
--   psql "$URL" -v ticker=HLVP -v since='2026-11-20' -v until=now \
--        -f sql/queries/ticker_sentiment_by_hour.sql
SELECT
    g.hour AS bucket_start,
    coalesce(v.articles, 0) AS articles,
    coalesce(v.negative, 0) AS negative,
    coalesce(v.neutral, 0) AS neutral,
    coalesce(v.positive, 0) AS positive,
    round(v.negative_share::numeric, 3) AS negative_share,
    round(v.mean_p_negative::numeric, 3) AS mean_p_negative
FROM generate_series(
    date_bin('1 hour', CAST(:'since' AS timestamptz), TIMESTAMPTZ '2000-01-01 00:00:00+00'),
    CAST(:'until' AS timestamptz) - INTERVAL '1 microsecond',
    INTERVAL '1 hour'
) AS g (hour)
LEFT JOIN (
    SELECT *
    FROM v_sentiment_hourly
    WHERE segment_kind = 'ticker'
      AND segment_value = :'ticker'
      AND bucket_start >= date_bin('1 hour', CAST(:'since' AS timestamptz),
                                   TIMESTAMPTZ '2000-01-01 00:00:00+00')
      AND bucket_start < CAST(:'until' AS timestamptz)
) AS v ON v.bucket_start = g.hour
ORDER BY g.hour;
