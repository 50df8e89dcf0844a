#!/usr/bin/env python3
"""`make bench`: stickerlake (release build) side by side with DuckDB, same data, same run.

Two input shapes: one day of 1M events from 4 servers, and 300k events over 3 days from 3
servers. For each:
1. ingest: `stickerlake tailer` vs DuckDB's one-statement COPY ... PARTITION_BY over the
   same generated JSON-lines logs;
2. daily jobs: `stickerlake run all` for the day (or `--from --to` over the range) vs DuckDB
   running the same sql/*.sql files over the same Parquet files, writing Parquet too (over a
   range, each job in its all-days form, GROUP BY event_date: one statement for all days);
   the outputs are compared.

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


# What a DuckDB user writes to compute every day of a range in one statement: each job with
# event_date carried through and grouped by. The same results as sql/*.sql run day by day.
RANGE_JOBS = {
    "search_term_daily": """
WITH searched AS (
    SELECT event_date, term, message_id, user_id FROM raw_events
    WHERE type = 'search' AND term IS NOT NULL AND term <> ''
),
searches AS (
    SELECT event_date, term, COUNT(*) AS searches
    FROM (SELECT DISTINCT event_date, term, message_id FROM searched) GROUP BY event_date, term
),
users AS (
    SELECT event_date, term, COUNT(user_id) AS unique_users
    FROM (SELECT DISTINCT event_date, term, user_id FROM searched) GROUP BY event_date, term
)
SELECT s.event_date, s.term, s.searches, u.unique_users
FROM searches s JOIN users u ON u.event_date = s.event_date AND u.term = s.term""",
    "reported_sticker_daily": """
WITH reported AS (
    SELECT event_date, message_id, user_id, term, unnest(sticker_ids) AS sticker_id
    FROM raw_events WHERE type = 'report'
),
reports AS (
    SELECT event_date, sticker_id, term, COUNT(*) AS reports
    FROM (SELECT DISTINCT event_date, sticker_id, term, message_id FROM reported)
    GROUP BY event_date, sticker_id, term
),
reporters AS (
    SELECT event_date, sticker_id, term, COUNT(user_id) AS unique_reporters
    FROM (SELECT DISTINCT event_date, sticker_id, term, user_id FROM reported)
    GROUP BY event_date, sticker_id, term
)
SELECT r.event_date, r.sticker_id, r.term, r.reports, p.unique_reporters
FROM reports r JOIN reporters p
  ON p.event_date = r.event_date AND p.sticker_id = r.sticker_id AND p.term = r.term""",
}

DUCKDB_RANGE_JOBS = r"""
import duckdb, json, sys
warehouse, jobs, first, last, out = sys.argv[1:6]
con = duckdb.connect()
con.execute(f'''CREATE VIEW raw_events AS SELECT * FROM read_parquet('{warehouse}/raw_events/*/*.parquet', hive_partitioning = true)
               WHERE event_date BETWEEN DATE '{first}' AND DATE '{last}' ''')
for name, query in json.load(open(jobs)).items():
    con.execute(f"COPY ({query}) TO '{out}/{name}.parquet' (FORMAT parquet, COMPRESSION zstd)")
