//! The warehouse as Delta tables: compactors racing each other, history and time travel,
//! vacuum, migrating a warehouse written before Delta tables, and damaged logs.

use std::process::Stdio;

use crate::util::*;

on_both_stores!(
    compactors_at_once_never_double_a_row,
    history_and_time_travel_read_the_log,
    vacuum_removes_only_what_no_snapshot_needs,
);

const DAY: &str = "2026-11-20";

fn counts(sandbox: &Sandbox) -> String {
    stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n, count(DISTINCT source || ':' || CAST(source_offset AS VARCHAR)) AS lines FROM raw_events",
    ])))
}

fn history(sandbox: &Sandbox, table: &str) -> Vec<serde_json::Value> {
    let out = run_ok(&mut sandbox.cmd(&["history", table, "--format", "json", "--limit", "1000"]));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// A day of many small files (one flush per 300 rows).
fn small_files(sandbox: &Sandbox) {
    generate_logs(sandbox, 4000, 2);
    sandbox.tail(&["--max-rows", "300"]);
}

/// Three compactions of the same day started together (a nightly one overlapping a hand-run
/// one): one commits, the others commit nothing; every row stays exactly once.
fn compactors_at_once_never_double_a_row(sandbox: Sandbox) {
    small_files(&sandbox);
    let before = counts(&sandbox);
    let compactors: Vec<_> = (0..3)
        .map(|_| {
            sandbox
                .cmd(&["compact", "--date", DAY])
                .env("STICKERLAKE_COMPACT_PAUSE_MS", "200")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = compactors
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            stdout(&out)
        })
        .collect();
    assert_eq!(counts(&sandbox), before, "{outputs:?}");
    let optimizes = history(&sandbox, "raw_events")
        .iter()
        .filter(|c| c["operation"] == "OPTIMIZE")
        .count();
    assert_eq!(optimizes, 1, "{outputs:?}");
    let lost = outputs
        .iter()
        .filter(|o| o.contains("another writer compacted these files first"))
        .count();
    assert_eq!(lost, 2, "{outputs:?}");
    // The day is one file in the snapshot; the losers' outputs were deleted.
    let day: Vec<String> = sandbox
        .snapshot_files("raw_events")
        .into_iter()
        .filter(|f| f.starts_with(&format!("event_date={DAY}/")))
        .collect();
    assert_eq!(day.len(), 1, "{day:?}");
    let on_disk = sandbox
        .objects(&format!("raw_events/event_date={DAY}"))
        .into_keys()
        .filter(|name| name.contains("compact"))
        .count();
    assert_eq!(on_disk, 1);
}

fn history_and_time_travel_read_the_log(sandbox: Sandbox) {
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "Cat").as_bytes(),
    );
    sandbox.tail(&["--tailer-id", "host-a"]);
    sandbox.append(
        "a.jsonl",
        event_line("m-2", "search", "2026-11-23T11:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&["--tailer-id", "host-a"]);
    run_days(&sandbox, "search_term_daily", "2026-11-23", "2026-11-23");

    let commits = history(&sandbox, "raw_events");
    let versions: Vec<u64> = commits
        .iter()
        .map(|c| c["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1, 0]);
    let newest = &commits[0];
    for field in [
        "time",
        "operation",
        "writer",
        "files_added",
        "files_removed",
        "rows_added",
        "rows_removed",
    ] {
        assert!(newest.get(field).is_some(), "{field}: {newest}");
    }
    assert_eq!(newest["writer"], "tailer host-a");
    assert_eq!(
        (
            newest["files_added"].as_u64(),
            newest["rows_added"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let job = &history(&sandbox, "search_term_daily")[0];
    assert_eq!(job["writer"], "job search_term_daily");

    // As of version 1 (the first flush): one event; the job table did not exist yet.
    let query = "SELECT count(*) AS n FROM raw_events";
    let then = run_ok(&mut sandbox.cmd(&["sql", "--as-of", "1", "--format", "csv", query]));
    assert_eq!(stdout(&then), "n\n1\n");
    assert!(String::from_utf8_lossy(&then.stderr).contains("raw_events v1"));
    let now = stdout(&run_ok(
        &mut sandbox.cmd(&["sql", "--format", "csv", query]),
    ));
    assert_eq!(now, "n\n2\n");
    let time = newest["time"].as_str().unwrap();
    let at = run_ok(&mut sandbox.cmd(&["sql", "--as-of", time, "--format", "csv", query]));
    assert_eq!(stdout(&at), "n\n2\n");
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "9", query]));
    assert!(
        err.contains("raw_events has no version 9: its latest is"),
        "{err}"
    );
    // Before a table existed: a sentence naming it and its first commit, not "not found".
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "2020-01-01T00:00:00Z", query]));
    assert!(
        err.contains(
            "raw_events has no version at or before 2020-01-01T00:00:00Z; its first is 20"
        ),
        "{err}"
    );
    assert!(!err.contains("not found"), "{err}");
    let daily = "SELECT count(*) AS n FROM search_term_daily";
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "1", daily]));
    assert!(
        err.contains("search_term_daily has no version at or before"),
        "{err}"
    );
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "yesterday", query]));
    assert!(err.contains("RFC 3339"), "{err}");
}

