#!/usr/bin/env python3
"""How many commits per second one Delta log takes when a fleet's tailers all commit to it.

Starts moto's S3 server on 127.0.0.1, then N `tailer --follow` processes (each its own
`--tailer-id` and log file, an app server appending to each) committing to one
`raw_events` on it for a while. Every commit records its attempts in `commitInfo` (ours, and
delta-rs's `numRetries`), so the log itself says how many commits landed and how many
attempts lost a race. Prints commits
per second, conflicts, and the `--flush-interval` a fleet of H hosts needs to stay within
half the measured rate.

    python3 bench/fleet_bench.py --bin target/release/stickerlake --tailers 8 --seconds 60
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from s3_server import start_moto


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tailers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--flush-interval", default="0.2")
    parser.add_argument("--hosts", type=int, default=100, help="the fleet to size for")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="fleet-")
    moto, s3, env = start_moto()
    try:
        s3.create_bucket(Bucket="fleet")
        warehouse = "s3://fleet/wh"
        stop = threading.Event()

        def app_server(path, host):
            n = 0
            with open(path, "a") as out:
                while not stop.is_set():
                    for _ in range(20):
                        out.write(json.dumps({"messageId": f"{host}-{n}", "type": "search",
                                              "timestamp": "2026-11-23T10:00:00Z",
                                              "properties": {"query": "cat"}}) + "\n")
                        n += 1
                    out.flush()
                    time.sleep(0.05)

        tailers, writers = [], []
        for host in range(args.tailers):
            path = f"{work}/host-{host}.jsonl"
            open(path, "w").close()
            writer = threading.Thread(target=app_server, args=(path, host))
            writer.start()
            writers.append(writer)
            tailers.append(subprocess.Popen(
                [args.bin, "--warehouse", warehouse, "tailer", "--source", path, "--follow",
                 "--flush-interval", args.flush_interval, "--tailer-id", f"host-{host}",
                 "--state-dir", f"{work}/state-{host}"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            if host == 0:
                time.sleep(1)  # the first one creates the tables
        started = time.time()
        time.sleep(args.seconds)
        stop.set()
        for tailer in tailers:
            tailer.send_signal(signal.SIGTERM)
        errors = [t.communicate()[1] for t in tailers]
        elapsed = time.time() - started
        for writer in writers:
            writer.join()
        history = json.loads(subprocess.run(
            [args.bin, "--warehouse", warehouse, "history", "raw_events", "--limit", "1000000",
             "--format", "json"], env=env, check=True, capture_output=True, text=True).stdout)
        writes = [c for c in history if c["writer"].startswith("tailer")]
        # Each commit's attempt is in its commitInfo.
        attempts = []
        for version in range(len(history)):
            body = s3.get_object(Bucket="fleet", Key=f"wh/raw_events/_delta_log/{version:020}.json")["Body"].read()
            for line in body.splitlines():
                commit = json.loads(line).get("commitInfo", {})
                info = commit.get("stickerlake")
                if info and info.get("writer") == "tailer":
                    # Our reloads, and delta-rs's own retries within an attempt.
                    retries = int(commit.get("operationMetrics", {}).get("num_retries", 0))
                    attempts.append(info.get("attempt", 1) + retries)
        lost = sum(a - 1 for a in attempts)
        rate = len(writes) / elapsed
        failed = [e.strip().splitlines()[-1] for e in errors if "error" in e]
        print(f"{args.tailers} tailers, --flush-interval {args.flush_interval}, {elapsed:.0f} s on moto: "
              f"{len(writes)} commits ({rate:.1f}/s), {lost} lost races "
              f"({lost / max(1, len(writes)):.2f} per commit, most attempts {max(attempts or [1])}), "
              f"{len(failed)} tailer failures")
        for line in failed[:3]:
            print(f"  {line}")
        budget = rate / 2
        print(f"a fleet of {args.hosts} hosts within half that rate ({budget:.1f} commits/s): "
              f"--flush-interval {args.hosts / budget:.0f}s or more")
        sys.exit(1 if failed else 0)
    finally:
        moto.send_signal(signal.SIGTERM)
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
