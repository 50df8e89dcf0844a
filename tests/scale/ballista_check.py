#!/usr/bin/env python3
"""The same jobs and queries on Apache Ballista (`make test-scale`).

Starts a Ballista 55 cluster on 127.0.0.1 (`stickerlake ballista scheduler` and two
`stickerlake ballista executor`s, from a build with `--features ballista`), builds a warehouse
of several days with the local engine, then, on a copy holding only raw_events and
quarantine, runs `stickerlake run all --engine df://…`. Checks, and exits non-zero saying what
differs:
- every daily table Ballista's run wrote equals the local one row for row (each row as many
  times), read back by the local engine;
- a handful of analyst queries (aggregates, joins, a window, list explosion, JSON functions,
  partition filters) give the same answers on Ballista as locally, over the same files;
- the scan preview (`sql --explain-scan`) says the same with `--engine`;
- both executors ran tasks (their work folders hold the jobs' shuffle files);
- an unreachable scheduler or an unknown engine is a clear message, a non-zero exit, and
  nothing is written;
- executor loss, on a second cluster (scheduler `--executor-timeout 5s`, executors
  `--heartbeat-interval 1s`, each with its own work dir): five times, one executor `kill -9`-ed
  0.5, 1.5 or 3 s into a `run all --day-timeout 20s` (a new one then takes its place), and
  every run finishes on the other with the local tables (a day Ballista lost track of, or
  failed, is started again under `--day-timeout`); every executor
  killed while a run runs, and it fails within a bounded time (the timeout, then one more for
  an executor to come back) naming the engine, writing no day; new executors, and a re-run
  is exact;
- separate hosts (as root, with `ip`): the scheduler and each executor in a network
  namespace of its own with its own address, the client outside: the jobs' tables and a
  join query equal the local engine's (elsewhere it says loudly that it ran on loopback);
- S3: a cluster over an `s3://` warehouse on a moto server (client, scheduler and executors
  with the same `AWS_*` settings): the jobs' tables and a JSON query equal the local engine's.

    python3 tests/scale/ballista_check.py --bin target/debug/stickerlake \
        --ballista-bin target/ballista/stickerlake --work /tmp/ballista
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from common import FROM, TO, local_warehouse

# Analyst queries: each has an ORDER BY that fixes the order of every row.
QUERIES = {
    "events per day and type": """
        SELECT event_date, type, count(*) AS events, count(DISTINCT message_id) AS unique_events
        FROM raw_events GROUP BY event_date, type ORDER BY event_date, type""",
    "one day's top terms (partition filter)": """
        SELECT term, count(*) AS searches FROM raw_events
        WHERE event_date = DATE '2026-11-21' AND type = 'search' AND term IS NOT NULL
        GROUP BY term ORDER BY searches DESC, term LIMIT 25""",
    "selections joined to the daily table": """
        SELECT d.term, d.searches, count(e.message_id) AS selections
        FROM search_term_daily AS d
        LEFT JOIN raw_events AS e
          ON e.term = d.term AND e.event_date = d.event_date AND e.type = 'select'
        WHERE d.event_date BETWEEN DATE '2026-11-20' AND DATE '2026-11-22'
        GROUP BY d.term, d.searches ORDER BY d.searches DESC, d.term, selections LIMIT 40""",
    "rank of terms within each day (window)": """
        SELECT event_date, term, searches,
               rank() OVER (PARTITION BY event_date ORDER BY searches DESC) AS place
        FROM search_term_daily
        QUALIFY place <= 3
        ORDER BY event_date, place, term""",
    "reported stickers (unnest)": """
        SELECT sticker_id, count(*) AS mentions
        FROM (SELECT unnest(sticker_ids) AS sticker_id FROM raw_events WHERE type = 'report') AS r
        GROUP BY sticker_id ORDER BY mentions DESC, sticker_id LIMIT 20""",
    "spend per currency (JSON functions)": """
        SELECT json_get_str(properties, 'currency') AS currency,
               count(*) AS purchases,
               sum(json_get_int(properties, 'amount_cents')) AS cents,
               count(properties ->> 'sku') AS with_sku
        FROM raw_events WHERE type = 'purchase'
        GROUP BY 1 ORDER BY 1""",
    "users per hour": """
        SELECT date_trunc('hour', event_time) AS hour, count(DISTINCT user_id) AS users
        FROM raw_events GROUP BY 1 ORDER BY 1""",
    "quarantine by reason": """
        SELECT error, count(*) AS lines FROM quarantine GROUP BY error ORDER BY lines DESC, error""",
}


def run(*args, check=True):
    result = subprocess.run(args, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(args)}\n{result.stderr}")
    return result


def free_port(pairs=False):
    """A port free on 127.0.0.1 (and, with pairs, the one after it too)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pairs or port_is_free(port + 1):
            return port


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_for_port(port, process, name, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"{name} did not listen on {port} within {seconds} s")