fn vacuum_removes_only_what_no_snapshot_needs(sandbox: Sandbox) {
    small_files(&sandbox);
    let before = counts(&sandbox);
    run_ok(&mut sandbox.cmd(&["compact", "--date", DAY]));
    // A file no commit added (a killed flush's), and the compacted inputs: on disk, not in
    // the snapshot.
    let orphan = format!("raw_events/event_date={DAY}/part-orphan-00000001-0.parquet");
    sandbox.set_object(&orphan, Some(bytes::Bytes::from_static(b"PAR1")));
    let on_disk = |sandbox: &Sandbox| {
        let mut files: Vec<String> = sandbox
            .objects("raw_events")
            .into_keys()
            .filter(|k| k.ends_with(".parquet") && !k.starts_with('_'))
            .collect();
        files.sort();
        files
    };
    assert!(on_disk(&sandbox).len() > sandbox.snapshot_files("raw_events").len());

    let err = run_err(&mut sandbox.cmd(&["vacuum", "--retain", "1h"]));
    assert!(err.contains("--force"), "{err}");
    let dry = stdout(&run_ok(&mut sandbox.cmd(&[
        "vacuum",
        "--retain",
        "0s",
        "--force",
        "--dry-run",
    ])));
    assert!(dry.contains("part-orphan-00000001-0.parquet"), "{dry}");
    assert!(
        on_disk(&sandbox).iter().any(|f| f.contains("orphan")),
        "a dry run deletes nothing"
    );
    run_ok(&mut sandbox.cmd(&["vacuum", "--retain", "0s", "--force"]));
    assert_eq!(on_disk(&sandbox), sandbox.snapshot_files("raw_events"));
    assert_eq!(counts(&sandbox), before);
}

