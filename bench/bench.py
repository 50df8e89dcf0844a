#!/usr/bin/env python3
"""`make bench`: stickerlake (release build) side by side with DuckDB, same data, same run.

1. ingest: `stickerlake tailer` vs DuckDB's one-statement COPY ... PARTITION_BY over the
   same generated JSON-lines logs (>= 1M events);
2. daily jobs: `stickerlake run all` for the day vs DuckDB running the same sql/*.sql files
   over the same Parquet files, writing Parquet too; the outputs are compared.

Each command runs as a child process; wall time and peak RSS come from os.wait4.
Prints a Markdown table (the README's figures come from it).
"""
import argparse, glob, json, os, shutil, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DAY = "2026-11-23"


def take_turns(commands, runs):
    """Runs the commands in turn, `runs` times each, so that a machine getting slower or
    faster meanwhile affects them alike. Each is a (command, before) pair, `before()` (e.g.
    emptying an output) called first each time, or None. Returns, per command, its runs'
    (seconds, peak RSS MiB, output)."""
    results = [[] for _ in commands]
    for _ in range(runs):
        for (cmd, before), out in zip(commands, results):
            if before:
                before()
            out.append(run_measured(cmd))
    return results


def side_by_side(ours, theirs, runs):
    """`take_turns` for two commands: per command, the median wall time, the median peak RSS
    and the last run's output."""
    middle = lambda values: sorted(values)[len(values) // 2]
    return [(middle([r[0] for r in rs]), middle([r[1] for r in rs]), rs[-1][2])
            for rs in take_turns([ours, theirs], runs)]


def run_measured(cmd):
    """Like measure, with the child's peak RSS (ru_maxrss of the reaped child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{' '.join(cmd)} failed ({status}):\n{out.decode()}\n{err.decode()}")
    return seconds, usage.ru_maxrss / 1024, out.decode()


DUCKDB_INGEST = r"""
import duckdb, sys
logs, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute(f'''
COPY (
  SELECT "messageId" AS message_id, "type",
         TRY_CAST("timestamp" AS TIMESTAMPTZ) AS event_time,
         coalesce("userId", "anonymousId") AS user_id,
         json_extract_string(properties, '$.query') AS query,
         regexp_replace(trim(lower(json_extract_string(properties, '$.query'))), '\s+', ' ', 'g') AS term,
         CASE "type"
           WHEN 'search' THEN TRY_CAST(json_extract(properties, '$.results') AS VARCHAR[])
           WHEN 'select' THEN [json_extract_string(properties, '$.sticker_id')]
           WHEN 'report' THEN TRY_CAST(json_extract(properties, '$.sticker_ids') AS VARCHAR[])
         END AS sticker_ids,
         CAST(properties AS VARCHAR) AS properties, CAST(context AS VARCHAR) AS context,
         filename AS source,
         CAST(TRY_CAST("timestamp" AS TIMESTAMPTZ) AS DATE) AS event_date
  FROM read_json('{logs}', format = 'newline_delimited', ignore_errors = true, filename = true,
                 columns = {{"messageId": 'VARCHAR', "type": 'VARCHAR', "timestamp": 'VARCHAR',
                            "userId": 'VARCHAR', "anonymousId": 'VARCHAR',
                            "properties": 'JSON', "context": 'JSON'}})
  WHERE "messageId" IS NOT NULL AND TRY_CAST("timestamp" AS TIMESTAMPTZ) IS NOT NULL
) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (event_date))
''')
"""

DUCKDB_JOBS = r"""
import duckdb, glob, os, sys
warehouse, sql_dir, day, out = sys.argv[1:5]
con = duckdb.connect()
con.execute(f'''CREATE VIEW raw_events AS SELECT * FROM read_parquet('{warehouse}/raw_events/*/*.parquet', hive_partitioning = true)
               WHERE event_date = DATE '{day}' ''')
for path in sorted(glob.glob(os.path.join(sql_dir, '*.sql'))):
    name = os.path.basename(path)[:-4]
    query = open(path).read()
    con.execute(f"COPY ({query}) TO '{out}/{name}.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""


def mib(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total / (1 << 20)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--work", default=os.path.join(HERE, "out"))
    parser.add_argument("--runs", type=int, default=3, help="runs per engine and step (median)")
    args = parser.parse_args()
    import duckdb

    shutil.rmtree(args.work, ignore_errors=True)
    logs, wh, duck_wh, duck_jobs = (os.path.join(args.work, d) for d in ("logs", "wh", "duck_wh", "duck_jobs"))
    os.makedirs(duck_jobs)
    subprocess.run([args.bin, "generate", "--out", logs, "--events", str(args.events), "--days", "1",
                    "--start", DAY, "--servers", "4", "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    os.remove(os.path.join(logs, "catalog.jsonl"))
    log_mib = mib(logs)
    lines = sum(1 for f in glob.glob(f"{logs}/*.jsonl") for _ in open(f, "rb"))

    rows = []
    # Ingest, once the generated logs are on disk (their writeback would slow the first run).
    os.sync()
    script = os.path.join(args.work, "duck_ingest.py")
    open(script, "w").write(DUCKDB_INGEST)
    (t, rss, out), (t_duck, rss_duck, _) = side_by_side(
        ([args.bin, "--warehouse", wh, "tailer", "--source", f"{logs}/*.jsonl"],
         lambda: shutil.rmtree(wh, ignore_errors=True)),
        ([sys.executable, script, f"{logs}/*.jsonl", duck_wh], lambda: shutil.rmtree(duck_wh, ignore_errors=True)),
        args.runs)
    events = int(out.split(" events written")[0].split(", ")[-1])
    rows.append(("ingest", "stickerlake tailer", t, rss, events / t, log_mib / t))
    duck_events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{duck_wh}/*/*.parquet')").fetchall()[0][0]
    rows.append(("ingest", "DuckDB COPY … PARTITION_BY", t_duck, rss_duck, duck_events / t_duck, log_mib / t_duck))
    ingest_ratio = t / t_duck

    # Daily jobs over the same Parquet (stickerlake's raw_events) for the day.
    script = os.path.join(args.work, "duck_jobs.py")
    open(script, "w").write(DUCKDB_JOBS)
    (t_run, rss_run, _), (t_djobs, rss_djobs, _) = side_by_side(
        ([args.bin, "--warehouse", wh, "run", "all", "--date", DAY, "--sql-dir", os.path.join(ROOT, "sql")], None),
        ([sys.executable, script, wh, os.path.join(ROOT, "sql"), DAY, duck_jobs], None),
        args.runs)
    day_events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{wh}/raw_events/event_date={DAY}/*.parquet')").fetchall()[0][0]
    rows.append(("daily jobs", "stickerlake run all", t_run, rss_run, day_events / t_run, None))
    rows.append(("daily jobs", "DuckDB, same SQL files", t_djobs, rss_djobs, day_events / t_djobs, None))
    jobs_ratio = t_run / t_djobs
    from deltalake import DeltaTable
    for name in ("search_term_daily", "reported_sticker_daily"):
        # The table's current snapshot: re-runs leave the files they replaced until vacuum.
        files = DeltaTable(f"{wh}/{name}").file_uris()
        ours = duckdb.sql(f"SELECT * EXCLUDE (event_date) FROM read_parquet({files!r}, hive_partitioning = true) ORDER BY ALL").fetchall()
        theirs = duckdb.sql(f"SELECT * FROM read_parquet('{duck_jobs}/{name}.parquet') ORDER BY ALL").fetchall()
        if ours != theirs:
            sys.exit(f"{name}: stickerlake and DuckDB disagree ({len(ours)} vs {len(theirs)} rows)")

    print(f"\n{lines:,} log lines, {log_mib:.0f} MiB, {events:,} valid events (one day: {day_events:,}); "
          f"DuckDB {duckdb.__version__}; {os.cpu_count()} cores; median of {args.runs} runs each, the two engines alternating\n")
    print("| step | engine | seconds | peak RSS MiB | events/s | MiB/s |")
    print("|---|---|---|---|---|---|")
    for step, engine, secs, rss, eps, mbs in rows:
        print(f"| {step} | {engine} | {secs:.2f} | {rss:.0f} | {eps:,.0f} | {'' if mbs is None else f'{mbs:.0f}'} |")
    print(f"\ningest ratio stickerlake/DuckDB = {ingest_ratio:.2f} (below 1 is faster); "
          f"daily jobs ratio = {jobs_ratio:.2f}; daily outputs identical: yes")
    json.dump({"rows": rows, "ingest_ratio": ingest_ratio, "jobs_ratio": jobs_ratio},
              open(os.path.join(args.work, "results.json"), "w"))
    sys.stdout.flush()
    # deltalake's native threads abort the interpreter's normal exit on this machine.
    os._exit(0)


if __name__ == "__main__":
    main()
