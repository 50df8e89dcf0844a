#!/usr/bin/env python3
"""Outside readers of the warehouse (`make test`): DuckDB's own `delta` extension and
delta-rs's Python binding read every table, and their counts equal stickerlake's:

1. after tailer -> run all -> compact, table by table and day by day;
2. *while* a `--follow` tailer and repeated `compact`s commit to the same day: a reader loop
   (both readers, taking turns) never sees a row twice or a count go down;
3. after `kill -9` of the tailer and of compactions at random points, and a clean re-run:
   every line is there exactly once;
4. after `vacuum --retain 0s --force`;
5. on a table written with the previous schema (no `anonymous_id`, `envelope`) that the
   tailer then evolved: old rows read as null, new rows whole, in every reader.

Nothing is downloaded: the DuckDB extension comes from its PyPI wheel.

    python tests/readers/delta_readers.py --bin target/debug/stickerlake --work /tmp/readers
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

import duckdb
import duckdb_extensions
from deltalake import DeltaTable

DAY = "2026-11-21"
LINES = 1500


def duck():
    con = duckdb.connect(config={"autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    duckdb_extensions.import_extension("delta", con=con)
    con.execute("LOAD delta")
    return con


def duck_counts(con, path, where=""):
    return con.execute(f"SELECT count(*), count(DISTINCT message_id) FROM delta_scan('{path}') {where}").fetchone()


def rs_count(path):
    return DeltaTable(path).to_pyarrow_table().num_rows


def ours(bin, warehouse, query):
    out = subprocess.run([bin, "--warehouse", warehouse, "sql", "--format", "json", query],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def check_every_table(bin, warehouse, failures):
    con = duck()
    for table in sorted(os.listdir(warehouse)):
        if table.startswith(("_", ".")):
            continue
        path = f"{warehouse}/{table}"
        mine = ours(bin, warehouse, f"SELECT count(*) AS n FROM {table}")[0]["n"]
        duckdb_n = con.execute(f"SELECT count(*) FROM delta_scan('{path}')").fetchone()[0]
        deltars_n = rs_count(path)
        column = "ingest_date" if table == "quarantine" else "event_date"
        mine_days = {r["d"]: r["n"] for r in ours(
            bin, warehouse, f"SELECT CAST({column} AS VARCHAR) AS d, count(*) AS n FROM {table} GROUP BY 1")}
        duck_days = {str(d): n for d, n in con.execute(
            f"SELECT {column}, count(*) FROM delta_scan('{path}') GROUP BY 1").fetchall()}
        same = mine == duckdb_n == deltars_n and mine_days == duck_days
        print(f"{table}: stickerlake {mine}, DuckDB delta {duckdb_n}, delta-rs {deltars_n} rows; "
              f"{len(mine_days)} days {'equal' if mine_days == duck_days else 'DIFFERENT'}")
        if not same:
            failures.append(table)


def to_previous_schema(table):
    """Rewrites a fresh raw_events as the previous release wrote it: the log's schema and the
    data files without `anonymous_id` and `envelope`."""
    import pyarrow.parquet as pq
    log = f"{table}/_delta_log"
    with open(f"{log}/{0:020}.json") as f:
        actions = [json.loads(l) for l in f if l.strip()]
    for action in actions:
        if "metaData" in action:
            schema = json.loads(action["metaData"]["schemaString"])
            schema["fields"] = [f for f in schema["fields"] if f["name"] not in ("anonymous_id", "envelope")]
            action["metaData"]["schemaString"] = json.dumps(schema)
    with open(f"{log}/{0:020}.json", "w") as f:
        f.write("".join(json.dumps(a) + "\n" for a in actions))
    with open(f"{log}/{1:020}.json") as f:
        actions = [json.loads(l) for l in f if l.strip()]
    for action in actions:
        if "add" in action:
            path = f"{table}/{action['add']['path']}"
            pq.write_table(pq.read_table(path).drop_columns(["anonymous_id", "envelope"]), path)
            action["add"]["size"] = os.path.getsize(path)
            action["add"].pop("stats", None)
    with open(f"{log}/{1:020}.json", "w") as f:
        f.write("".join(json.dumps(a) + "\n" for a in actions))


def check_schema_evolution(bin, work, failures):
    os.makedirs(work)
    warehouse, source = f"{work}/warehouse", f"{work}/a.jsonl"

    def event(n):
        with open(source, "a") as out:
            out.write(json.dumps({"messageId": f"v-{n}", "type": "search", "anonymousId": "a-1",
                                  "timestamp": "2026-11-23T10:00:00Z", "sentAt": "x",
                                  "properties": {"query": "cat"}}) + "\n")
        sh(bin, "--warehouse", warehouse, "tailer", "--source", source)

    event(0)
    to_previous_schema(f"{warehouse}/raw_events")
    event(1)
    raw = f"{warehouse}/raw_events"
    query = "SELECT message_id, anonymous_id, envelope IS NULL AS old FROM {} ORDER BY message_id"
    duck_rows = duck().execute(query.format(f"delta_scan('{raw}')")).fetchall()
    table = DeltaTable(raw).to_pyarrow_table().sort_by("message_id")
    rs_rows = list(zip(table.column("message_id").to_pylist(), table.column("anonymous_id").to_pylist(),
                       [e is None for e in table.column("envelope").to_pylist()]))
    mine = [(r["message_id"], r.get("anonymous_id"), r["old"])
            for r in ours(bin, warehouse, query.format("raw_events"))]
    expected = [("v-0", None, True), ("v-1", "a-1", False)]
    print(f"evolved schema: DuckDB {duck_rows}, delta-rs {rs_rows}, stickerlake {mine}")
    if not (list(map(tuple, duck_rows)) == rs_rows == mine == expected):
        failures.append("the evolved table reads differently")


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    bin, work = os.path.abspath(args.bin), os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    failures = []

    # 1. A warehouse of several days, every table.
    warehouse = f"{work}/warehouse"
    sh(bin, "generate", "--out", f"{work}/logs", "--events", "8000", "--days", "3",
       "--start", "2026-11-20", "--servers", "2", "--seed", "3")
    sh(bin, "--warehouse", warehouse, "tailer", "--source", f"{work}/logs/server-*.jsonl",
       "--max-rows", "700")
    sh(bin, "--warehouse", warehouse, "run", "all", "--from", "2026-11-20", "--to", "2026-11-22")
    sh(bin, "--warehouse", warehouse, "compact", "--from", "2026-11-20", "--to", "2026-11-21")
    check_every_table(bin, warehouse, failures)

    # 2 and 3. Readers while a tailer and compactions commit to one day, with kill -9s.
    rng = random.Random(args.seed)
    live = f"{work}/live"
    os.makedirs(f"{live}/logs")
    warehouse = f"{live}/warehouse"
    raw = f"{warehouse}/raw_events"
    source = f"{live}/logs/app.jsonl"
    open(source, "w").close()

    def spawn_tailer():
        return subprocess.Popen([bin, "--warehouse", warehouse, "tailer", "--source", source,
                                 "--follow", "--flush-interval", "0.2"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    tailer = spawn_tailer()
    written = [0]

    def app_server():
        with open(source, "a") as out:
            for n in range(LINES):
                out.write(json.dumps({"messageId": f"e-{n}", "type": "search",
                                      "timestamp": f"{DAY}T{n % 24:02}:{n % 60:02}:00Z",
                                      "properties": {"query": "cat"}}) + "\n")
                out.flush()
                written[0] += 1
                if n % 25 == 0:
                    time.sleep(0.05)

    writer = threading.Thread(target=app_server)
    writer.start()
    stop = threading.Event()
    seen = {"duckdb": 0, "delta-rs": 0, "queries": 0}
    problems = []

    def reader():
        con = duck()
        last = 0
        while not stop.is_set():
            if not os.path.exists(f"{raw}/_delta_log"):
                time.sleep(0.05)
                continue
            try:
                if seen["queries"] % 2 == 0:
                    rows, distinct = duck_counts(con, raw)
                    who = "duckdb"
                else:
                    table = DeltaTable(raw).to_pyarrow_table(columns=["message_id"])
                    rows, distinct = table.num_rows, len(set(table.column("message_id").to_pylist()))
                    who = "delta-rs"
            except Exception as e:  # a file vacuumed under a reader is the only excuse
                problems.append(f"reader failed: {e}")
                return
            if rows != distinct:
                problems.append(f"{who} saw {rows} rows but {distinct} distinct ids")
            if rows < last:
                problems.append(f"{who}: count went down from {last} to {rows}")
            last = max(last, rows)
            seen[who] += 1
            seen["queries"] += 1

    readers = threading.Thread(target=reader)
    readers.start()
    kills = 0
    while writer.is_alive() or kills < 4:
        compact = subprocess.Popen([bin, "--warehouse", warehouse, "compact", "--date", DAY],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "STICKERLAKE_COMPACT_PAUSE_MS": "30"})
        time.sleep(rng.uniform(0, 0.6))
        if compact.poll() is None:
            compact.send_signal(signal.SIGKILL)
            kills += 1
        compact.wait()
        if rng.random() < 0.3:
            tailer.send_signal(signal.SIGKILL)
            tailer.wait()
            kills += 1
            tailer = spawn_tailer()
    writer.join()
    tailer.send_signal(signal.SIGTERM)
    tailer.wait()
    sh(bin, "--warehouse", warehouse, "tailer", "--source", source)
    sh(bin, "--warehouse", warehouse, "compact", "--date", DAY)
    stop.set()
    readers.join()
    print(f"while committing: {seen['duckdb']} DuckDB and {seen['delta-rs']} delta-rs reads, "
          f"{kills} kill -9s, {len(problems)} problems")
    failures.extend(problems[:5])
    con = duck()
    for moment in ("after the kills", "after vacuum"):
        duck_n = duck_counts(con, raw)
        rs_n = rs_count(raw)
        mine = ours(bin, warehouse, "SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM raw_events")[0]
        print(f"{moment}: DuckDB {duck_n}, delta-rs {rs_n}, stickerlake {mine}, lines {LINES}")
        if not (duck_n == (LINES, LINES) and rs_n == LINES and (mine["n"], mine["d"]) == (LINES, LINES)):
            failures.append(f"{moment}: counts differ")
        sh(bin, "--warehouse", warehouse, "vacuum", "--retain", "0s", "--force")

    check_schema_evolution(bin, f"{work}/evolved", failures)

    if failures:
        print("DIFFERENT: " + "; ".join(failures))
        sys.stdout.flush()
        os._exit(1)
    print("DuckDB's delta extension and delta-rs read every table exactly as stickerlake does")
    sys.stdout.flush()
    # deltalake's native threads abort the interpreter's normal exit on this machine.
    os._exit(0)


if __name__ == "__main__":
    main()