/// A warehouse from before Delta tables (the same folders, no logs): nothing reads or writes
/// it until `migrate`, which converts it once, safely again.
#[test]
fn migrate_converts_a_warehouse_written_before_delta_tables() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 3000, 2);
    sandbox.tail(&["--max-rows", "700"]);
    run_days(&sandbox, "all", DAY, "2026-11-21");
    let before = counts(&sandbox);
    let jobs_before = stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "--format",
        "csv",
        "SELECT event_date, sum(searches) AS s FROM search_term_daily GROUP BY 1 ORDER BY 1",
    ])));
    let warehouse = sandbox.dir.path().join("warehouse");
    for table in [
        "raw_events",
        "quarantine",
        "search_term_daily",
        "reported_sticker_daily",
    ] {
        std::fs::remove_dir_all(warehouse.join(table).join("_delta_log")).unwrap();
    }

    let err = run_err(&mut sandbox.cmd(&["sql", "SELECT 1"]));
    assert!(err.contains("stickerlake migrate"), "{err}");
    // New lines are read, but nothing is written: not a file, not a checkpoint.
    sandbox.append(
        "late.jsonl",
        event_line("m-late", "search", "2026-11-21T10:00:00Z", "cat").as_bytes(),
    );
    fn files(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u64)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => files(&path, out),
                false => out.push((path.clone(), path.metadata().unwrap().len())),
            }
        }
    }
    let (mut before_tailer, mut after_tailer) = (Vec::new(), Vec::new());
    files(&warehouse, &mut before_tailer);
    let glob = format!("{}/*", sandbox.logs().display());
    let err = run_err(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    assert!(err.contains("stickerlake migrate"), "{err}");
    files(&warehouse, &mut after_tailer);
    before_tailer.sort();
    after_tailer.sort();
    assert_eq!(
        before_tailer, after_tailer,
        "the refused tailer wrote nothing"
    );
    std::fs::remove_file(sandbox.logs().join("late.jsonl")).unwrap();

    let dry = stdout(&run_ok(&mut sandbox.cmd(&["migrate", "--dry-run"])));
    assert!(dry.contains("raw_events: would convert"), "{dry}");
    assert!(!warehouse.join("raw_events/_delta_log").exists());
    let out = stdout(&run_ok(&mut sandbox.cmd(&["migrate"])));
    assert!(out.contains("raw_events: now a Delta table"), "{out}");
    assert_eq!(counts(&sandbox), before);
    let again = stdout(&run_ok(&mut sandbox.cmd(&["migrate"])));
    assert!(
        again.contains("raw_events: already a Delta table"),
        "{again}"
    );
    assert_eq!(
        stdout(&run_ok(&mut sandbox.cmd(&[
            "sql",
            "--format",
            "csv",
            "SELECT event_date, sum(searches) AS s FROM search_term_daily GROUP BY 1 ORDER BY 1",
        ]))),
        jobs_before
    );
    // Writers go on: nothing is read twice, the migrated days are not stale.
    sandbox.tail(&[]);
    assert_eq!(counts(&sandbox), before);
    let status = sandbox
        .cmd(&[
            "status",
            "--from",
            DAY,
            "--to",
            "2026-11-21",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["stale"], 0, "{json}");
}

/// A log this stickerlake cannot read is named, with what to do, and nothing is written.
#[test]
fn damaged_or_newer_logs_are_refused_by_name() {
    let sandbox = Sandbox::local();
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    sandbox.append(
        "a.jsonl",
        event_line("m-2", "search", "2026-11-23T11:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    let log = sandbox.dir.path().join("warehouse/raw_events/_delta_log");

    // A commit missing from the middle of the log.
    let first = log.join(format!("{:020}.json", 1));
    let kept = std::fs::read(&first).unwrap();
    std::fs::remove_file(&first).unwrap();
    let err = run_err(&mut sandbox.cmd(&["sql", "SELECT count(*) FROM raw_events"]));
    assert!(
        err.contains("table raw_events") && err.contains("missing a commit"),
        "{err}"
    );
    std::fs::write(&first, kept).unwrap();

    // A newer protocol (a reader feature this version does not know).
    let newer = serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
        "readerFeatures": ["aFutureFeature"], "writerFeatures": ["aFutureFeature"]}});
    std::fs::write(log.join(format!("{:020}.json", 3)), format!("{newer}\n")).unwrap();
    let err = run_err(&mut sandbox.cmd(&["sql", "SELECT count(*) FROM raw_events"]));
    assert!(
        err.contains("table raw_events") && err.contains("newer"),
        "{err}"
    );
    let before = std::fs::read_dir(&log).unwrap().count();
    let err = run_err(&mut sandbox.cmd(&[
        "tailer",
        "--source",
        &format!("{}/*", sandbox.logs().display()),
    ]));
    assert!(err.contains("table raw_events"), "{err}");
    assert_eq!(
        std::fs::read_dir(&log).unwrap().count(),
        before,
        "nothing was committed"
    );
}

