-- Search-term frequency for one day.
-- Inputs partitioned by event_date show only the day being run; the output is written to
-- search_term_daily/event_date=<day>/.
--
-- searches = distinct message ids, unique_users = distinct non-null user ids. Each distinct
-- count is its own DISTINCT + GROUP BY, the two joined: the same result as
-- COUNT(DISTINCT message_id), COUNT(DISTINCT user_id) in one GROUP BY, but these
-- aggregations can be split by key and run part by part, so the job's memory stays flat as
-- the day grows (see README, Performance).
WITH searched AS (
    SELECT term, message_id, user_id
    FROM raw_events
    WHERE type = 'search'
      AND term IS NOT NULL
      AND term <> ''
),
searches AS (
    SELECT term, COUNT(*) AS searches
    FROM (SELECT DISTINCT term, message_id FROM searched) AS by_message
    GROUP BY term
),
users AS (
    SELECT term, COUNT(user_id) AS unique_users
    FROM (SELECT DISTINCT term, user_id FROM searched) AS by_user
    GROUP BY term
)
SELECT s.term, s.searches, u.unique_users
FROM searches AS s
JOIN users AS u ON u.term = s.term
ORDER BY s.searches DESC, s.term
