-- Search-term frequency for one day.
-- Inputs partitioned by event_date show only the day being run; the output is written to
-- search_term_daily/event_date=<day>/.
SELECT
    term,
    COUNT(DISTINCT message_id) AS searches,
    COUNT(DISTINCT user_id) AS unique_users
FROM raw_events
WHERE type = 'search'
  AND term IS NOT NULL
  AND term <> ''
GROUP BY term
ORDER BY searches DESC, term
