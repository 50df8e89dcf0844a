//! `compact` killed with SIGKILL at seeded random points while a `--follow` tailer commits to
//! the same day and `sql` counts it: no query sees a row twice or loses one it saw, the re-run
//! finishes, counts are exact, the day's snapshot is one file, a compacted day stays fresh
//! and `audit` is clean.

use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::*;

on_both_stores!(compaction_killed_anywhere_never_shows_a_row_twice_or_loses_one);

const DAY: &str = "2026-11-21";
const LINES: usize = 1200;

/// `(count(*), count(DISTINCT message_id))` of the day, or `None` when the query failed
/// because a compaction deleted a file it had listed (retry).
fn counts(sandbox: &Sandbox) -> Option<(usize, usize)> {
    let query = format!(
        "SELECT count(*) AS n, count(DISTINCT message_id) AS d FROM raw_events WHERE event_date = DATE '{DAY}'"
    );
    let output = sandbox
        .cmd(&["sql", &query, "--format", "csv"])
        .output()
        .unwrap();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let vanished = stderr.contains("not found") || stderr.contains("No such file");
        assert!(vanished, "sql failed: {stderr}");
        return None;
    }
    let text = stdout(&output);
    let row = text.lines().nth(1).unwrap_or("0,0").to_owned();
    let (n, d) = row.split_once(',').unwrap();
    Some((n.parse().unwrap(), d.parse().unwrap()))
}

fn spawn_compact(sandbox: &Sandbox, delete_after: &str, pause_ms: &str) -> Child {
    sandbox
        .cmd(&["compact", "--date", DAY, "--delete-after", delete_after])
        .env("STICKERLAKE_COMPACT_PAUSE_MS", pause_ms)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn compaction_killed_anywhere_never_shows_a_row_twice_or_loses_one(sandbox: Sandbox) {
    let sandbox = Arc::new(sandbox);
    let mut rng = StdRng::seed_from_u64(9);
    let source = format!("{}/live.jsonl", sandbox.logs().display());
    sandbox.append("live.jsonl", b"");
    let mut tailer = sandbox
        .cmd(&[
            "tailer",
            "--source",
            &source,
            "--follow",
            "--flush-interval",
            "0.1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    // The app server: unique events for the day, in small appends.
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (sandbox, written) = (sandbox.clone(), written.clone());
        thread::spawn(move || {
            for n in 0..LINES {
                let at = format!("2026-11-21T{:02}:{:02}:00Z", n % 24, n % 60);
                sandbox.append(
                    "live.jsonl",
                    event_line(&format!("e-{n}"), "search", &at, "cat").as_bytes(),
                );
                written.fetch_add(1, Ordering::SeqCst);
                if n % 20 == 0 {
                    thread::sleep(Duration::from_millis(40));
                }
            }
        })
    };
    // The analyst: counts never go down and never double.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (sandbox, done, written) = (sandbox.clone(), done.clone(), written.clone());
        thread::spawn(move || {
            let (mut last, mut queries) = (0, 0);
            while !done.load(Ordering::SeqCst) {
                let Some((rows, distinct)) = counts(&sandbox) else {
                    continue;
                };
                assert_eq!(rows, distinct, "a row seen twice");
                assert!(
                    rows >= last,
                    "rows went from {last} to {rows}: some were lost"
                );
                assert!(rows <= written.load(Ordering::SeqCst));
                last = rows;
                queries += 1;
            }
            queries
        })
    };

    let mut kills = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while !writer.is_finished() || kills < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "{kills} kills in 180 s: the compactions finish before any kill lands"
        );
        // Kills land anywhere: writing, committed and waiting, deleting, recording done.
        let delete_after = if rng.random_bool(0.5) { "0s" } else { "1s" };
        let mut compact = spawn_compact(&sandbox, delete_after, "20");
        thread::sleep(Duration::from_millis(rng.random_range(0..900)));
        if compact.try_wait().unwrap().is_none() {
            compact.kill().unwrap();
            kills += 1;
        }
        compact.wait().unwrap();
    }
    writer.join().unwrap();
    run_ok(std::process::Command::new("kill").args(["-TERM", &tailer.id().to_string()]));
    tailer.wait().unwrap();
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &source]));
    done.store(true, Ordering::SeqCst);
    let queries = reader.join().unwrap();
    assert!(queries > 0, "the reader ran alongside");

    // The day's job, then a clean compaction: exact, fresh, reconciled.
    eprintln!("compact test: {kills} kills, {queries} concurrent queries");
    run_ok(&mut sandbox.cmd(&["run", "all", "--date", DAY]));
    let out = run_ok(&mut sandbox.cmd(&["compact", "--date", DAY, "--delete-after", "0s"]));
    assert!(stdout(&out).contains("raw_events"), "{}", stdout(&out));
    assert_eq!(counts(&sandbox), Some((LINES, LINES)));
    let files = sandbox.tree("raw_events");
    assert_eq!(files.len(), 1, "one file for the day: {:?}", files.keys());
    let status = sandbox
        .cmd(&["status", "--from", DAY, "--to", DAY, "--format", "json"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["stale"], 0, "compaction made the day stale: {json}");
    let audit = sandbox.cmd(&["audit"]).output().unwrap();
    assert!(audit.status.success(), "{}", stdout(&audit));
}

/// A compacted day keeps the tailer's layout: rows by event type, a row group per type
/// (small types sharing one), so a job's `WHERE type = ...` still skips the others.
#[test]
fn compacted_files_keep_a_row_group_per_event_type() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::statistics::Statistics;

    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 20_000, 1);
    let source = format!("{}/*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &source, "--max-rows", "2500"]));
    let day = "2026-11-20";
    let before = sandbox
        .objects(&format!("raw_events/event_date={day}"))
        .len();
    assert!(before > 3, "{before} files");
    let kinds_of = |sandbox: &Sandbox| {
        let mut kinds = strings(&sandbox.table("raw_events"), "type");
        kinds.sort();
        kinds
    };
    let kinds_before = kinds_of(&sandbox);
    run_ok(&mut sandbox.cmd(&["compact", "--date", day, "--delete-after", "0s"]));

    let files = sandbox.objects(&format!("raw_events/event_date={day}"));
    let compacted: Vec<_> = files
        .iter()
        .filter(|(name, _)| name.contains("compact"))
        .collect();
    assert_eq!(compacted.len(), 1, "{:?}", files.keys());
    let reader = SerializedFileReader::new(compacted[0].1.clone()).unwrap();
    let kind_column = 1;
    let ranges: Vec<(String, String, i64)> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|group| {
            let Some(Statistics::ByteArray(stats)) = group.column(kind_column).statistics() else {
                panic!("no statistics on type");
            };
            let text = |v: Option<&parquet::data_type::ByteArray>| {
                v.unwrap().as_utf8().unwrap().to_owned()
            };
            (
                text(stats.min_opt()),
                text(stats.max_opt()),
                group.num_rows(),
            )
        })
        .collect();
    // In type order, no type in two row groups, and searches (most rows) on their own.
    assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0), "{ranges:?}");
    assert!(
        ranges
            .iter()
            .any(|(min, max, _)| min == "search" && max == "search"),
        "{ranges:?}"
    );
    assert_eq!(kinds_of(&sandbox), kinds_before, "compaction changed rows");
}