def table_rows(stickerlake, warehouse, table):
    """Every row of a table as CSV lines, sorted (the local engine reads it)."""
    out = run(stickerlake, "--warehouse", warehouse, "sql", "--format", "csv",
              f"SELECT * FROM {table}").stdout.splitlines()
    return out[0], sorted(out[1:])


def start_scheduler(ballista, warehouse, port, logs, *flags):
    """`stickerlake ballista scheduler` on 127.0.0.1:port, once it listens."""
    scheduler = subprocess.Popen(
        [ballista, "--warehouse", warehouse, "ballista", "scheduler",
         "--bind", f"127.0.0.1:{port}", *flags], stdout=logs, stderr=logs)
    wait_for_port(port, scheduler, "the scheduler")
    return scheduler


def same_answer(stickerlake, ballista, warehouse, engine, what, query, failures):
    """The query's CSV from the local engine and from the cluster: the same, and not empty."""
    local = run(stickerlake, "--warehouse", warehouse, "sql", "--format", "csv", query).stdout
    remote = run(ballista, "--warehouse", warehouse, "sql", "--format", "csv",
                 "--engine", engine, query).stdout
    rows = len(local.splitlines()) - 1
    print(f"{what}: {rows} rows, {'same' if local == remote else 'DIFFERENT'}")
    if local != remote or rows <= 0:
        failures.append(f"{what}: local\n{local}\nBallista\n{remote}")


