#!/usr/bin/env python3
"""`make bench-ops`: the operating commands at size (release build, child processes, wall
time and peak RSS from os.wait4).

1. `status` over 365 days x 50 raw files a day, every job-day run (so staleness is decided
   from 730 run records against 18,250 listed files);
2. `compact` of one day of small files at 256 MiB and at 1 GiB: the peak RSS must not grow
   with the day (it streams: one input file and one row group at a time). The row count is
   checked with `sql` before and after.

Prints a Markdown table (the README's figures come from it).
"""
import argparse, datetime, os, shutil, subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import run_measured as measured

HERE = os.path.dirname(os.path.abspath(__file__))

RAW_EVENTS = pa.schema([
    pa.field("message_id", pa.string(), nullable=False),
    pa.field("type", pa.string(), nullable=False),
    pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("user_id", pa.string()),
    pa.field("query", pa.string()),
    pa.field("term", pa.string()),
    pa.field("sticker_ids", pa.list_(pa.string())),
    pa.field("properties", pa.string()),
    pa.field("context", pa.string()),
    pa.field("source", pa.string()),
    pa.field("source_offset", pa.int64()),
])


def events(rows, day, seed, payload):
    """A batch of raw_events rows of `day`; `payload` bytes of incompressible properties."""
    rng = np.random.default_rng(seed)
    start = datetime.datetime.fromisoformat(f"{day}T00:00:00+00:00")
    times = [start + datetime.timedelta(seconds=int(s)) for s in rng.integers(0, 86400, rows)]
    noise = rng.integers(0, 1 << 62, size=(rows, max(1, payload // 8)), dtype=np.int64)
    props = ['{"query":"cat","pad":"%s"}' % r.tobytes().hex() for r in noise]
    terms = [f"term {t}" for t in rng.integers(0, 5000, rows)]
    return pa.table({
        "message_id": [f"{seed}-{n}" for n in range(rows)],
        "type": ["search"] * rows,
        "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
        "user_id": [f"u{u}" for u in rng.integers(0, 100_000, rows)],
        "query": terms,
        "term": terms,
        "sticker_ids": [["st_1", "st_2"]] * rows,
        "properties": props,
        "context": ["{}"] * rows,
        "source": ["/var/log/app/server.jsonl"] * rows,
        "source_offset": np.arange(rows, dtype=np.int64) * 300,
    }, schema=RAW_EVENTS)


def write_day(warehouse, day, files, rows_per_file, payload, seed):
    folder = os.path.join(warehouse, "raw_events", f"event_date={day}")
    os.makedirs(folder, exist_ok=True)
    for n in range(files):
        table = events(rows_per_file, day, seed * 100_000 + n, payload)
        pq.write_table(table, os.path.join(folder, f"part-bench-{n:08}-{seed:016x}.parquet"),
                       compression="zstd")


def bench_status(binary, work, days, files_per_day):
    warehouse = os.path.join(work, "status-warehouse")
    shutil.rmtree(warehouse, ignore_errors=True)
    first = datetime.date(2025, 11, 24)
    # One small file, copied: listing and footers are what status costs, not bytes.
    write_day(warehouse, first.isoformat(), 1, 200, 64, 1)
    template = os.path.join(warehouse, "raw_events", f"event_date={first}", os.listdir(
        os.path.join(warehouse, "raw_events", f"event_date={first}"))[0])
    for d in range(days):
        day = first + datetime.timedelta(days=d)
        folder = os.path.join(warehouse, "raw_events", f"event_date={day}")
        os.makedirs(folder, exist_ok=True)
        for n in range(files_per_day):
            target = os.path.join(folder, f"part-bench-{n:08}-{d:016x}.parquet")
            if target != template:
                shutil.copyfile(template, target)
    # Written as bare Parquet folders, made a Delta table the way an old warehouse is.
    migrate_secs, _, _ = measured([binary, "--warehouse", warehouse, "migrate"])
    last = first + datetime.timedelta(days=days - 1)
    span = ["--from", first.isoformat(), "--to", last.isoformat()]
    run_secs, _, _ = measured([binary, "--warehouse", warehouse, "run", "all", *span])
    # No tailer wrote this warehouse, so no day is complete: a long grace keeps exit 0.
    secs, rss, out = measured([binary, "--warehouse", warehouse, "status", "--format", "json",
                               "--grace", "3650d", *span])
    assert '"stale": 0' in out, out[-400:]
    return {"what": f"`status` over {days} days x {files_per_day} files, {2 * days} job-days",
            "seconds": secs, "rss": rss,
            "note": f"(`migrate` of those files first: {migrate_secs:.1f} s; `run all`: {run_secs:.0f} s)"}


def bench_compact(binary, work, gib, file_mib=4):
    warehouse = os.path.join(work, f"compact-warehouse-{gib}")
    shutil.rmtree(warehouse, ignore_errors=True)
    day = "2026-11-23"
    payload = 512
    rows_per_file = file_mib * (1 << 20) // (payload + 64)
    files = max(2, int(gib * 1024 / file_mib))
    write_day(warehouse, day, files, rows_per_file, payload, 7)
    subprocess.run([binary, "--warehouse", warehouse, "migrate"], check=True, capture_output=True)
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in
               os.walk(os.path.join(warehouse, "raw_events")) for f in fs)
    count = ["--warehouse", warehouse, "sql", "SELECT count(*) FROM raw_events", "--format", "csv"]
    before = subprocess.check_output([binary, *count]).decode().split()[-1]
    secs, rss, _ = measured([binary, "--warehouse", warehouse, "compact", "--date", day])
    after = subprocess.check_output([binary, *count]).decode().split()[-1]
    assert before == after, (before, after)
    # The inputs stay (until vacuum) beside the outputs.
    outputs = sum(1 for name in os.listdir(os.path.join(warehouse, "raw_events", f"event_date={day}"))
                  if name.startswith("part-compact-"))
    shutil.rmtree(warehouse, ignore_errors=True)
    return {"what": f"`compact` of a {size / (1 << 20):,.0f} MiB day ({files} files -> {outputs})",
            "seconds": secs, "rss": rss, "note": f"{int(before):,} rows, equal after"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", default=os.path.join(HERE, "out", "ops"))
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--files-per-day", type=int, default=50)
    parser.add_argument("--compact-gib", type=float, nargs="+", default=[0.25, 1.0])
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    rows = [bench_status(args.bin, args.work, args.days, args.files_per_day)]
    rows += [bench_compact(args.bin, args.work, gib) for gib in args.compact_gib]
    print("| workload | wall s | peak RSS MiB | |")
    print("|---|---|---|---|")
    from figures import record
    for r, target in zip(rows, ["≤ 1 s", "", ""]):
        print(f"| {r['what']} | {r['seconds']:.2f} | {r['rss']:.0f} | {r['note']} |")
        record(f"{r['what']}: {r['note']}", f"{r['seconds']:.2f} s, {r['rss']:.0f} MiB", target=target,
               command="bench/ops_bench.py")


if __name__ == "__main__":
    main()
