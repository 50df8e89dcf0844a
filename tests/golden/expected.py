#!/usr/bin/env python3
"""Independent computation of the daily tables over sample_events/, from docs/contract.md.

Shares no code with stickerlake: plain json, unicodedata and datetime. `--check` compares
with the committed CSVs (what the integration tests hold the binary to); without it, the
CSVs are rewritten.
"""
import collections, csv, datetime, glob, io, json, os, sys, unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def normalize(query):
    return " ".join(unicodedata.normalize("NFKC", query).lower().split())


def is_str(v):
    return isinstance(v, str)


def valid_event(line):
    """The event as a dict, or None when the line would be quarantined or is blank."""
    try:
        e = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(e, dict):
        return None
    if not (is_str(e.get("messageId")) and e["messageId"] and is_str(e.get("type")) and e["type"]):
        return None
    try:
        ts = datetime.datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError):
        return None
    if ts.tzinfo is None:
        return None
    p = e.get("properties")
    kind = e["type"]
    if kind in ("search", "select", "report"):
        if not isinstance(p, dict) or not is_str(p.get("query")):
            return None
        if kind == "search" and p.get("results") is not None and not (
            isinstance(p["results"], list) and all(map(is_str, p["results"]))
        ):
            return None
        if kind == "select" and not is_str(p.get("sticker_id")):
            return None
        if kind == "report" and not (
            isinstance(p.get("sticker_ids"), list) and p["sticker_ids"] and all(map(is_str, p["sticker_ids"]))
        ):
            return None
    user = e.get("userId")
    if user is None:
        user = e.get("anonymousId")
    return {
        "id": e["messageId"],
        "type": kind,
        "date": ts.astimezone(datetime.timezone.utc).date().isoformat(),
        "user": user,
        "props": p,
    }


def events():
    for path in sorted(glob.glob(os.path.join(ROOT, "sample_events", "server-*.jsonl"))):
        with open(path, "rb") as f:
            for line in f.read().split(b"\n"):
                if line.strip():
                    e = valid_event(line)
                    if e:
                        yield e


def tables():
    searches = collections.defaultdict(lambda: (set(), set()))
    reports = collections.defaultdict(lambda: (set(), set()))
    for e in events():
        if e["type"] == "search":
            term = normalize(e["props"]["query"])
            if term:
                ids, users = searches[(e["date"], term)]
                ids.add(e["id"])
                if e["user"] is not None:
                    users.add(e["user"])
        elif e["type"] == "report":
            term = normalize(e["props"]["query"])
            for sticker in set(e["props"]["sticker_ids"]):
                ids, users = reports[(e["date"], sticker, term)]
                ids.add(e["id"])
                if e["user"] is not None:
                    users.add(e["user"])
    search_rows = sorted(
        ((d, t, len(i), len(u)) for (d, t), (i, u) in searches.items()), key=lambda r: (r[0], -r[2], r[1])
    )
    report_rows = sorted(
        ((d, s, t, len(i), len(u)) for (d, s, t), (i, u) in reports.items()),
        key=lambda r: (r[0], -r[3], r[1], r[2]),
    )
    return {
        "search_term_daily.csv": (["event_date", "term", "searches", "unique_users"], search_rows),
        "reported_sticker_daily.csv": (["event_date", "sticker_id", "term", "reports", "unique_reporters"], report_rows),
    }


def render(header, rows):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def main():
    check = "--check" in sys.argv
    stale = []
    for name, (header, rows) in tables().items():
        path = os.path.join(HERE, name)
        text = render(header, rows)
        if check:
            with open(path) as f:
                if f.read() != text:
                    stale.append(name)
        else:
            with open(path, "w") as f:
                f.write(text)
    if stale:
        sys.exit(f"golden files disagree with the independent computation: {stale}")


if __name__ == "__main__":
    main()
