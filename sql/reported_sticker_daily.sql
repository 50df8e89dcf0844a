-- Reported stickers per search term for one day: one row per (sticker, term).
-- A sticker listed twice in one report counts once (distinct message ids).
-- Portability: DataFusion explodes a list with unnest() in the select list; on Spark SQL
-- replace the inner query's FROM with
--   FROM raw_events LATERAL VIEW explode(sticker_ids) exploded AS sticker_id
-- and select sticker_id directly.
SELECT
    sticker_id,
    term,
    COUNT(DISTINCT message_id) AS reports,
    COUNT(DISTINCT user_id) AS unique_reporters
FROM (
    SELECT message_id, user_id, term, unnest(sticker_ids) AS sticker_id
    FROM raw_events
    WHERE type = 'report'
) AS reported
GROUP BY sticker_id, term
ORDER BY reports DESC, sticker_id, term
