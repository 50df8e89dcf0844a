#!/usr/bin/env python3
"""A fleet of tailers committing to one Delta log: how fast, how contended, how late, how exact.

Starts moto's S3 server on 127.0.0.1, then N `tailer --follow` processes (each its own
`--tailer-id` and log file, an app server appending to each) committing to one `raw_events`
on it. Timings are scaled down by `--scale K` to keep the run short: a fleet that flushes
every `--real-interval` (60 s) is run with `--flush-interval` 60/K s, for `--flushes` flush
intervals. Then the app servers stop, the tailers get time to catch up, and SIGTERM.

Reported:
- commits per second and lost races per commit (each commit's attempts are in its
  `commitInfo`: ours, and delta-rs's `num_retries`);
- the p50/p99 time from a line appended to its row committed (each line's `timestamp` is
  the moment it was appended; each file's commit time is in the log);
- rows exact: every line appended is in `raw_events` once;
- failed flushes: tailers that exited with an error.

With `--committer`, the tailers stage their flushes (`tailer --stage`) and one
`committer --follow` commits them, one commit per table and pass, every
`--committer-interval` (10 s, scaled too).

    python3 bench/fleet_bench.py --bin target/release/stickerlake --tailers 100 --scale 10
    python3 bench/fleet_bench.py --bin target/release/stickerlake --tailers 100 --scale 10 --committer
"""
import argparse
import datetime
import io
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


def app_server(path, host, stop, written, rate):
    """Appends `rate` lines a second to `path` until `stop`; each line's timestamp is when it
    was appended. Counts what it wrote in `written[host]`."""
    n = 0
    with open(path, "a") as out:
        while not stop.is_set():
            now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            for _ in range(max(1, rate // 10)):
                out.write(json.dumps({"messageId": f"{host}-{n}", "type": "search", "timestamp": now,
                                      "properties": {"query": "cat"}}) + "\n")
                n += 1
            out.flush()
            written[host] = n
            time.sleep(0.1)


def commits(s3, versions):
    """Per tailer commit of raw_events: (commit time s, attempts, [(file, rows)])."""
    found = []
    for version in range(versions):
        body = s3.get_object(Bucket="fleet", Key=f"wh/raw_events/_delta_log/{version:020}.json")["Body"].read()
        info, adds = {}, []
        for line in body.splitlines():
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
            if "add" in action:
                adds.append(action["add"]["path"])
        ours = info.get("stickerlake", {})
        if ours.get("writer") in ("tailer", "committer"):
            retries = int(info.get("operationMetrics", {}).get("num_retries", 0))
            found.append((info["timestamp"] / 1000, ours.get("attempt", 1) + retries, adds))
    return found


def latencies(s3, found):
    """Seconds from each row's append (its event time) to its file's commit."""
    import pyarrow.parquet as pq
    out = []
    for committed_at, _, files in found:
        for path in files:
            body = s3.get_object(Bucket="fleet", Key=f"wh/raw_events/{path}")["Body"].read()
            times = pq.read_table(io.BytesIO(body), columns=["event_time"]).column(0)
            out.extend(committed_at - t.timestamp() for t in times.to_pylist())
    return sorted(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--tailers", type=int, default=8)
    parser.add_argument("--real-interval", type=float, default=60.0, help="the fleet's flush interval, s")
    parser.add_argument("--scale", type=float, default=10.0, help="timings divided by this")
    parser.add_argument("--flushes", type=int, default=6, help="flush intervals to run")
    parser.add_argument("--rate", type=int, default=50, help="lines a second per host")
    parser.add_argument("--committer", action="store_true",
                        help="tailers stage their flushes; one committer commits them")
    parser.add_argument("--committer-interval", type=float, default=10.0,
                        help="the committer's interval before scaling, s")
    args = parser.parse_args()
    interval = args.real_interval / args.scale
    work = tempfile.mkdtemp(prefix="fleet-")
    moto, s3, env = start_moto()
    try:
        s3.create_bucket(Bucket="fleet")
        warehouse = "s3://fleet/wh"
        stop = threading.Event()
        written = {}
        tailers, writers = [], []
        committer = None
        for host in range(args.tailers):
            path = f"{work}/host-{host}.jsonl"
            open(path, "w").close()
            writer = threading.Thread(target=app_server, args=(path, host, stop, written, args.rate))
            writer.start()
            writers.append(writer)
            tailers.append(subprocess.Popen(
                [args.bin, "--warehouse", warehouse, "tailer", "--source", path, "--follow",
                 "--flush-interval", f"{interval}", "--tailer-id", f"host-{host}",
                 "--state-dir", f"{work}/state-{host}"] + (["--stage"] if args.committer else []),
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
            if args.committer and committer is None:
                committer = subprocess.Popen(
                    [args.bin, "--warehouse", warehouse, "committer", "--follow", "--interval",
                     f"{args.committer_interval / args.scale}"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # The first one creates the tables; the others start spread over one interval.
            time.sleep(1 if host == 0 else interval / args.tailers)
        started = time.time()
        time.sleep(interval * args.flushes)
        stop.set()
        for writer in writers:
            writer.join()
        # Time for the last lines to be read and committed (up to 20 intervals), then a
        # clean stop.
        lines = sum(written.values())
        count = lambda: json.loads(subprocess.run(
            [args.bin, "--warehouse", warehouse, "sql", "--format", "json",
             "SELECT count(*) AS n, count(DISTINCT message_id) AS ids FROM raw_events"],
            env=env, check=True, capture_output=True, text=True).stdout)[0]
        caught_up = time.time() + interval * 20
        while count()["n"] < lines and time.time() < caught_up:
            time.sleep(interval)
        elapsed = time.time() - started
        for tailer in tailers:
            tailer.send_signal(signal.SIGTERM)
        errors = [t.communicate()[1] for t in tailers]
        failed = [e.strip().splitlines()[-1] for t, e in zip(tailers, errors) if t.returncode != 0]
        if committer is not None:
            committer.send_signal(signal.SIGTERM)
            error = committer.communicate()[1]
            if committer.returncode != 0:
                failed.append(f"committer: {error.strip().splitlines()[-1]}")
        history = json.loads(subprocess.run(
            [args.bin, "--warehouse", warehouse, "history", "raw_events", "--limit", "1000000",
             "--format", "json"], env=env, check=True, capture_output=True, text=True).stdout)
        found = commits(s3, len(history))
        lost = sum(attempts - 1 for _, attempts, _ in found)
        delays = latencies(s3, found)
        rows = count()
        exact = rows["n"] == rows["ids"] == lines
        pct = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))] if delays else float("nan")
        rate = len(found) / elapsed
        mode = (f"staged, one committer every {args.committer_interval / args.scale:g} s" if args.committer
                else "each committing")
        print(f"{args.tailers} tailers ({mode}), flush interval {args.real_interval:g} s scaled by 1/{args.scale:g} "
              f"(--flush-interval {interval:g}), {elapsed:.0f} s on moto: {len(found)} commits ({rate:.2f}/s), "
              f"{lost} lost races ({lost / max(1, len(found)):.2f} per commit, most attempts "
              f"{max([a for _, a, _ in found] or [1])}), append to commit p50 {pct(0.5):.1f} s, "
              f"p99 {pct(0.99):.1f} s; rows {rows['n']:,} ({rows['ids']:,} distinct) of {lines:,} lines: "
              f"{'exact' if exact else 'NOT exact'}; {len(failed)} failed tailers")
        for line in failed[:3]:
            print(f"  {line}")
        sys.exit(1 if failed or not exact else 0)
    finally:
        moto.send_signal(signal.SIGTERM)
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
