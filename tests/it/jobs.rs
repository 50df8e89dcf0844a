//! `run`: golden outputs over sample_events, re-runs, late events, concurrency, empty days.

use crate::util::*;

on_both_stores!(
    daily_tables_over_the_sample_match_the_independent_computation,
    rerunning_a_day_replaces_it_and_late_events_show_up,
    an_empty_day_gives_an_empty_valid_output,
    a_sticker_listed_twice_in_one_report_counts_once,
    concurrent_runs_of_one_day_leave_one_complete_output,
);

const SAMPLE_DAYS: [&str; 3] = ["2026-11-20", "2026-11-21", "2026-11-22"];

fn csv(sandbox: &Sandbox, query: &str) -> String {
    stdout(&run_ok(
        &mut sandbox.cmd(&["sql", query, "--format", "csv"]),
    ))
}

const SEARCH_TERMS: &str = "SELECT event_date, term, searches, unique_users FROM search_term_daily ORDER BY event_date, searches DESC, term";
const REPORTED: &str = "SELECT event_date, sticker_id, term, reports, unique_reporters FROM reported_sticker_daily ORDER BY event_date, reports DESC, sticker_id, term";

fn assert_daily_tables_are_the_golden_ones(sandbox: &Sandbox) {
    let golden =
        |name: &str| std::fs::read_to_string(repo_path(&format!("tests/golden/{name}"))).unwrap();
    assert_eq!(csv(sandbox, SEARCH_TERMS), golden("search_term_daily.csv"));
    assert_eq!(csv(sandbox, REPORTED), golden("reported_sticker_daily.csv"));
}

fn daily_tables_over_the_sample_match_the_independent_computation(sandbox: Sandbox) {
    let glob = repo_path("sample_events/server-*.jsonl");
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    run_days(&sandbox, "all", SAMPLE_DAYS[0], SAMPLE_DAYS[2]);
    assert_daily_tables_are_the_golden_ones(&sandbox);

    // The outputs are one file per day in the table's snapshot, readable by a second
    // reader, with the contract's schema.
    let files = sandbox.tree("search_term_daily");
    let days: Vec<&str> = files
        .keys()
        .map(|name| {
            let (folder, file) = name.split_once('/').unwrap();
            assert!(
                file.starts_with("part-") && file.ends_with(".parquet"),
                "{name}"
            );
            folder.strip_prefix("event_date=").unwrap()
        })
        .collect();
    assert_eq!(days, SAMPLE_DAYS);
    let schema = files.values().next().unwrap()[0].schema();
    let columns: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type().to_string()))
        .collect();
    assert_eq!(
        columns,
        [
            ("term", "Utf8".into()),
            ("searches", "Int64".into()),
            ("unique_users", "Int64".into())
        ]
    );
}

fn rerunning_a_day_replaces_it_and_late_events_show_up(sandbox: Sandbox) {
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "Cat").as_bytes(),
    );
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "Cat").as_bytes(),
    );
    sandbox.tail(&[]);
    run_days(&sandbox, "search_term_daily", "2026-11-23", "2026-11-23");
    run_days(&sandbox, "search_term_daily", "2026-11-23", "2026-11-23");
    let query = "SELECT term, searches FROM search_term_daily ORDER BY term";
    assert_eq!(csv(&sandbox, query), "term,searches\ncat,1\n");

    // A late event for the 23rd arrives on a later day.
    sandbox.append(
        "a.jsonl",
        event_line("m-2", "search", "2026-11-23T23:59:59Z", "cat ").as_bytes(),
    );
    sandbox.tail(&[]);
    assert_eq!(csv(&sandbox, query), "term,searches\ncat,1\n");
    run_days(&sandbox, "search_term_daily", "2026-11-23", "2026-11-23");
    assert_eq!(csv(&sandbox, query), "term,searches\ncat,2\n");
    let files = sandbox.tree("search_term_daily");
    assert_eq!(
        files.len(),
        1,
        "a re-run replaces the day's file: {:?}",
        files.keys()
    );
    // Every run leaves a record of what it read and wrote, and the latest one per day.
    let records = sandbox.objects("search_term_daily/_runs");
    let history = records.keys().filter(|k| !k.starts_with("latest/")).count();
    assert_eq!((history, records.len()), (3, 4), "{:?}", records.keys());
}

