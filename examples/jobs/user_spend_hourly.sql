-- Spend per user and UTC hour, from `purchase` events (an example of a job over any event
-- type: its fields are read from the `properties` JSON text).
--   stickerlake run user_spend_hourly --sql-dir examples/jobs --date yesterday
-- Each messageId counts once: a purchase delivered twice is one purchase of one amount.
-- json_get_int reads a JSON integer or a string holding one ("199"); anything else ("1.99
-- USD", a missing key) is NULL: the purchase is counted, its amount is not.
-- Dialect note: json_get_int is datafusion-functions-json's; Spark's equivalent is
-- CAST(get_json_object(properties, '$.amount_cents') AS BIGINT).
WITH purchases AS (
    SELECT
        message_id,
        MIN(user_id) AS user_id,
        MIN(event_time) AS event_time,
        MIN(json_get_int(properties, 'amount_cents')) AS amount_cents
    FROM raw_events
    WHERE type = 'purchase'
    GROUP BY message_id
)
SELECT
    user_id,
    date_trunc('hour', event_time) AS hour,
    COUNT(*) AS purchases,
    SUM(amount_cents) AS spend_cents
FROM purchases
GROUP BY user_id, date_trunc('hour', event_time)
ORDER BY user_id, hour
