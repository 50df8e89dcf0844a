#!/usr/bin/env python3
"""What a tailer's commit costs as the table's log grows: flat is the target.

For each length (default 100, 10,000 and 100,000 versions) builds `raw_events` with
stickerlake (one event), appends synthetic commits to its log that change no file (so the
log's length alone differs: the table's files and tombstones, which a snapshot holds, stay
the same), lets delta-rs write a checkpoint at the last version (as stickerlake's writers
do every 100 commits), then times `tailer --max-rows 1` over 1 new line and over 7: a commit's
cost is the difference over 6 (the table's load, the same in both, drops out). Medians of
--runs, against a new table's (2 versions). Local disk, and a moto S3 server on 127.0.0.1
(the log uploaded with boto3) for the lengths in --s3-lengths.

    .venv/bin/python bench/commit_bench.py --bin target/release/stickerlake
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from deltalake import DeltaTable

from figures import record
from s3_server import start_moto

FLUSHES = 7


def event(n):
    return json.dumps({"messageId": f"m-{n}", "type": "search", "timestamp": "2026-11-23T10:00:00Z",
                       "properties": {"query": "cat"}}) + "\n"


def table_of(bin, work, versions):
    """A local warehouse whose raw_events has `versions` versions (checkpoint at the last)."""
    warehouse = f"{work}/warehouse-{versions}"
    source = f"{work}/seed-{versions}.jsonl"
    with open(source, "w") as out:
        out.write(event("seed"))
    subprocess.run([bin, "--warehouse", warehouse, "tailer", "--source", source],
                   check=True, capture_output=True)
    log = f"{warehouse}/raw_events/_delta_log"
    first = max(int(n.split(".")[0]) for n in os.listdir(log) if n.endswith(".json"))
    for version in range(first + 1, versions):
        info = {"commitInfo": {"timestamp": int(time.time() * 1000), "operation": "WRITE"}}
        with open(f"{log}/{version:020}.json", "w") as out:
            out.write(json.dumps(info) + "\n")
    if versions > first + 1:
        DeltaTable(f"{warehouse}/raw_events").create_checkpoint()
    return warehouse


def upload(warehouse, s3, bucket):
    files = [os.path.join(d, f) for d, _, names in os.walk(warehouse) for f in names]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda f: s3.upload_file(f, bucket, "wh/" + os.path.relpath(f, warehouse)),
                      files))


def moto_list(s3, bucket):
    """Median seconds of moto's answer to a listing of the log's last entries (S3 answers it
    from an index; moto scans the bucket)."""
    log = "wh/raw_events/_delta_log/"
    last = max(o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=log) for o in page.get("Contents", []) if o["Key"].endswith(".json"))
    times = []
    for _ in range(5):
        started = time.time()
        s3.list_objects_v2(Bucket=bucket, Prefix=log, StartAfter=last)
        times.append(time.time() - started)
    return statistics.median(times)


def time_flushes(bin, warehouse, work, runs, env):
    """Median seconds of a run of 1 flush and of FLUSHES flushes."""
    medians = []
    for flushes in (1, FLUSHES):
        times = []
        for run in range(runs):
            source = f"{work}/flushes-{time.time_ns()}.jsonl"
            with open(source, "w") as out:
                out.writelines(event(f"{run}-{n}-{time.time_ns()}") for n in range(flushes))
            started = time.time()
            subprocess.run([bin, "--warehouse", warehouse, "tailer", "--source", source,
                            "--max-rows", "1"],
                           check=True, capture_output=True, env=env)
            times.append(time.time() - started)
        medians.append(statistics.median(times))
    return medians[0], (medians[1] - medians[0]) / (FLUSHES - 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--lengths", default="100,10000,100000")
    parser.add_argument("--s3-lengths", default="100,10000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bin = os.path.abspath(args.bin)
    work = tempfile.mkdtemp(prefix="commit-bench-")
    moto, s3, env = start_moto()
    try:
        rows = []
        lengths = [2] + [int(n) for n in args.lengths.split(",")]
        s3_lengths = {2} | {int(n) for n in args.s3_lengths.split(",")}
        for versions in lengths:
            warehouse = table_of(bin, work, versions)
            rows.append(("local", versions, *time_flushes(bin, warehouse, work, args.runs, os.environ)))
            if versions in s3_lengths:
                bucket = f"bench-{versions}"
                s3.create_bucket(Bucket=bucket)
                upload(warehouse, s3, bucket)
                rows.append(("moto", versions,
                             *time_flushes(bin, f"s3://{bucket}/wh", work, args.runs, env)))
                print(f"  moto's own LIST start-after over {versions} versions: "
                      f"{moto_list(s3, bucket) * 1000:.1f} ms", flush=True)
            shutil.rmtree(warehouse, ignore_errors=True)
        new = {store: commit for store, versions, _, commit in rows if versions == 2}
        print(f"a tailer's commit as the log grows (medians of {args.runs}):")
        for store, versions, first, commit in rows:
            print(f"  {store:5} {versions:>7} versions: {commit * 1000:.1f} ms a commit "
                  f"({commit / new[store]:.2f}x a new table's); load and first flush {first:.3f} s",
                  flush=True)
            record(f"a tailer's commit, {store}, a log of {versions:,} versions", f"{commit * 1000:.1f} ms",
                   "the same on a new table" if versions > 2 else "", f"{commit / new[store]:.2f}" if versions > 2 else "",
                   command=f"bench/commit_bench.py --runs {args.runs}")
    finally:
        moto.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
