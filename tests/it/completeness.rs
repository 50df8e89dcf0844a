//! Completeness: `run --require-complete` waits (exit 75) for a lagging tailer, naming it
//! and the source that holds it back, and goes once it catches up; an idle source stops
//! holding back; a retired tailer id no longer blocks.

use std::process::Output;

use crate::util::*;

on_both_stores!(require_complete_waits_for_the_lagging_tailer_and_goes_once_it_catches_up);

const DAY: &str = "2026-11-21";
const NEXT: &str = "2026-11-22";

fn tail_as(sandbox: &Sandbox, id: &str, file: &str, extra: &[&str]) {
    let source = format!("{}/{file}", sandbox.logs().display());
    let mut args = vec!["tailer", "--tailer-id", id, "--source", &source];
    args.extend_from_slice(extra);
    run_ok(&mut sandbox.cmd(&args));
}

fn run_complete(sandbox: &Sandbox, day: &str) -> Output {
    let args = ["run", "all", "--date", day, "--require-complete"];
    sandbox.cmd(&args).output().unwrap()
}

/// The rows of `search_term_daily` for `day`, read back with the `parquet` crate.
fn day_rows(sandbox: &Sandbox, day: &str) -> usize {
    let partition = format!("event_date={day}/");
    sandbox
        .tree("search_term_daily")
        .iter()
        .filter(|(path, _)| path.contains(&partition))
        .flat_map(|(_, batches)| batches)
        .map(|batch| batch.num_rows())
        .sum()
}

fn status_json(sandbox: &Sandbox, day: &str) -> (Option<i32>, serde_json::Value) {
    let args = ["status", "--format", "json", "--from", day, "--to", day];
    let output = sandbox.cmd(&args).output().unwrap();
    (
        output.status.code(),
        serde_json::from_slice(&output.stdout).unwrap(),
    )
}

fn require_complete_waits_for_the_lagging_tailer_and_goes_once_it_catches_up(sandbox: Sandbox) {
    // Host a is 45 minutes into the next day; host b's latest event is still at 20:00.
    sandbox.append(
        "a.jsonl",
        event_line("a-1", "search", "2026-11-21T12:00:00Z", "cat").as_bytes(),
    );
    sandbox.append(
        "a.jsonl",
        event_line("a-2", "search", "2026-11-22T00:45:00Z", "dog").as_bytes(),
    );
    sandbox.append(
        "b.jsonl",
        event_line("b-1", "search", "2026-11-21T20:00:00Z", "cat").as_bytes(),
    );
    tail_as(&sandbox, "a", "a.jsonl", &[]);
    tail_as(&sandbox, "b", "b.jsonl", &[]);

    let waiting = run_complete(&sandbox, DAY);
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert_eq!(waiting.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("tailer b"), "{stderr}");
    assert!(stderr.contains("b.jsonl"), "names the source: {stderr}");
    assert!(!stderr.contains("tailer a"), "a is past the day: {stderr}");
    assert_eq!(day_rows(&sandbox, DAY), 0, "nothing ran");

    let (code, json) = status_json(&sandbox, DAY);
    assert_eq!(
        code,
        Some(3),
        "stale first (never run), then incomplete: {json}"
    );
    assert_eq!(json["days"][0]["complete"], false, "{json}");
    assert_eq!(json["incomplete"], 1, "{json}");
    let b = &json["tailers"][1];
    assert_eq!(b["tailer_id"], "b", "{json}");
    assert_eq!(
        b["watermark"], "2026-11-21T19:30:00Z",
        "20:00 minus 30 min lateness"
    );
    assert!(
        b["held_by"].as_str().unwrap().ends_with("/b.jsonl"),
        "{json}"
    );
    assert!(b["lag_seconds"].as_i64().unwrap() > 0);

    // b catches up: its late event for the day and one past the day's end plus lateness.
    sandbox.append(
        "b.jsonl",
        event_line("b-2", "search", "2026-11-21T23:50:00Z", "cat").as_bytes(),
    );
    sandbox.append(
        "b.jsonl",
        event_line("b-3", "search", "2026-11-22T00:40:00Z", "owl").as_bytes(),
    );
    tail_as(&sandbox, "b", "b.jsonl", &[]);
    let went = run_complete(&sandbox, DAY);
    assert!(
        went.status.success(),
        "{}",
        String::from_utf8_lossy(&went.stderr)
    );
    let cat = "SELECT searches FROM search_term_daily WHERE term = 'cat'";
    let out = stdout(&run_ok(&mut sandbox.cmd(&["sql", cat, "--format", "csv"])));
    assert_eq!(out, "searches\n3\n", "a-1, b-1 and the late b-2");
    let (code, json) = status_json(&sandbox, DAY);
    assert_eq!(
        (code, &json["days"][0]["complete"]),
        (Some(0), &true.into()),
        "{json}"
    );

    // The next day: b's file goes quiet, so with a short idle timeout it no longer holds back;
    // a still does, until its id is retired.
    tail_as(&sandbox, "b", "b.jsonl", &["--idle-timeout", "0s"]);
    let stderr = String::from_utf8_lossy(&run_complete(&sandbox, NEXT).stderr).into_owned();
    assert!(
        stderr.contains("tailer a") && !stderr.contains("tailer b"),
        "{stderr}"
    );
    run_ok(&mut sandbox.cmd(&["tailer", "--tailer-id", "a", "--retire"]));
    let went = run_complete(&sandbox, NEXT);
    assert!(
        went.status.success(),
        "{}",
        String::from_utf8_lossy(&went.stderr)
    );
    assert_eq!(day_rows(&sandbox, NEXT), 2, "dog and owl");
    let (_, json) = status_json(&sandbox, NEXT);
    assert!(json["tailers"][0]["retired_at"].is_string(), "{json}");
}
