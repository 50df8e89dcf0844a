-- Reported stickers per search term for one day: one row per (sticker, term).
-- reports = distinct message ids (so a sticker listed twice in one report, or a report
-- delivered twice, counts once); unique_reporters = distinct non-null user ids.
--
-- Each distinct count is computed as its own DISTINCT + GROUP BY and the two are joined:
-- the same result as COUNT(DISTINCT message_id), COUNT(DISTINCT user_id) in one GROUP BY,
-- at a fraction of the memory and time on DataFusion (see README, Performance).
--
-- Portability: DataFusion explodes a list with unnest() in the select list; on Spark SQL
-- write the first CTE as
--   SELECT message_id, user_id, term, sticker_id
--   FROM raw_events LATERAL VIEW explode(sticker_ids) exploded AS sticker_id
--   WHERE type = 'report'
WITH reported AS (
    SELECT message_id, user_id, term, unnest(sticker_ids) AS sticker_id
    FROM raw_events
    WHERE type = 'report'
),
reports AS (
    SELECT sticker_id, term, COUNT(*) AS reports
    FROM (SELECT DISTINCT sticker_id, term, message_id FROM reported) AS by_message
    GROUP BY sticker_id, term
),
reporters AS (
    SELECT sticker_id, term, COUNT(user_id) AS unique_reporters
    FROM (SELECT DISTINCT sticker_id, term, user_id FROM reported) AS by_user
    GROUP BY sticker_id, term
)
SELECT r.sticker_id, r.term, r.reports, p.unique_reporters
FROM reports AS r
JOIN reporters AS p ON p.sticker_id = r.sticker_id AND p.term = r.term
ORDER BY r.reports DESC, r.sticker_id, r.term
