#!/usr/bin/env python3
"""Two or more `stickerlake` builds taking turns, run by run, so that a change is measured
against the build before it at the same speed of the machine: the tailer over the same
logs (into an empty warehouse each time), or the daily jobs of a day over the same
warehouses. Prints each build's median wall time and peak RSS, and its median ratio to the
first build, pair by pair.

    python3 bench/ab.py --logs 'bench/out/shape0/logs/*.jsonl' --runs 8 /tmp/before /tmp/after
    python3 bench/ab.py --warehouse /tmp/x1/wh --warehouse /tmp/x16/wh --date 2026-11-23 \\
        --runs 7 /tmp/before /tmp/after
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import take_turns  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bins", nargs="+", help="stickerlake binaries; the first is the baseline")
    step = parser.add_mutually_exclusive_group(required=True)
    step.add_argument("--logs", help="the tailer's --source pattern")
    step.add_argument("--warehouse", action="append", help="run the jobs on this warehouse (repeatable)")
    parser.add_argument("--date", help="the day the jobs run (with --warehouse)")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    if args.logs:
        scratch = tempfile.mkdtemp(prefix="ab-")
        warehouse = os.path.join(scratch, "wh")
        empty = lambda: shutil.rmtree(warehouse, ignore_errors=True)
        cases = {"tailer": lambda b: ([b, "--warehouse", warehouse, "tailer", "--source", args.logs], empty)}
    else:
        if not args.date:
            parser.error("--warehouse needs --date")
        scratch = None
        cases = {w: (lambda b, w=w: ([b, "--warehouse", w, "run", "all", "--date", args.date], None))
                 for w in args.warehouse}
    for case, command in cases.items():
        report(case, args.bins, take_turns([command(b) for b in args.bins], args.runs))
    if scratch:
        shutil.rmtree(scratch)


def report(case, bins, results):
    baseline = results[0]
    for binary, runs in zip(bins, results):
        times = [t for t, _, _ in runs]
        ratio = statistics.median(t[0] / b[0] for t, b in zip(runs, baseline))
        print(f"{case}: {binary}: median {statistics.median(times):.2f} s, peak RSS "
              f"{statistics.median(r for _, r, _ in runs):.0f} MiB, ratio to the first {ratio:.3f} "
              f"(runs: {' '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