fn an_empty_day_gives_an_empty_valid_output(sandbox: Sandbox) {
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "report", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    run_days(&sandbox, "all", "2026-11-24", "2026-11-24");
    let files = sandbox.tree("search_term_daily");
    assert_eq!(files.len(), 1, "{:?}", files.keys());
    let (name, batches) = files.iter().next().unwrap();
    assert!(name.starts_with("event_date=2026-11-24/"), "{name}");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert_eq!(
        csv(&sandbox, "SELECT count(*) AS n FROM search_term_daily"),
        "n\n0\n"
    );
}

fn a_sticker_listed_twice_in_one_report_counts_once(sandbox: Sandbox) {
    // event_line's reports list st_7 twice and st_9 once.
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "report", "2026-11-23T10:00:00Z", "Cat").as_bytes(),
    );
    sandbox.append(
        "a.jsonl",
        event_line("m-2", "report", "2026-11-23T11:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    run_days(
        &sandbox,
        "reported_sticker_daily",
        "2026-11-23",
        "2026-11-23",
    );
    assert_eq!(
        csv(&sandbox, "SELECT sticker_id, term, reports, unique_reporters FROM reported_sticker_daily ORDER BY sticker_id"),
        "sticker_id,term,reports,unique_reporters\nst_7,cat,2,1\nst_9,cat,2,1\n"
    );
}

fn concurrent_runs_of_one_day_leave_one_complete_output(sandbox: Sandbox) {
    let glob = repo_path("sample_events/server-*.jsonl");
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    // Four runs released at once by a barrier, twice over: each commits a whole day.
    for _ in 0..2 {
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|scope| {
            let runs: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        let mut run = sandbox.cmd(&["run", "all", "--date", "2026-11-21"]);
                        start.wait();
                        run.output().unwrap()
                    })
                })
                .collect();
            for run in runs {
                let output = run.join().unwrap();
                assert!(
                    output.status.success(),
                    "{}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        });
    }
    let files = sandbox.tree("search_term_daily");
    assert_eq!(files.len(), 1);
    let golden = std::fs::read_to_string(repo_path("tests/golden/search_term_daily.csv")).unwrap();
    let expected: String = golden
        .lines()
        .filter(|l| l.starts_with("2026-11-21"))
        .map(|l| format!("{l}\n"))
        .collect();
    let got = csv(&sandbox, SEARCH_TERMS);
    assert_eq!(
        got.lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        expected
    );
}

#[test]
fn job_errors_name_the_file_and_exit_non_zero() {
    let sandbox = Sandbox::local();
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&[]);
    let jobs = sandbox.dir.path().join("jobs");
    std::fs::create_dir_all(&jobs).unwrap();
    std::fs::write(
        jobs.join("broken.sql"),
        "SELECT no_such_column FROM raw_events",
    )
    .unwrap();
    std::fs::write(
        jobs.join("good.sql"),
        "SELECT count(*) AS n FROM raw_events",
    )
    .unwrap();
    let err = run_err(&mut sandbox.cmd(&[
        "run",
        "all",
        "--date",
        "2026-11-23",
        "--sql-dir",
        jobs.to_str().unwrap(),
    ]));
    assert!(
        err.contains("broken.sql") && err.contains("no_such_column"),
        "{err}"
    );
    // The folder's jobs come on top of the built-in ones.
    assert!(err.contains("1 of 4 job run(s) failed"), "{err}");
    // The good job still ran: a new .sql file is a new job, no code change needed.
    assert_eq!(csv(&sandbox, "SELECT n FROM good"), "n\n1\n");

    let err = run_err(&mut sandbox.cmd(&[
        "run",
        "nope",
        "--date",
        "2026-11-23",
        "--sql-dir",
        jobs.to_str().unwrap(),
    ]));
    assert!(
        err.contains("broken, good, reported_sticker_daily, search_term_daily, or all"),
        "{err}"
    );
    let err = run_err(&mut sandbox.cmd(&["run", "all", "--date", "23/11/2026"]));
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