/// A writer that keeps its table open past a log checkpoint (version 99) loads it afresh
/// there and goes on committing: every flush lands once, each its own version.
#[test]
fn a_tailer_committing_past_a_checkpoint_loses_and_doubles_nothing() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 1300, 1);
    sandbox.tail(&["--max-rows", "10"]);
    let versions = history(&sandbox, "raw_events").len();
    assert!(
        versions > 110,
        "{versions} versions: the test needs more flushes"
    );
    let log = sandbox.objects("raw_events/_delta_log");
    assert!(
        log.contains_key("00000000000000000099.checkpoint.parquet"),
        "{:?}",
        log.keys()
    );
    let rows = counts(&sandbox);
    let (n, lines) = rows.lines().nth(1).unwrap().split_once(',').unwrap();
    assert_eq!(n, lines, "a line twice: {rows}");
    let audit = run_ok(&mut sandbox.cmd(&["audit", "--format", "json"]));
    let report: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(report["faults"], 0, "{report}");
}

/// Versions of `table`'s log files (commits, checkpoints, …), sorted, and their paths.
fn log_files(sandbox: &Sandbox, table: &str) -> Vec<(u64, std::path::PathBuf)> {
    let log = sandbox
        .dir
        .path()
        .join(format!("warehouse/{table}/_delta_log"));
    let mut files: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_owned();
            Some((name.get(..20)?.parse().ok()?, path))
        })
        .collect();
    files.sort();
    files
}

/// Backdates the log files of versions up to `last` by 60 days (past the 30-day retention).
fn backdate(sandbox: &Sandbox, last: u64) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60 * 86_400);
    for (version, path) in log_files(sandbox, "raw_events") {
        if version <= last {
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(old).unwrap();
        }
    }
}

/// Log entries past `delta.logRetentionDuration` go, at a writer's checkpoint and with
/// `vacuum`, back to the newest checkpoint before the oldest commit kept: the table reads
/// the same, and time travel within retention still works.
#[test]
fn expired_log_entries_go_at_checkpoints_and_with_vacuum() {
    let sandbox = Sandbox::local();
    let lines = |from: usize, to: usize| -> String {
        (from..to)
            .map(|n| event_line(&format!("m-{n}"), "search", "2026-11-20T10:00:00Z", "cat"))
            .collect()
    };
    // Version 0 creates the table, then a commit per line: versions 1..=130.
    sandbox.append("a.jsonl", lines(0, 130).as_bytes());
    sandbox.tail(&["--max-rows", "1"]);
    backdate(&sandbox, 110);
    // Versions 131..=200: the checkpoint at 199 cleans up to checkpoint 99 (the newest at
    // or before 111, the oldest commit within retention).
    sandbox.append("a.jsonl", lines(130, 200).as_bytes());
    sandbox.tail(&["--max-rows", "1"]);
    let first = log_files(&sandbox, "raw_events")[0].0;
    assert_eq!(first, 99, "the writer's cleanup keeps checkpoint 99 on");
    let count = "SELECT count(*) AS n FROM raw_events";
    let n = |sandbox: &Sandbox, args: &[&str]| {
        let mut all = vec!["sql", "--format", "csv"];
        all.extend_from_slice(args);
        all.push(count);
        stdout(&run_ok(&mut sandbox.cmd(&all)))
    };
    assert_eq!(n(&sandbox, &[]), "n\n200\n");
    assert_eq!(n(&sandbox, &["--as-of", "111"]), "n\n111\n");
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "50", count]));
    assert!(
        err.contains("raw_events has no version 50 in its log any more"),
        "{err}"
    );
    // Time travel by time: within retention it reads; before it, a sentence.
    let time = history(&sandbox, "raw_events")
        .into_iter()
        .find(|c| c["version"] == 150)
        .unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(n(&sandbox, &["--as-of", &time]), "n\n150\n");
    let err = run_err(&mut sandbox.cmd(&["sql", "--as-of", "2020-01-01T00:00:00Z", count]));
    assert!(err.contains("no longer has the commits of"), "{err}");

    // Every commit expired: vacuum keeps the log from its newest checkpoint (199).
    backdate(&sandbox, 200);
    run_ok(&mut sandbox.cmd(&["vacuum", "--table", "raw_events"]));
    let versions: Vec<u64> = log_files(&sandbox, "raw_events")
        .iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(versions.first(), Some(&199), "{versions:?}");
    assert_eq!(versions.last(), Some(&200), "{versions:?}");
    assert_eq!(n(&sandbox, &[]), "n\n200\n");
}
