#!/usr/bin/env python3
"""An independent computation of examples/jobs/user_spend_hourly.sql, straight from the logs.

Prints JSON: {"rows": [[user_id, hour, purchases, spend_cents], ...]} sorted by user and hour,
where hour is "YYYY-MM-DDTHH:00:00Z" (UTC) and spend_cents is null when no purchase of the
group has an integer amount. An amount is an integer as json_get_int reads one: a JSON
integer, or a string holding one ("199"); anything else ("1.99 USD") is no amount. With --user/--since/--until, only that user's hours in
[since, until), as the README's support query asks.

Plain Python on purpose: it shares no code with stickerlake.

    python3 tests/reference/user_spend_hourly.py 'logs/server-*.jsonl' [--user u-1 --since 2026-11-20T06:00:00Z --until ...]
"""
import argparse
import glob
import json
import re
from datetime import datetime, timezone


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def purchases(pattern):
    """Each valid purchase event once per messageId: (user, utc time, amount or None)."""
    seen = {}
    for path in sorted(glob.glob(pattern)):
        with open(path, "rb") as lines:
            for raw in lines:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(event, dict) or event.get("type") != "purchase":
                    continue
                message_id = event.get("messageId")
                if not isinstance(message_id, str) or not message_id or message_id in seen:
                    continue
                try:
                    at = parse_time(event["timestamp"])
                except (KeyError, TypeError, ValueError):
                    continue
                user = event.get("userId")
                if user is None:
                    user = event.get("anonymousId")
                amount = (event.get("properties") or {}).get("amount_cents")
                if isinstance(amount, str) and re.fullmatch(r"[+-]?[0-9]+", amount):
                    amount = int(amount)
                if isinstance(amount, bool) or not isinstance(amount, int):
                    amount = None
                seen[message_id] = (user, at, amount)
    return seen.values()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("logs")
    parser.add_argument("--user")
    parser.add_argument("--since")
    parser.add_argument("--until")
    args = parser.parse_args()
    groups = {}
    for user, at, amount in purchases(args.logs):
        hour = at.replace(minute=0, second=0, microsecond=0)
        count, spend = groups.get((user, hour), (0, None))
        if amount is not None:
            spend = (spend or 0) + amount
        groups[(user, hour)] = (count + 1, spend)
    rows = []
    for (user, hour), (count, spend) in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        if args.user is not None and user != args.user:
            continue
        if args.since and hour < parse_time(args.since):
            continue
        if args.until and hour >= parse_time(args.until):
            continue
        rows.append([user, hour.strftime("%Y-%m-%dT%H:00:00Z"), count, spend])
    print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
