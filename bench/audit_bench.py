#!/usr/bin/env python3
"""`audit` at size: its peak RSS must not grow with the rows it reconciles (it holds the
sort's memory pool and one window of offsets). Generates 1M and 10M events (4 servers, one
day), ingests each, and runs `audit --format json` over each warehouse (release build,
child processes, wall time and peak RSS from os.wait4, median of --runs); every audit must
be clean and account for every row.

    python3 bench/audit_bench.py --bin target/release/stickerlake
"""
import argparse, json, os, shutil, statistics

from bench import run_measured
from figures import record

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--events", default="1000000,10000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", default=os.path.join(HERE, "out", "audit"))
    args = parser.parse_args()
    print("| events | log lines | rows | audit seconds | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for events in [int(n) for n in args.events.split(",")]:
        shutil.rmtree(args.work, ignore_errors=True)
        logs, warehouse = os.path.join(args.work, "logs"), os.path.join(args.work, "wh")
        run_measured([args.bin, "generate", "--out", logs, "--events", str(events), "--days", "1",
                      "--start", "2026-11-23", "--servers", "4", "--seed", "1"])
        os.remove(os.path.join(logs, "catalog.jsonl"))
        run_measured([args.bin, "--warehouse", warehouse, "tailer", "--source", f"{logs}/*.jsonl"])
        runs = [run_measured([args.bin, "--warehouse", warehouse, "audit", "--format", "json"])
                for _ in range(args.runs)]
        report = json.loads(runs[-1][2])
        rows = sum(f["rows"] for f in report["files"])
        lines = sum(f["lines"] for f in report["files"])
        if report["faults"] or rows < events:
            raise SystemExit(f"audit of {events:,} events: {report['faults']} faults, {rows:,} rows")
        seconds, rss = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"| {events:,} | {lines:,} | {rows:,} | {seconds:.2f} | {rss:.0f} |", flush=True)
        record(f"`audit` of {events:,} events ({lines:,} lines, clean)", f"{seconds:.2f} s, {rss:.0f} MiB",
               command=f"bench/audit_bench.py --runs {args.runs}")
    shutil.rmtree(args.work)


if __name__ == "__main__":
    main()
