//! `status` and `run --stale`: late events make exactly their day stale; `run --stale`
//! recomputes exactly it; the JSON shape is pinned.

use crate::util::*;

on_both_stores!(late_events_make_their_day_stale_and_run_stale_fixes_exactly_it);

const RANGE: [&str; 4] = ["--from", "2026-11-20", "--to", "2026-11-22"];

fn status(sandbox: &Sandbox) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["status", "--format", "json"];
    args.extend(RANGE);
    let output = sandbox.cmd(&args).output().unwrap();
    let json = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code(), json)
}

fn stale_job_days(json: &serde_json::Value) -> Vec<String> {
    json["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["stale"] == true)
        .map(|j| {
            format!(
                "{} {}",
                j["job"].as_str().unwrap(),
                j["date"].as_str().unwrap()
            )
        })
        .collect()
}

fn late_events_make_their_day_stale_and_run_stale_fixes_exactly_it(sandbox: Sandbox) {
    let glob = repo_path("sample_events/server-*.jsonl");
    // Idle at once: the sample files are complete, so the days are too.
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--idle-timeout", "0s"]));
    let (code, json) = status(&sandbox);
    assert_eq!(code, Some(3), "never run: stale");
    assert_eq!(stale_job_days(&json).len(), 6);
    let mut run_all = vec!["run", "all"];
    run_all.extend(RANGE);
    run_ok(&mut sandbox.cmd(&run_all));

    let (code, json) = status(&sandbox);
    assert_eq!(code, Some(0), "{json}");
    // The pinned shape.
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(&json),
        [
            "days",
            "from",
            "incomplete",
            "jobs",
            "stale",
            "tailers",
            "to"
        ]
    );
    assert_eq!(
        keys(&json["jobs"][0]),
        ["date", "input_files", "job", "last_run", "stale"]
    );
    assert_eq!(
        keys(&json["jobs"][0]["last_run"]),
        ["files_read", "rows_written", "started_at"]
    );
    assert_eq!(
        keys(&json["days"][0]),
        [
            "checks",
            "complete",
            "date",
            "quarantined",
            "raw_bytes",
            "raw_files",
            "raw_rows"
        ]
    );
    assert_eq!(
        keys(&json["tailers"][0]),
        [
            "allowed_lateness_secs",
            "held_by",
            "idle_timeout_secs",
            "lag_seconds",
            "last_flush",
            "retired_at",
            "staged_flushes",
            "tailer_id",
            "watermark"
        ]
    );
    assert_eq!(json["incomplete"], 0);
    assert_eq!(json["days"].as_array().unwrap().len(), 3);
    let rows: i64 = json["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["raw_rows"].as_i64().unwrap())
        .sum();
    assert_eq!(rows as usize, sandbox.rows("raw_events"));

    // Late events for the 21st arrive from another server.
    let late: String = (0..5)
        .map(|n| {
            event_line(
                &format!("late-{n}"),
                "search",
                "2026-11-21T23:59:00Z",
                "late cat",
            )
        })
        .collect();
    sandbox.append("late.jsonl", late.as_bytes());
    run_ok(&mut sandbox.cmd(&[
        "tailer",
        "--source",
        &format!("{}/late.jsonl", sandbox.logs().display()),
        "--idle-timeout",
        "0s",
    ]));
    let (code, json) = status(&sandbox);
    assert_eq!(code, Some(3));
    assert_eq!(
        stale_job_days(&json),
        [
            "reported_sticker_daily 2026-11-21",
            "search_term_daily 2026-11-21"
        ]
    );

    let mut run_stale = vec!["run", "all", "--stale"];
    run_stale.extend(RANGE);
    let out = stdout(&run_ok(&mut sandbox.cmd(&run_stale)));
    let ran: Vec<&str> = out.lines().filter(|l| l.starts_with("run: ")).collect();
    assert_eq!(ran.len(), 2, "{out}");
    assert!(ran.iter().all(|l| l.contains("2026-11-21")), "{out}");
    let again = stdout(&run_ok(&mut sandbox.cmd(&run_stale)));
    assert!(again.contains("nothing is stale"), "{again}");
    assert_eq!(status(&sandbox).0, Some(0));

    // The recomputed day equals a fresh computation over the same logs.
    let fresh = Sandbox::local();
    run_ok(&mut fresh.cmd(&["tailer", "--source", &glob]));
    run_ok(&mut fresh.cmd(&[
        "tailer",
        "--source",
        &format!("{}/late.jsonl", sandbox.logs().display()),
    ]));
    run_ok(&mut fresh.cmd(&["run", "all", "--date", "2026-11-21"]));
    let day = "SELECT term, searches, unique_users FROM search_term_daily WHERE event_date = DATE '2026-11-21' ORDER BY term";
    let csv = |s: &Sandbox| stdout(&run_ok(&mut s.cmd(&["sql", day, "--format", "csv"])));
    assert_eq!(csv(&sandbox), csv(&fresh));
    assert!(csv(&sandbox).contains("late cat,5,1"));
}

/// A day's rows come from the Delta log's `numRecords`; a file some other writer committed
/// without them is counted by reading it, so the day's figure stays exact either way.
#[test]
fn rows_per_day_are_exact_with_and_without_the_logs_statistics() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 2000, 3);
    sandbox.tail(&[]);
    let per_day = |sandbox: &Sandbox| -> Vec<(String, i64)> {
        let (_, json) = status(sandbox);
        json["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["date"].as_str().unwrap().to_owned(),
                    d["raw_rows"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let counted = |sandbox: &Sandbox| -> Vec<(String, i64)> {
        let csv = stdout(&run_ok(&mut sandbox.cmd(&[
            "sql",
            "--format",
            "csv",
            "SELECT CAST(d AS VARCHAR) AS d, coalesce(n, 0) AS n FROM (VALUES (DATE '2026-11-20'), (DATE '2026-11-21'), (DATE '2026-11-22')) AS days(d) \
             LEFT JOIN (SELECT event_date, count(*) AS n FROM raw_events GROUP BY event_date) AS c ON c.event_date = days.d ORDER BY d",
        ])));
        csv.lines()
            .skip(1)
            .map(|l| {
                let (d, n) = l.split_once(',').unwrap();
                (d.to_owned(), n.parse().unwrap())
            })
            .collect()
    };
    let first = per_day(&sandbox);
    assert_eq!(first, counted(&sandbox));

    sandbox.commit_a_copy_without_statistics("raw_events", "event_date=2026-11-21");
    let after = per_day(&sandbox);
    assert_eq!(after, counted(&sandbox));
    assert!(
        after[1].1 > first[1].1,
        "the copy's rows count: {first:?} → {after:?}"
    );
    assert_eq!((after[0].1, after[2].1), (first[0].1, first[2].1));
}