/// With an aggregation budget far below the day's size, every `GROUP BY` and `DISTINCT` of
/// the jobs is split into buckets on disk and run bucket by bucket: the same tables.
#[test]
fn jobs_over_their_memory_budget_give_the_same_tables() {
    let sandbox = Sandbox::local();
    let glob = repo_path("sample_events/server-*.jsonl");
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let budget = |cmd: &mut std::process::Command| {
        cmd.env("STICKERLAKE_AGGREGATE_MEMORY", "16KiB");
    };
    let mut run = sandbox.cmd(&[
        "run",
        "all",
        "--from",
        SAMPLE_DAYS[0],
        "--to",
        SAMPLE_DAYS[2],
    ]);
    budget(&mut run);
    run_ok(&mut run);
    assert_daily_tables_are_the_golden_ones(&sandbox);

    // The split is real: EXPLAIN ANALYZE shows the rows written to buckets.
    let mut explain = sandbox.cmd(&[
        "sql",
        "EXPLAIN ANALYZE SELECT count(*) AS pairs FROM (SELECT DISTINCT term, message_id FROM raw_events) AS d",
        "--format",
        "csv",
    ]);
    budget(&mut explain);
    let plan = stdout(&run_ok(&mut explain));
    let spilled: Vec<&str> = plan
        .match_indices("BoundedAggregateExec")
        .filter_map(|(at, _)| plan[at..].split("spilled_rows=").nth(1))
        .filter_map(|rest| rest.split([']', ',']).next())
        .collect();
    assert!(
        spilled.iter().any(|rows| rows.trim() != "0"),
        "no bucket was written: {plan}"
    );
}

/// A range run queries its days side by side and commits them together (at most 31 days
/// a commit): the tables must be what each day alone gives, computed here in one
/// statement over every day, and every day must have its run record.
#[test]
fn a_range_run_gives_each_day_its_own_result_in_a_commit_per_month() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 4000, 33);
    sandbox.tail(&[]);
    // 33 days from 2026-11-20 (and the day after, if a late event lands there).
    let days: Vec<String> = csv(
        &sandbox,
        "SELECT DISTINCT event_date FROM raw_events ORDER BY 1",
    )
    .lines()
    .skip(1)
    .map(str::to_owned)
    .collect();
    let n = days.len();
    assert!(n > 32, "{days:?}");
    run_days(&sandbox, "all", &days[0], &days[n - 1]);

    let searches = "SELECT event_date, term, COUNT(DISTINCT message_id) AS searches, COUNT(DISTINCT user_id) AS unique_users
        FROM raw_events WHERE type = 'search' AND term IS NOT NULL AND term <> ''
        GROUP BY event_date, term ORDER BY event_date, searches DESC, term";
    assert_eq!(csv(&sandbox, SEARCH_TERMS), csv(&sandbox, searches));
    let reports = "SELECT event_date, sticker_id, term, COUNT(DISTINCT message_id) AS reports, COUNT(DISTINCT user_id) AS unique_reporters
        FROM (SELECT event_date, term, message_id, user_id, unnest(sticker_ids) AS sticker_id FROM raw_events WHERE type = 'report') AS r
        GROUP BY event_date, sticker_id, term ORDER BY event_date, reports DESC, sticker_id, term";
    assert_eq!(csv(&sandbox, REPORTED), csv(&sandbox, reports));

    // Created, then 31 days and the rest: a commit per month, each replacing its days.
    let log = sandbox.objects("search_term_daily/_delta_log");
    let commits: Vec<String> = log
        .iter()
        .filter(|(name, _)| name.ends_with(".json"))
        .map(|(_, bytes)| String::from_utf8(bytes.to_vec()).unwrap())
        .collect();
    assert_eq!(commits.len(), 3, "{:?}", log.keys());
    let adds = |commit: &str| commit.matches("\"add\":").count();
    assert_eq!((adds(&commits[1]), adds(&commits[2])), (31, n - 31));
    let last = format!("event_date IN ('{}', '{}'", days[31], days[32]);
    assert!(commits[2].contains(&last), "{}", commits[2]);

    // Every day's run record, its rows read as the day has them: from the log's
    // statistics, or counted for a file committed without them.
    sandbox.commit_a_copy_without_statistics("raw_events", "event_date=2026-11-21");
    run_days(&sandbox, "search_term_daily", "2026-11-21", "2026-11-21");
    let raw_rows = csv(
        &sandbox,
        "SELECT event_date, count(*) AS n FROM raw_events GROUP BY event_date ORDER BY 1",
    );
    let records = sandbox.objects("search_term_daily/_runs/latest");
    assert_eq!(records.len(), n, "{:?}", records.keys());
    let mut recorded = String::from("event_date,n\n");
    for bytes in records.values() {
        let record: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        recorded += &format!(
            "{},{}\n",
            record["day"].as_str().unwrap(),
            record["inputs"][0]["rows"]
        );
    }
    assert_eq!(recorded, raw_rows);
}