"""


def mib(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    return total / (1 << 20)


# The input shapes: (name, events, days, servers, first day).
SHAPES = [
    ("1M events, one day, 4 servers", 1_000_000, 1, 4, DAY),
    ("300k events, 3 days, 3 servers", 300_000, 3, 3, "2026-11-21"),
]


def bench_shape(binary, work, runs, shape, scale):
    """Ingest and daily jobs of one input shape, each side by side with DuckDB. Returns the
    table rows and the ratios."""
    import datetime
    import duckdb
    name, events, days, servers, first = shape
    events = int(events * scale)
    logs, wh, duck_wh, duck_jobs = (os.path.join(work, d) for d in ("logs", "wh", "duck_wh", "duck_jobs"))
    os.makedirs(duck_jobs)
    subprocess.run([binary, "generate", "--out", logs, "--events", str(events), "--days", str(days),
                    "--start", first, "--servers", str(servers), "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    os.remove(os.path.join(logs, "catalog.jsonl"))
    log_mib = mib(logs)
    lines = sum(1 for f in glob.glob(f"{logs}/*.jsonl") for _ in open(f, "rb"))

    rows = []
    # Ingest, once the generated logs are on disk (their writeback would slow the first run).
    os.sync()
    script = os.path.join(work, "duck_ingest.py")
    open(script, "w").write(DUCKDB_INGEST)
    (t, rss, out), (t_duck, rss_duck, _) = side_by_side(
        ([binary, "--warehouse", wh, "tailer", "--source", f"{logs}/*.jsonl"],
         lambda: shutil.rmtree(wh, ignore_errors=True)),
        ([sys.executable, script, f"{logs}/*.jsonl", duck_wh], lambda: shutil.rmtree(duck_wh, ignore_errors=True)),
        runs)
    written = int(out.split(" events written")[0].split(", ")[-1])
    rows.append((name, "ingest", "stickerlake tailer", t, rss, written / t, log_mib / t))
    duck_events = duckdb.sql(f"SELECT count(*) FROM read_parquet('{duck_wh}/*/*.parquet')").fetchall()[0][0]
    rows.append((name, "ingest", "DuckDB COPY … PARTITION_BY", t_duck, rss_duck, duck_events / t_duck, log_mib / t_duck))
    ratios = {"ingest": t / t_duck}

    # Daily jobs over the same Parquet (stickerlake's raw_events): the day, or every day the
    # events reach (late ones spill into the day after the last).
    last = (datetime.date.fromisoformat(first) + datetime.timedelta(days=days if days > 1 else 0)).isoformat()
    sql_dir = os.path.join(ROOT, "sql")
    if days == 1:
        ours = [binary, "--warehouse", wh, "run", "all", "--date", first, "--sql-dir", sql_dir]
        script = os.path.join(work, "duck_jobs.py")
        open(script, "w").write(DUCKDB_JOBS)
        theirs = [sys.executable, script, wh, sql_dir, first, duck_jobs]
        step, engine = "daily jobs, the day", "DuckDB, same SQL files"
    else:
        ours = [binary, "--warehouse", wh, "run", "all", "--from", first, "--to", last, "--sql-dir", sql_dir]
        script = os.path.join(work, "duck_range_jobs.py")
        open(script, "w").write(DUCKDB_RANGE_JOBS)
        jobs = os.path.join(work, "range_jobs.json")
        json.dump(RANGE_JOBS, open(jobs, "w"))
        theirs = [sys.executable, script, wh, jobs, first, last, duck_jobs]
        step, engine = f"daily jobs, {first} to {last}", "DuckDB, all days in one statement per job"
    (t_run, rss_run, _), (t_djobs, rss_djobs, _) = side_by_side((ours, None), (theirs, None), runs)
    in_range = duckdb.sql(f"SELECT count(*) FROM read_parquet('{wh}/raw_events/*/*.parquet', hive_partitioning = true) "
                          f"WHERE event_date BETWEEN DATE '{first}' AND DATE '{last}'").fetchall()[0][0]
    rows.append((name, step, "stickerlake run all", t_run, rss_run, in_range / t_run, None))
    rows.append((name, step, engine, t_djobs, rss_djobs, in_range / t_djobs, None))
    ratios["jobs"] = t_run / t_djobs
    from deltalake import DeltaTable
    for job in RANGE_JOBS:
        # The table's current snapshot: re-runs leave the files they replaced until vacuum.
        files = DeltaTable(f"{wh}/{job}").file_uris()
        keep = "* EXCLUDE (event_date)" if days == 1 else "event_date, * EXCLUDE (event_date)"
        mine = duckdb.sql(f"SELECT {keep} FROM read_parquet({files!r}, hive_partitioning = true) ORDER BY ALL").fetchall()
        theirs = duckdb.sql(f"SELECT * FROM read_parquet('{duck_jobs}/{job}.parquet') ORDER BY ALL").fetchall()
        if mine != theirs:
            sys.exit(f"{name}, {job}: stickerlake and DuckDB disagree ({len(mine)} vs {len(theirs)} rows)")
    summary = f"{name}: {lines:,} log lines, {log_mib:.0f} MiB, {written:,} valid events"
    return rows, ratios, summary


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every shape's events")
    parser.add_argument("--work", default=os.path.join(HERE, "out"))
    parser.add_argument("--runs", type=int, default=3, help="runs per engine and step (median)")
    parser.add_argument("--shapes", default=",".join(str(i) for i in range(len(SHAPES))),
                        help="which input shapes, by index (0: the 1M-event day, 1: 3 days)")
    args = parser.parse_args()
    import duckdb

    shutil.rmtree(args.work, ignore_errors=True)
    rows, results, summaries = [], [], []
    for index in (int(i) for i in args.shapes.split(",")):
        shape_rows, ratios, summary = bench_shape(args.bin, os.path.join(args.work, f"shape{index}"),
                                                  args.runs, SHAPES[index], args.scale)
        rows += shape_rows
        summaries.append(summary)
        results.append({"shape": SHAPES[index][0], **ratios})

    print(f"\nDuckDB {duckdb.__version__}; {os.cpu_count()} cores; median of {args.runs} runs each, the two engines alternating")
    for summary in summaries:
        print(f"- {summary}")
    print("\n| input | step | engine | seconds | peak RSS MiB | events/s | MiB/s |")
    print("|---|---|---|---|---|---|---|")
    for shape, step, engine, secs, rss, eps, mbs in rows:
        print(f"| {shape} | {step} | {engine} | {secs:.2f} | {rss:.0f} | {eps:,.0f} | {'' if mbs is None else f'{mbs:.0f}'} |")
    print()
    for r in results:
        print(f"{r['shape']}: ingest ratio stickerlake/DuckDB = {r['ingest']:.2f} (below 1 is faster); "
              f"daily jobs ratio = {r['jobs']:.2f}; daily outputs identical: yes")
    json.dump({"rows": rows, "ratios": results}, open(os.path.join(args.work, "results.json"), "w"))
    from figures import record
    targets = {"ingest": "≤ 0.4", "jobs": "≤ 0.6"}
    for ours, peer in zip(rows[::2], rows[1::2]):
        shape, step = ours[0], ours[1]
        kind = "ingest" if step == "ingest" else "jobs"
        record(f"{shape}: {step}", f"{ours[3]:.2f} s, {ours[4]:.0f} MiB",
               f"{peer[2]} {peer[3]:.2f} s, {peer[4]:.0f} MiB", f"{ours[3] / peer[3]:.2f}",
               targets[kind] if "days" in shape or kind == "ingest" else "—",
               f"bench/bench.py --runs {args.runs} (outputs compared)")
    sys.stdout.flush()
    # deltalake's native threads abort the interpreter's normal exit on this machine.
    os._exit(0)


if __name__ == "__main__":
    main()
