#!/usr/bin/env python3
"""`make bench` (quality rows): what knowing when upstream breaks costs.

1. A tracking plan at ingest: `stickerlake tailer` over make bench's 1M-event day (same
   generator, seed and servers as bench.py), without and with `--plan`, and serving
   `--metrics-addr`, taking turns, median of 3. The bound: a plan adds at most 15%; metrics
   nothing measurable.
2. `check` over 35 days of 100k events a day (3 servers, weekday seasonality) against `run
   all` over the same days, alternating, median of 3: checking must cost less than computing.
   Measured twice: a first check (no day profile kept) and a check again (profiles kept).

Each command runs as a child process (wall time and peak RSS from os.wait4, as bench.py).
Prints Markdown rows for docs/performance.md.
"""
import argparse, datetime, os, shutil, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import take_turns  # noqa: E402
from figures import record  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# Every generated event type, with the properties the app documents.
PLAN = """{
  "version": "bench-1",
  "unplanned": "violation",
  "events": {
    "search": {"properties": {"type": "object", "required": ["query", "results"],
      "properties": {"query": {"type": "string"}, "results": {"type": "array", "items": {"type": "string"}},
                     "latency_ms": {"type": "integer", "minimum": 0}}},
      "context": {"type": "object", "required": ["app"], "properties": {"app": {"type": "object", "required": ["version"]}}}},
    "select": {"properties": {"type": "object", "required": ["query", "sticker_id", "position"],
      "properties": {"sticker_id": {"type": "string"}, "position": {"type": "integer", "minimum": 1}}}},
    "report": {"properties": {"type": "object", "required": ["sticker_ids"],
      "properties": {"sticker_ids": {"type": "array", "minItems": 1}, "reason": {"enum": ["offensive", "spam", "other"]}}}},
    "purchase": {"properties": {"type": "object", "required": ["sku", "amount_cents", "currency"],
      "properties": {"currency": {"enum": ["USD", "EUR"]}}}},
    "app_open": {"properties": {"type": "object"}}
  }
}"""


def generate(binary, out, events, days, servers, start, weekly=False):
    args = [binary, "generate", "--out", out, "--events", str(events), "--days", str(days),
            "--start", start, "--servers", str(servers), "--seed", "1"]
    subprocess.run(args + (["--weekly"] if weekly else []), check=True, stdout=subprocess.DEVNULL)
    os.remove(os.path.join(out, "catalog.jsonl"))
    os.sync()


def plan_at_ingest(binary, work, runs):
    logs, wh, plan = (os.path.join(work, p) for p in ("logs", "wh", "plan.json"))
    generate(binary, logs, 1_000_000, 1, 4, "2026-11-23")
    open(plan, "w").write(PLAN)
    tail = [binary, "--warehouse", wh, "tailer", "--source", f"{logs}/*.jsonl"]
    empty = lambda: shutil.rmtree(wh, ignore_errors=True)
    # The three take turns: without, with the plan, and serving /metrics and /health.
    watched = tail + ["--metrics-addr", "127.0.0.1:0"]
    (t, rss, out), (t_plan, rss_plan, out_plan), (t_watch, rss_watch, _) = [
        (middle([r[0] for r in rs]), middle([r[1] for r in rs]), rs[-1][2])
        for rs in take_turns([(tail, empty), (tail + ["--plan", plan], empty), (watched, empty)], runs)]
    events = int(out.split(" events written")[0].split(", ")[-1])
    shape = "1M events, one day, 4 servers"
    rows = [(shape, "ingest", "tailer", t, rss, events / t),
            (shape, "ingest", "tailer --plan (5 types)", t_plan, rss_plan, events / t_plan),
            (shape, "ingest", "tailer --metrics-addr", t_watch, rss_watch, events / t_watch)]
    return rows, t_plan / t, out_plan.strip()