def stop(processes):
    """SIGTERM to those still running, SIGKILL to any that does not end in 10 s."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


# `run --day-timeout` in the executor-loss check: far above a day's time here (well under
# a second), and above the executor timeout (5 s) that lets Ballista move a task itself.
DAY_TIMEOUT = 20
# When the executor dies in each round of the executor-loss check, in seconds into the run.
KILL_AFTER = (0.5, 1.5, 3.0, 0.5, 1.5)


def ran_tasks(work_dir):
    """The Ballista jobs an executor ran tasks of (a folder each in its work dir)."""
    return [d for d in os.listdir(work_dir) if not d.startswith("datafusion-")]


def snapshot(folder):
    return sorted((os.path.relpath(os.path.join(d, f), folder),
                   os.path.getsize(os.path.join(d, f)))
                  for d, _, files in os.walk(folder) for f in files)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the default build")
    parser.add_argument("--ballista-bin", required=True, help="a build with --features ballista")
    parser.add_argument("--work", required=True)
    parser.add_argument("--events", type=int, default=30000)
    args = parser.parse_args()
    stickerlake = os.path.abspath(args.bin)
    ballista = os.path.abspath(args.ballista_bin)
    work = os.path.abspath(args.work)
    started = time.time()
    ours = local_warehouse(stickerlake, work, args.events, seed=12)
    theirs = f"{work}/ballista-warehouse"
    for table in ("raw_events", "quarantine"):
        shutil.copytree(f"{ours}/{table}", f"{theirs}/{table}")
    print(f"stickerlake: local warehouse and jobs in {time.time() - started:.1f} s")

    failures = []
    check_bad_engines(ballista, stickerlake, theirs, failures)

    scheduler_port = free_port()
    engine = f"df://127.0.0.1:{scheduler_port}"
    processes = []
    logs = open(f"{work}/cluster.log", "w")
    try:
        started = time.time()
        processes.append(start_scheduler(ballista, theirs, scheduler_port, logs))
        for n in range(2):
            port = free_port(pairs=True)
            executor = subprocess.Popen(
                [ballista, "--warehouse", theirs, "ballista", "executor",
                 "--scheduler", f"127.0.0.1:{scheduler_port}", "--port", str(port),
                 "--concurrent-tasks", "2", "--work-dir", f"{work}/executor-{n}"],
                stdout=logs, stderr=logs)
            processes.append(executor)
            wait_for_port(port, executor, f"executor {n}")
            wait_for_port(port + 1, executor, f"executor {n}'s task service")
        print(f"ballista: scheduler and 2 executors up in {time.time() - started:.1f} s")

        started = time.time()
        job_run = run(ballista, "--warehouse", theirs, "run", "all", "--from", FROM, "--to", TO,
                      "--engine", engine)
        print(f"ballista: run all over {FROM}..{TO} in {time.time() - started:.1f} s")
        print("\n".join("  " + l for l in job_run.stdout.splitlines()))
        same_job_tables(stickerlake, ours, theirs, failures, "run all")

        started = time.time()
        for name, query in QUERIES.items():
            same_answer(stickerlake, ballista, theirs, engine, f"query {name!r}", query, failures)
        print(f"ballista: {len(QUERIES)} queries in {time.time() - started:.1f} s")

        # The scan preview is planned here for a remote engine: the same figures.
        scan = "SELECT count(DISTINCT user_id) FROM raw_events WHERE event_date >= DATE '2026-11-21'"
        local = run(stickerlake, "--warehouse", theirs, "sql", "--explain-scan", scan).stdout
        remote = run(ballista, "--warehouse", theirs, "sql", "--explain-scan", "--engine", engine,
                     scan).stdout
        print(f"scan preview: {'same' if local == remote else 'DIFFERENT'}")
        if local != remote or "raw_events" not in local:
            failures.append(f"scan preview: local\n{local}\nBallista\n{remote}")
        # The work was the executors': each ran tasks (a folder per job in its work dir).
        for n in range(2):
            jobs = ran_tasks(f"{work}/executor-{n}")
            print(f"executor {n}: tasks of {len(jobs)} Ballista job(s)")
            if not jobs:
                failures.append(f"executor {n} ran no task")
    finally:
        stop(processes)
        logs.close()

    check_executor_loss(ballista, stickerlake, ours, work, failures)
    check_separate_hosts(ballista, stickerlake, ours, work, failures)
    check_s3(ballista, stickerlake, ours, work, failures)

    if failures:
        print("DIFFERENT: " + "\n".join(failures))
        print(f"(cluster log: {work}/cluster.log)")
        sys.exit(1)
    print("same tables and answers on Ballista and locally")


def start_executor(ballista, warehouse, scheduler_port, work_dir, logs, heartbeat="1s",
                   scheduling="push", log_level="warn", tasks=2):
    port = free_port(pairs=True)
    executor = subprocess.Popen(
        [ballista, "--warehouse", warehouse, "ballista", "executor",
         "--scheduler", f"127.0.0.1:{scheduler_port}", "--port", str(port),
         "--concurrent-tasks", str(tasks), "--work-dir", work_dir, "--heartbeat-interval", heartbeat,
         "--scheduling", scheduling, "--log-level", log_level],
        stdout=logs, stderr=logs)
    wait_for_port(port, executor, work_dir)
    if scheduling == "push":  # with pull, it asks the scheduler for tasks: no task service
        wait_for_port(port + 1, executor, f"{work_dir}'s task service")
    return executor


def same_job_tables(stickerlake, ours, theirs, failures, what):
    for table in sorted(t for t in os.listdir(ours)
                        if t not in ("raw_events", "quarantine") and not t.startswith(("_", "."))):
        header, expected = table_rows(stickerlake, ours, table)
        their_header, actual = table_rows(stickerlake, theirs, table)
        same = header == their_header and expected == actual and expected
        print(f"{what}: {table}: local {len(expected)} rows, Ballista {len(actual)}: "
              f"{'same' if same else 'DIFFERENT'}")
        if not same:
            failures.append(f"{what}: {table} differs")


# Executor loss runs on pull scheduling: with push, Ballista 55 can hang a job when an
# executor dies while tasks are being launched onto it (apache/datafusion-ballista#2226).
SCHEDULING = os.environ.get("BALLISTA_SCHEDULING", "pull")
# Task slots per executor in the executor-loss check. A day abandoned after --day-timeout
# stays a job on the scheduler (Ballista 55's client gives out a job's id only once it has
# ended, so it cannot be cancelled), and such a job can keep a slot busy retrying a fetch
# from the dead executor: with 2 slots, two of them left the next attempt none.
LOSS_TASKS = 4


def check_executor_loss(ballista, stickerlake, ours, work, failures):
    """An executor killed mid-run (five times, at different moments), then all of them: see
    the module's docstring."""
    scheduler_port = free_port()
    engine = f"df://127.0.0.1:{scheduler_port}"
    logs = open(f"{work}/loss-cluster.log", "w")
    processes = []
    try:
        processes.append(start_scheduler(ballista, ours, scheduler_port, logs,
                                         "--executor-timeout", "5s", "--scheduling", SCHEDULING,
                                         "--log-level", "info"))
        dirs = [f"{work}/loss-executor-{n}" for n in range(2)]
        executors = [start_executor(ballista, ours, scheduler_port, d, logs, scheduling=SCHEDULING,
                                    log_level="info", tasks=LOSS_TASKS)
                     for d in dirs]
        processes += executors

        # One executor `kill -9`-ed KILL_AFTER[n] seconds into a run, each time on a fresh
        # copy of the raw tables: the run finishes on the executor left, exact. Ballista 55
        # sometimes loses track of a job whose executor died under it (see SCHEDULING):
        # `--day-timeout` starts such a day again, on the executor left, and the
        # replace-a-day commits make that exact. A new executor then takes the lost one's
        # place for the next round.
        mid_run = 0
        for n, delay in enumerate(KILL_AFTER):
            what = f"executor loss {n + 1}/{len(KILL_AFTER)}"
            theirs = f"{work}/loss-warehouse-{n}"
            for table in ("raw_events", "quarantine"):
                shutil.copytree(f"{ours}/{table}", f"{theirs}/{table}")
            started = time.time()
            job_run = subprocess.Popen(
                [ballista, "--warehouse", theirs, "run", "all", "--from", FROM, "--to", TO,
                 "--engine", engine, "--day-timeout", f"{DAY_TIMEOUT}s"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            killed_mid_run = job_run.poll() is None
            mid_run += killed_mid_run
            executors[0].kill()
            print(f"{what}: an executor killed {time.time() - started:.1f} s into the run "
                  f"({'while it ran' if killed_mid_run else 'after it ended'})")
            try:
                out, err = job_run.communicate(timeout=6 * DAY_TIMEOUT)
                took = time.time() - started
                hung = err.count(f"no answer within {DAY_TIMEOUT} s (--day-timeout); starting")
                failed = err.count("failed on the cluster (")
                print(f"{what}: run all exit {job_run.returncode} after {took:.1f} s"
                      + (f"; a day started again {hung} time(s) after no answer within "
                         f"{DAY_TIMEOUT} s (Ballista's known hang), {failed} time(s) after the "
                         "cluster failed it" if hung or failed else ""))
                if job_run.returncode != 0:
                    print(f"{what}: run all's stderr:\n{err}")
                    failures.append(f"{what}: run all failed:\n{err}")
            except subprocess.TimeoutExpired:
                job_run.kill()
                job_run.communicate()
                failures.append(f"{what}: run all still running {6 * DAY_TIMEOUT} s after the kill")
            same_job_tables(stickerlake, ours, theirs, failures, what)
            if n + 1 < len(KILL_AFTER):
                dirs = [dirs[1], f"{work}/loss-executor-{n + 2}"]
                executors = [executors[1], start_executor(ballista, ours, scheduler_port, dirs[1],
                                                          logs, scheduling=SCHEDULING,
                                                          log_level="info", tasks=LOSS_TASKS)]
                processes.append(executors[1])
        # Left: the executor killed last (executors[0]) and the one alive (executors[1]).
        if mid_run < len(KILL_AFTER) - 1:
            failures.append(f"executor loss: only {mid_run} of {len(KILL_AFTER)} kills landed "
                            "while the run ran")

        # Every executor killed while a run is running (the one left, and a new one started
        # for it): a bounded failure that names the engine, and no day written.
        empty = f"{work}/loss-empty-warehouse"
        for table in ("raw_events", "quarantine"):
            shutil.copytree(f"{ours}/{table}", f"{empty}/{table}")
        spare_dir = f"{work}/loss-spare"
        spare = start_executor(ballista, empty, scheduler_port, spare_dir, logs,
                               scheduling=SCHEDULING)
        processes.append(spare)
        before = snapshot(empty)
        base = len(os.listdir(dirs[1]))
        started = time.time()
        lost = subprocess.Popen(
            [ballista, "--warehouse", empty, "run", "all", "--from", FROM, "--to", TO,
             "--engine", engine], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        has_tasks = lambda d: os.path.isdir(d) and bool(ran_tasks(d))
        while not (has_tasks(spare_dir) or len(os.listdir(dirs[1])) > base):
            if time.time() > deadline or lost.poll() is not None:
                break
            time.sleep(0.02)
        running = lost.poll() is None
        for executor in (executors[1], spare):
            executor.kill()
        try:
            _, err = lost.communicate(timeout=120)
            took = time.time() - started
            last = err.strip().splitlines()[-1][:200] if err.strip() else ""
            print(f"every executor killed {'while it ran' if running else 'AFTER IT ENDED'}: "
                  f"run all exit {lost.returncode} after {took:.1f} s: {last!r}")
            if not running or lost.returncode == 0 or engine not in err:
                failures.append(f"every executor killed: exit {lost.returncode}, expected a "
                                f"failure naming {engine}:\n{err}")
        except subprocess.TimeoutExpired:
            lost.kill()
            failures.append("every executor killed: run all still waiting after 120 s")
        written = [p for p, _ in snapshot(empty) if p not in dict(before)
                   and not p.startswith(("raw_events", "quarantine"))]
        print(f"every executor killed: {len(written)} file(s) written")
        if written:
            failures.append(f"every executor killed: the failed run wrote {written}")

        # A healthy cluster again: the re-run is exact.
        processes += [start_executor(ballista, empty, scheduler_port, f"{d}-again", logs,
                                     scheduling=SCHEDULING) for d in dirs]
        run(ballista, "--warehouse", empty, "run", "all", "--from", FROM, "--to", TO,
            "--engine", engine)
        same_job_tables(stickerlake, ours, empty, failures, "after the executors came back")
    finally:
        stop(processes)
        logs.close()


# Separate hosts: a network namespace each, on one bridge (the client stays outside).
BRIDGE, SUBNET = "slbr0", "10.231.7"
HOSTS = {"slsched": 2, "slexec0": 3, "slexec1": 4}


def ip(*args, namespace=None):
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


def make_hosts():
    """The scheduler's and each executor's namespace with its own address, reached through
    veth pairs on a bridge whose own address the client uses."""
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    for name, host in HOSTS.items():
        ip("netns", "add", name)
        ip("link", "add", f"{name}-br", "type", "veth", "peer", "name", f"{name}-if")
        ip("link", "set", f"{name}-br", "master", BRIDGE)
        ip("link", "set", f"{name}-br", "up")
        ip("link", "set", f"{name}-if", "netns", name)
        ip("addr", "add", f"{SUBNET}.{host}/24", "dev", f"{name}-if", namespace=name)
        ip("link", "set", f"{name}-if", "up", namespace=name)
        ip("link", "set", "lo", "up", namespace=name)


def remove_hosts():
    for name in HOSTS:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{name}-br"], capture_output=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def wait_for_address(host, port, process, name, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited with {process.returncode} before listening on {host}:{port}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    sys.exit(f"{name} did not listen on {host}:{port} within {seconds} s")


def check_separate_hosts(ballista, stickerlake, ours, work, failures):
    """The scheduler and two executors each in a network namespace of its own, so plans,
    tasks, shuffle fetches and results cross real interfaces; loopback only (said loudly)
    where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        print("!!!!! separate hosts: SKIPPED (needs root and `ip` for network namespaces); "
              "the clusters above ran on loopback only !!!!!")
        return
    remove_hosts()
    try:
        make_hosts()
    except subprocess.CalledProcessError as e:
        remove_hosts()
        print(f"!!!!! separate hosts: SKIPPED, no network namespaces here ({e.stderr.strip()}); "
              "the clusters above ran on loopback only !!!!!")
        return
    theirs = f"{work}/hosts-warehouse"
    for table in ("raw_events", "quarantine"):
        shutil.copytree(f"{ours}/{table}", f"{theirs}/{table}")
    scheduler_host = f"{SUBNET}.{HOSTS['slsched']}"
    engine = f"df://{scheduler_host}:50050"
    logs = open(f"{work}/hosts-cluster.log", "w")
    processes = []
    try:
        in_host = lambda name, *args: subprocess.Popen(
            ["ip", "netns", "exec", name, ballista, "--warehouse", theirs, "ballista", *args],
            stdout=logs, stderr=logs)
        scheduler = in_host("slsched", "scheduler", "--bind", f"{scheduler_host}:50050")
        processes.append(scheduler)
        wait_for_address(scheduler_host, 50050, scheduler, "the scheduler")
        for n in range(2):
            name = f"slexec{n}"
            host = f"{SUBNET}.{HOSTS[name]}"
            executor = in_host(name, "executor", "--scheduler", f"{scheduler_host}:50050",
                               "--bind", host, "--port", "50051",
                               "--work-dir", f"{work}/hosts-executor-{n}")
            processes.append(executor)
            wait_for_address(host, 50051, executor, name)
            wait_for_address(host, 50052, executor, f"{name}'s task service")
        started = time.time()
        run(ballista, "--warehouse", theirs, "run", "all", "--from", FROM, "--to", TO,
            "--engine", engine)
        print(f"separate hosts: scheduler {scheduler_host}, executors "
              f"{SUBNET}.{HOSTS['slexec0']} and {SUBNET}.{HOSTS['slexec1']}, client "
              f"{SUBNET}.1: run all in {time.time() - started:.1f} s")
        same_job_tables(stickerlake, ours, theirs, failures, "separate hosts")
        same_answer(stickerlake, ballista, theirs, engine, "separate hosts: a join query",
                    QUERIES["selections joined to the daily table"], failures)
        for n in range(2):
            if not ran_tasks(f"{work}/hosts-executor-{n}"):
                failures.append(f"separate hosts: executor {n} ran no task")
    finally:
        stop(processes)
        logs.close()
        remove_hosts()


def check_s3(ballista, stickerlake, ours, work, failures):
    """A cluster over an s3:// warehouse on a moto server: client, scheduler and executors
    all read it with the same AWS_* settings."""
    port = free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    saved = dict(os.environ)
    os.environ.update({
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true",
        "AWS_ACCESS_KEY_ID": "scale", "AWS_SECRET_ACCESS_KEY": "scale-secret",
        "AWS_REGION": "us-east-1",
    })
    logs = open(f"{work}/s3-cluster.log", "w")
    processes = [moto]
    try:
        wait_for_port(port, moto, "moto_server")
        urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/scale-lake", method="PUT")).read()
        theirs = "s3://scale-lake/wh"
        run(stickerlake, "--warehouse", theirs, "tailer", "--source", f"{work}/logs/server-*.jsonl")
        scheduler_port = free_port()
        engine = f"df://127.0.0.1:{scheduler_port}"
        processes.append(start_scheduler(ballista, theirs, scheduler_port, logs))
        processes += [start_executor(ballista, theirs, scheduler_port, f"{work}/s3-executor-{n}",
                                     logs, heartbeat="60s") for n in range(2)]
        started = time.time()
        run(ballista, "--warehouse", theirs, "run", "all", "--from", FROM, "--to", TO,
            "--engine", engine)
        print(f"S3: run all on the cluster over {theirs} (moto) in {time.time() - started:.1f} s")
        same_job_tables(stickerlake, ours, theirs, failures, "S3")
        same_answer(stickerlake, ballista, theirs, engine, "S3: a query with JSON functions",
                    QUERIES["spend per currency (JSON functions)"], failures)
    finally:
        stop(processes)
        logs.close()
        os.environ.clear()
        os.environ.update(saved)


def check_bad_engines(ballista, stickerlake, warehouse, failures):
    """Bad --engine values: a clear message, a non-zero exit, nothing written."""
    before = snapshot(warehouse)
    closed = free_port()
    cases = [
        (ballista, "Ballista build", f"df://127.0.0.1:{closed}", "cannot reach the Ballista scheduler"),
        (ballista, "Ballista build", "spark://127.0.0.1:7077", "unknown engine"),
        (stickerlake, "default build", "df://127.0.0.1:50050", "built without Ballista"),
    ]
    for binary, build, engine, says in cases:
        for command in (["run", "all", "--from", FROM, "--to", TO], ["sql", "SELECT 1"]):
            result = run(binary, "--warehouse", warehouse, *command, "--engine", engine,
                         check=False)
            ok = result.returncode != 0 and says in result.stderr
            print(f"--engine {engine} ({build}) "
                  f"{command[0]}: exit {result.returncode}, {result.stderr.strip()[:120]!r}")
            if not ok:
                failures.append(f"--engine {engine} {command[0]}: exit {result.returncode}, "
                                f"stderr {result.stderr!r} (expected {says!r})")
    if snapshot(warehouse) != before:
        failures.append("a bad --engine wrote into the warehouse")


if __name__ == "__main__":
    main()
