#!/usr/bin/env python3
"""How long `sql` takes to start on a table with a long Delta log.

Builds `raw_events` with stickerlake (a few events), then appends N synthetic commits to its
log, each adding a new file and removing the previous one (what a long run of flushes and
compactions leaves: many versions, few live files), lets delta-rs write a checkpoint at the
last version (as stickerlake's writers do every 100 commits), and times
`stickerlake sql "SELECT count(*) …"` (answered from the log's statistics: the time is
loading the snapshot). The median of --runs.

    .venv-readers/bin/python bench/log_bench.py --bin target/release/stickerlake --commits 100000
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from deltalake import DeltaTable


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--commits", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="log-bench-")
    try:
        warehouse = f"{work}/warehouse"
        source = f"{work}/a.jsonl"
        with open(source, "w") as out:
            out.write(json.dumps({"messageId": "m-1", "type": "search", "timestamp": "2026-11-23T10:00:00Z",
                                  "properties": {"query": "cat"}}) + "\n")
        subprocess.run([args.bin, "--warehouse", warehouse, "tailer", "--source", source],
                       check=True, capture_output=True)
        log = f"{warehouse}/raw_events/_delta_log"
        first = max(int(n.split(".")[0]) for n in os.listdir(log) if n.endswith(".json"))
        with open(f"{log}/{first:020}.json") as entry:
            add = next(json.loads(l)["add"] for l in entry if '"add"' in l)
        started = time.time()
        previous = add["path"]
        for version in range(first + 1, first + 1 + args.commits):
            path = f"event_date=2026-11-23/part-synthetic-{version:08}.parquet"
            actions = [
                {"commitInfo": {"timestamp": 1796000000000 + version, "operation": "WRITE"}},
                {"add": {**add, "path": path}},
                {"remove": {"path": previous, "deletionTimestamp": 1, "dataChange": True}},
            ]
            with open(f"{log}/{version:020}.json", "w") as out:
                out.write("\n".join(json.dumps(a) for a in actions) + "\n")
            previous = path
        print(f"{args.commits} commits written in {time.time() - started:.0f} s", flush=True)
        started = time.time()
        DeltaTable(f"{warehouse}/raw_events").create_checkpoint()
        print(f"checkpoint by delta-rs in {time.time() - started:.1f} s", flush=True)
        times = []
        for _ in range(args.runs):
            started = time.time()
            out = subprocess.run([args.bin, "--warehouse", warehouse, "sql", "--format", "csv",
                                  "SELECT count(*) AS n FROM raw_events"],
                                 check=True, capture_output=True, text=True).stdout
            times.append(time.time() - started)
        assert out == "n\n1\n", out
        print(f"sql start over {args.commits + first + 1} versions: median {statistics.median(times):.3f} s "
              f"(runs {', '.join(f'{t:.3f}' for t in times)})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