def middle(values):
    return sorted(values)[len(values) // 2]


def check_against_jobs(binary, work, runs, days, per_day):
    logs, wh = (os.path.join(work, p) for p in ("logs", "wh"))
    first = datetime.date(2026, 10, 5)
    last = first + datetime.timedelta(days=days - 1)
    generate(binary, logs, per_day * days, days, 3, first.isoformat(), weekly=True)
    subprocess.run([binary, "--warehouse", wh, "tailer", "--source", f"{logs}/*.jsonl"], check=True, stdout=subprocess.DEVNULL)
    span = ["--from", first.isoformat(), "--to", last.isoformat()]
    check = [binary, "--warehouse", wh, "check", "--format", "json"] + span
    jobs = [binary, "--warehouse", wh, "run", "all"] + span
    # A first check reads every day; it keeps each day's profile (_state/profiles/), which
    # the next check reads instead while the day's files are unchanged. Both are measured.
    cold = lambda: shutil.rmtree(os.path.join(wh, "_state", "profiles"), ignore_errors=True)
    (t_check, rss_check, _), (t_kept, rss_kept, _), (t_jobs, rss_jobs, _) = [
        (middle([r[0] for r in rs]), middle([r[1] for r in rs]), rs[-1][2])
        for rs in take_turns([(check, cold), (check, None), (jobs, None)], runs)]
    shape = f"{per_day // 1000}k events a day, {days} days, 3 servers"
    rows = [(shape, "check (all checks, every day), first run", "stickerlake check", t_check, rss_check, per_day * days / t_check),
            (shape, "check again, day profiles kept", "stickerlake check", t_kept, rss_kept, per_day * days / t_kept),
            (shape, "daily jobs, every day", "stickerlake run all", t_jobs, rss_jobs, per_day * days / t_jobs)]
    return rows, t_check / t_jobs, t_kept / t_jobs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", default=os.path.join(HERE, "out", "quality"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--per-day", type=int, default=100_000)
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    rows, plan_ratio, summary = plan_at_ingest(args.bin, os.path.join(args.work, "plan"), args.runs)
    check_rows, check_ratio, kept_ratio = check_against_jobs(args.bin, os.path.join(args.work, "check"), args.runs,
                                                 args.days, args.per_day)
    rows += check_rows
    print(f"\n{os.cpu_count()} cores; median of {args.runs} runs each, the two commands alternating")
    print(f"- with the plan: {summary}")
    print("\n| input | step | command | seconds | peak RSS MiB | events/s |")
    print("|---|---|---|---|---|---|")
    for shape, step, command, secs, rss, eps in rows:
        print(f"| {shape} | {step} | {command} | {secs:.2f} | {rss:.0f} | {eps:,.0f} |")
    record("ingest with a tracking plan (1M events, 5 types)", f"{rows[1][3]:.2f} s, {rows[1][4]:.0f} MiB",
           f"without the plan {rows[0][3]:.2f} s, {rows[0][4]:.0f} MiB", f"{plan_ratio:.2f}", "≤ 1.15",
           f"bench/quality_bench.py --runs {args.runs}")
    record("ingest serving /metrics and /health (1M events)", f"{rows[2][3]:.2f} s, {rows[2][4]:.0f} MiB",
           f"without {rows[0][3]:.2f} s, {rows[0][4]:.0f} MiB", f"{rows[2][3] / rows[0][3]:.2f}", "no cost",
           f"bench/quality_bench.py --runs {args.runs}")
    record(f"`check`, {args.days} days × {args.per_day:,} events", f"{rows[3][3]:.2f} s, {rows[3][4]:.0f} MiB",
           f"`run all` over the same days {rows[5][3]:.2f} s, {rows[5][4]:.0f} MiB", f"{check_ratio:.2f}", "< 1",
           f"bench/quality_bench.py --runs {args.runs}")
    record(f"`check` again, {args.days} days, day profiles kept", f"{rows[4][3]:.2f} s, {rows[4][4]:.0f} MiB",
           f"`run all` over the same days {rows[5][3]:.2f} s, {rows[5][4]:.0f} MiB", f"{kept_ratio:.2f}", "< 1",
           f"bench/quality_bench.py --runs {args.runs}")
    print(f"\ntailer --plan / tailer = {plan_ratio:.2f} (at most 1.15 allowed); "
          f"check / run all = {check_ratio:.2f} first run, {kept_ratio:.2f} with the day profiles kept "
          f"(below 1: checking costs less than computing)")


if __name__ == "__main__":
    main()
