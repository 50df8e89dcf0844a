#!/usr/bin/env python3
"""`make bench-scale`: how stickerlake's costs grow with the input (release build).

For each multiple m of --base events (one day, 4 servers): ingest with `tailer` into a new
warehouse, then run the daily jobs; each step is its own process, wall time and peak RSS
from os.wait4, median of --repeat runs (--job-repeat for the jobs). The sizes take turns
(x1, x4, x16, x1, ...) so that a machine getting slower or faster meanwhile shifts every
size alike. Prints, per step, time and RSS at each size and how far they are from linear
(time(m) / (m * time(1))) and flat (rss(m) / rss(1)).

    python3 bench/scale_bench.py --bin target/release/stickerlake --base 1000000 --sizes 1,4,16
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import run_measured, mib  # noqa: E402

DAY = "2026-11-23"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--base", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--repeat", type=int, default=3)
    # The 1M day's jobs take 0.3 s, so 0.03 s of the machine's drift moves the ratio by a
    # tenth: more runs of the (short) job step.
    parser.add_argument("--job-repeat", type=int, default=7)
    parser.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "scale"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = lambda m: os.path.join(args.work, f"x{m}")
    logs = {}
    for m in sizes:
        shutil.rmtree(work(m), ignore_errors=True)
        logs[m] = os.path.join(work(m), "logs")
        subprocess.run([args.bin, "generate", "--out", logs[m], "--events", str(args.base * m), "--days", "1",
                        "--start", DAY, "--servers", "4", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
        os.remove(os.path.join(logs[m], "catalog.jsonl"))
    os.sync()  # the logs' writeback would slow the first runs
    warehouse = lambda m: os.path.join(work(m), "wh")
    ingest, jobs = ({m: [] for m in sizes} for _ in range(2))
    for _ in range(args.repeat):
        for m in sizes:
            shutil.rmtree(warehouse(m), ignore_errors=True)
            ingest[m].append(run_measured([args.bin, "--warehouse", warehouse(m), "tailer",
                                           "--source", f"{logs[m]}/*.jsonl"])[:2])
    for _ in range(args.job_repeat):
        for m in sizes:
            jobs[m].append(run_measured([args.bin, "--warehouse", warehouse(m), "run", "all", "--date", DAY])[:2])
    median = lambda runs, i: statistics.median(run[i] for run in runs)
    results = {}
    for m in sizes:
        results[m] = {
            "log_mib": mib(logs[m]),
            "ingest": (median(ingest[m], 0), median(ingest[m], 1)),
            "jobs": (median(jobs[m], 0), median(jobs[m], 1)),
        }
        shutil.rmtree(work(m))
        print(f"x{m}: {args.base * m:,} events, {results[m]['log_mib']:.0f} MiB: "
              f"ingest {results[m]['ingest'][0]:.2f} s {results[m]['ingest'][1]:.0f} MiB, "
              f"jobs {results[m]['jobs'][0]:.2f} s {results[m]['jobs'][1]:.0f} MiB", flush=True)
    first = sizes[0]
    print(f"\n| step | size | events | seconds | peak RSS MiB | time / linear | RSS / RSS at x{first} |")
    print("|---|---|---|---|---|---|---|")
    for step in ("ingest", "jobs"):
        t1, r1 = results[first][step]
        for m in sizes:
            t, r = results[m][step]
            linear = t / (t1 * m / first)
            print(f"| {step} | x{m} | {args.base * m:,} | {t:.2f} | {r:.0f} | {linear:.2f} | {r / r1:.2f} |")


if __name__ == "__main__":
    main()
