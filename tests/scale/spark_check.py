#!/usr/bin/env python3
"""The same warehouse and jobs on Spark (`make test-scale`).

Builds a warehouse of several days with stickerlake (generate, tailer, run all). Every table
is a Delta table; Spark here has no delta-spark (its jars come from Maven, which is not
reachable), so it reads each table's current snapshot as delta-rs lists it: exactly those
Parquet files, never the folders. Spark gets raw_events and quarantine that way, creates
the job tables from `stickerlake ddl --dialect spark` (as plain Parquet instead of
`USING DELTA`) and runs the script from `stickerlake export-jobs --dialect spark`; every
daily table Spark writes must equal stickerlake's, row for row. The Trino and Athena DDL
are parsed with sqlglot and must declare every table. Exits non-zero, saying what differs,
on any mismatch.

    python3 tests/scale/spark_check.py --bin target/debug/stickerlake --work /tmp/scale
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from common import FROM, TO, local_warehouse


def sh(*args, **kwargs):
    result = subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)
    return result.stdout


def statements(script):
    """The statements of a script of `;`-terminated statements and `--` comment lines."""
    lines = [l for l in script.splitlines() if not l.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip().rstrip(";")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--events", type=int, default=30000)
    args = parser.parse_args()
    stickerlake = os.path.abspath(args.bin)
    work = os.path.abspath(args.work)
    started = time.time()
    ours = local_warehouse(stickerlake, work, args.events, seed=11)
    theirs = f"{work}/spark-warehouse"
    ddl = sh(stickerlake, "--warehouse", ours, "ddl", "--dialect", "spark", "--location", theirs)
    jobs = sh(stickerlake, "--warehouse", ours, "export-jobs", "--dialect", "spark",
              "--from", FROM, "--to", TO)
    print(f"stickerlake: warehouse, ddl and script in {time.time() - started:.1f} s")

    check_trino_and_athena(stickerlake, ours)

    from pyspark.sql import SparkSession
    started = time.time()
    spark = (SparkSession.builder.master("local[2]").appName("stickerlake-scale")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.sql.warehouse.dir", f"{work}/spark-sql-warehouse")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for table in ("raw_events", "quarantine"):
        snapshot(spark, ours, table).createOrReplaceTempView(table)
    job_ddl = [s.replace("USING DELTA", "USING PARQUET") for s in statements(ddl)
               if not any(f"`{t}`" in s.split("(")[0] for t in ("raw_events", "quarantine"))]
    for statement in job_ddl + statements(jobs):
        spark.sql(statement)
    print(f"spark: {len(statements(ddl))} DDL and {len(statements(jobs))} job statements "
          f"in {time.time() - started:.1f} s")

    failures = []
    jobs_tables = sorted(t for t in os.listdir(ours) if t not in ("raw_events", "quarantine")
                         and not t.startswith(("_", ".")))
    for table in jobs_tables:
        expected = snapshot(spark, ours, table)
        actual = spark.read.parquet(f"{theirs}/{table}")
        columns = expected.columns
        actual = actual.select(*columns)
        missing = expected.exceptAll(actual).count()
        extra = actual.exceptAll(expected).count()
        rows = expected.count()
        print(f"{table}: stickerlake {rows} rows, Spark {actual.count()} rows, "
              f"{missing} missing from Spark, {extra} extra")
        if missing or extra or rows == 0:
            failures.append(table)
    # Spark reads stickerlake's raw_events through the DDL exactly as DataFusion does.
    counts = sh(stickerlake, "--warehouse", ours, "sql", "--format", "csv",
                "SELECT CAST(event_date AS VARCHAR) AS d, count(*) AS n FROM raw_events "
                "GROUP BY 1 ORDER BY 1").split()[1:]
    spark_counts = [f"{r['d']},{r['n']}" for r in spark.sql(
        "SELECT CAST(event_date AS STRING) AS d, count(*) AS n FROM raw_events "
        "GROUP BY 1 ORDER BY 1").collect()]
    if counts != spark_counts:
        failures.append(f"raw_events per day: stickerlake {counts}, Spark {spark_counts}")
    spark.stop()
    if failures:
        print("DIFFERENT: " + "; ".join(failures))
        sys.exit(1)
    print(f"same tables on Spark and stickerlake: {', '.join(jobs_tables)}")


def snapshot(spark, warehouse, table):
    """A Delta table's current snapshot for a Spark without delta-spark: the files delta-rs
    lists, their partition column from their folders."""
    from deltalake import DeltaTable
    files = DeltaTable(f"{warehouse}/{table}").file_uris()
    return spark.read.option("basePath", f"{warehouse}/{table}").parquet(*files)


def check_trino_and_athena(stickerlake, warehouse):
    """sqlglot parses each dialect's DDL, and it declares every table."""
    import logging
    import sqlglot
    from sqlglot import exp
    # Trino's CALL parses as a generic command; sqlglot says so on every one.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    described = {}
    for line in sh(stickerlake, "--warehouse", warehouse, "sql", "--format", "csv",
                   "SELECT table_name, column_name FROM information_schema.columns "
                   "WHERE table_schema = 'public'").splitlines()[1:]:
        table, column = line.split(",")
        described.setdefault(table, set()).add(column)
    for dialect in ("trino", "athena"):
        ddl = sh(stickerlake, "--warehouse", warehouse, "ddl", "--dialect", dialect,
                 "--location", "s3://lake/prod")
        declared = set()
        for tree in sqlglot.parse(ddl, read=dialect):
            if isinstance(tree, exp.Create):
                declared.add(tree.this.name if dialect == "athena" else tree.this.this.name)
        # Trino registers an existing Delta table with a CALL (sqlglot: a plain command).
        declared |= set(re.findall(r"table_name => '([a-z_0-9]+)'", ddl))
        if declared != set(described):
            print(f"{dialect} DDL declares {sorted(declared)}, the warehouse has {sorted(described)}")
            sys.exit(1)
        print(f"{dialect}: {len(declared)} tables declared, the DDL parses (sqlglot)")


if __name__ == "__main__":
    main()
