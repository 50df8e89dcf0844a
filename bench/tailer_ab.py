#!/usr/bin/env python3
"""Two or more `stickerlake` builds over the same logs, taking turns run by run, so that a
change to the tailer is measured against the build before it at the same speed of the
machine. Prints each build's median wall time and peak RSS, and each build's median ratio
to the first, pair by pair.

    python3 bench/tailer_ab.py --logs 'bench/out/logs/*.jsonl' --runs 8 /tmp/before /tmp/after
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
    parser.add_argument("--logs", required=True, help="a --source pattern")
    parser.add_argument("--runs", type=int, default=8)
    args = parser.parse_args()
    warehouse = os.path.join(tempfile.mkdtemp(prefix="tailer-ab-"), "wh")
    empty = lambda: shutil.rmtree(warehouse, ignore_errors=True)
    commands = [([b, "--warehouse", warehouse, "tailer", "--source", args.logs], empty) for b in args.bins]
    results = take_turns(commands, args.runs)
    shutil.rmtree(os.path.dirname(warehouse))
    baseline = results[0]
    for binary, runs in zip(args.bins, results):
        times = [t for t, _, _ in runs]
        ratio = statistics.median(t[0] / b[0] for t, b in zip(runs, baseline))
        print(f"{binary}: median {statistics.median(times):.2f} s, peak RSS "
              f"{statistics.median(r for _, r, _ in runs):.0f} MiB, ratio to the first {ratio:.3f} "
              f"(runs: {' '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
