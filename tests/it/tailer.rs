//! The tailer against real files: partitions, quarantine, partial lines, rotation, errors.

use std::collections::BTreeSet;
use std::process::Command;

use std::time::Duration;

use crate::util::*;

on_both_stores!(
    events_land_in_utc_date_partitions_and_bad_lines_in_quarantine,
    a_partial_last_line_waits_for_its_newline,
    rotation_by_rename_and_by_copy_truncate_loses_nothing_and_duplicates_nothing,
    over_long_lines_are_quarantined_with_their_prefix,
    small_batches_make_many_files_with_every_line_once,
    follow_mode_flushes_on_its_interval_and_on_sigterm,
    json_null_is_not_an_absent_field_and_lone_surrogates_are_kept_as_sent,
);

fn events_land_in_utc_date_partitions_and_bad_lines_in_quarantine(sandbox: Sandbox) {
    let mut log = String::new();
    log += &event_line(
        "m-1",
        "search",
        "2026-11-23T10:00:00.123Z",
        "  CAT\u{3000}in a Park ",
    );
    log += &event_line(
        "m-2",
        "select",
        "2026-11-23T23:30:00-02:00",
        "cat in a park",
    );
    log += "\n   \n";
    log += "{\"messageId\": broken\n";
    log += &event_line("m-3", "app_open", "2026-11-22T01:00:00Z", "");
    sandbox.append("a.jsonl", log.as_bytes());
    let out = sandbox.tail(&[]);
    assert!(
        stdout(&out).contains("3 events written, 1 quarantined"),
        "{}",
        stdout(&out)
    );

    let files = sandbox.tree("raw_events");
    let partitions: BTreeSet<&str> = files.keys().map(|k| k.split('/').next().unwrap()).collect();
    // m-2 is 01:30 UTC on the 24th.
    assert_eq!(
        partitions,
        BTreeSet::from([
            "event_date=2026-11-22",
            "event_date=2026-11-23",
            "event_date=2026-11-24"
        ])
    );
    let raw = sandbox.table("raw_events");
    let mut ids = strings(&raw, "message_id");
    ids.sort();
    assert_eq!(
        ids,
        [Some("m-1".into()), Some("m-2".into()), Some("m-3".into())]
    );
    let terms = strings(&raw, "term");
    assert!(terms.contains(&Some("cat in a park".into())));
    // The partition column lives in the path only.
    assert!(raw[0].schema().column_with_name("event_date").is_none());

    let quarantine = sandbox.table("quarantine");
    assert_eq!(
        binaries(&quarantine, "line"),
        [b"{\"messageId\": broken".to_vec()]
    );
    let offset = log.find("{\"messageId\": broken").unwrap() as i64;
    assert_eq!(int64s(&quarantine, "source_offset"), [offset]);
    assert!(strings(&quarantine, "error")[0]
        .as_deref()
        .unwrap()
        .starts_with("invalid JSON"));
}

fn a_partial_last_line_waits_for_its_newline(sandbox: Sandbox) {
    let line = event_line("m-1", "search", "2026-11-23T10:00:00Z", "dog");
    let (head, tail) = line.split_at(30);
    sandbox.append(
        "a.jsonl",
        event_line("m-0", "search", "2026-11-23T09:00:00Z", "cat").as_bytes(),
    );
    sandbox.append("a.jsonl", head.as_bytes());
    sandbox.tail(&[]);
    assert_eq!(
        strings(&sandbox.table("raw_events"), "message_id"),
        [Some("m-0".into())]
    );
    sandbox.append("a.jsonl", tail.as_bytes());
    sandbox.tail(&[]);
    assert_eq!(message_ids(&sandbox), ["m-0", "m-1"]);
    assert!(sandbox.table("quarantine").is_empty());
}

fn rotation_by_rename_and_by_copy_truncate_loses_nothing_and_duplicates_nothing(sandbox: Sandbox) {
    let log = sandbox.logs().join("app.log");
    let mut expected = Vec::new();
    let mut write = |n: usize| {
        let id = format!("m-{n}");
        append(
            &log,
            event_line(&id, "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
        );
        expected.push(id);
    };
    (0..3).for_each(&mut write);
    sandbox.tail(&[]);
    (3..5).for_each(&mut write);
    // Rename rotation, then more lines in a new file of the same name.
    std::fs::rename(&log, sandbox.logs().join("app.log.1")).unwrap();
    (5..7).for_each(&mut write);
    sandbox.tail(&[]);
    (7..9).for_each(&mut write);
    // Copy-then-truncate rotation.
    std::fs::copy(&log, sandbox.logs().join("app.log.2")).unwrap();
    std::fs::File::create(&log).unwrap();
    (9..11).for_each(&mut write);
    sandbox.tail(&[]);
    sandbox.tail(&[]);

    expected.sort();
    assert_eq!(message_ids(&sandbox), expected);
}

fn over_long_lines_are_quarantined_with_their_prefix(sandbox: Sandbox) {
    let long = format!(
        "{{\"messageId\":\"m-long\",\"pad\":\"{}\"}}\n",
        "x".repeat(5000)
    );
    sandbox.append("a.jsonl", long.as_bytes());
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.tail(&["--max-line-bytes", "1024"]);
    let quarantine = sandbox.table("quarantine");
    assert_eq!(binaries(&quarantine, "line")[0], long.as_bytes()[..1024]);
    assert!(strings(&quarantine, "error")[0]
        .as_deref()
        .unwrap()
        .contains(&format!("line is {} bytes", long.len() - 1)));
    assert_eq!(
        strings(&sandbox.table("raw_events"), "message_id"),
        [Some("m-1".into())]
    );
}

fn small_batches_make_many_files_with_every_line_once(sandbox: Sandbox) {
    let lines: String = (0..50)
        .map(|n| event_line(&format!("m-{n}"), "search", "2026-11-23T10:00:00Z", "cat"))
        .collect();
    sandbox.append("a.jsonl", lines.as_bytes());
    sandbox.tail(&["--max-rows", "7"]);
    let files = sandbox.tree("raw_events");
    assert_eq!(files.len(), 8);
    // Every row counted, not only the distinct ids: a line written twice must fail this.
    let ids = strings(
        &files.into_values().flatten().collect::<Vec<_>>(),
        "message_id",
    );
    assert_eq!(ids.len(), 50);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 50);
}

#[test]
fn problems_are_reported_with_a_non_zero_exit() {
    let sandbox = Sandbox::local();
    let missing = format!("{}/nothing-*.jsonl", sandbox.logs().display());
    let err = run_err(&mut sandbox.cmd(&["tailer", "--source", &missing]));
    assert!(err.contains("no file matches --source"), "{err}");

    let err = run_err(&mut sandbox.cmd(&["tailer", "--source", "[oops"]));
    assert!(err.contains("not a valid glob"), "{err}");

    // An unwritable warehouse: a file where the folder should be.
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    let blocker = sandbox.dir.path().join("blocked");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let glob = format!("{}/*", sandbox.logs().display());
    let mut cmd = stickerlake();
    cmd.args([
        "--warehouse",
        blocker.to_str().unwrap(),
        "tailer",
        "--source",
        &glob,
    ]);
    let err = run_err(&mut cmd);
    assert!(err.contains("blocked"), "{err}");
}

fn follow_mode_flushes_on_its_interval_and_on_sigterm(sandbox: Sandbox) {
    let line = |id: &str| event_line(id, "search", "2026-11-23T10:00:00Z", "cat");
    let glob = format!("{}/*", sandbox.logs().display());
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let follow = |interval: &str| {
        sandbox
            .cmd(&[
                "tailer",
                "--source",
                &glob,
                "--follow",
                "--flush-interval",
                interval,
                "--metrics-addr",
                &address,
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let rows = || sandbox.rows("raw_events");
    let flushed = |n: usize, what: &str| {
        wait_for(Duration::from_secs(20), what, || {
            (rows() >= n).then_some(())
        })
    };
    let stop = |child: std::process::Child| {
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        child.wait_with_output().unwrap().status
    };

    // The interval: lines appear without any signal.
    sandbox.append("a.jsonl", line("m-1").as_bytes());
    let tailer = follow("0.3");
    flushed(1, "the first line flushed");
    sandbox.append("a.jsonl", line("m-2").as_bytes());
    flushed(2, "an appended line flushed");
    assert!(stop(tailer).success(), "follow mode exits 0 on SIGTERM");

    // SIGTERM: with an interval that never comes, only the signal can flush what was read.
    sandbox.append("a.jsonl", line("m-3").as_bytes());
    let tailer = follow("3600");
    let read = || sample(&get(port, "/metrics")?.1, "stickerlake_tailer_events_total");
    wait_for(Duration::from_secs(20), "m-3 read", || {
        (read()? == 1.0).then_some(())
    });
    assert_eq!(rows(), 2, "read, not flushed yet");
    assert!(stop(tailer).success(), "follow mode exits 0 on SIGTERM");
    assert_eq!(message_ids(&sandbox), ["m-1", "m-2", "m-3"]);
}

/// Copy-then-truncate rotation while the tailer is in the middle of the file, and the new
/// content grows past the tailer's position before it reads on: what it reads after the
/// truncation must not be taken for the rest of the old file.
#[test]
fn a_file_truncated_and_refilled_while_being_read_is_finished_from_its_copy() {
    let sandbox = Sandbox::local();
    let log = sandbox.logs().join("app.log");
    let lines = |prefix: &str| -> String {
        (0..LINES)
            .map(|n| {
                event_line(
                    &format!("{prefix}-{n}"),
                    "search",
                    "2026-11-23T10:00:00Z",
                    "cat",
                )
            })
            .collect()
    };
    // Several read buffers' worth, and lines of another length after the rotation.
    const LINES: usize = 20_000;
    let (old, new) = (lines("old"), lines("newer"));
    append(&log, old.as_bytes());
    let glob = format!("{}/app.log*", sandbox.logs().display());
    // Small batches: the tailer flushes every 20 rows, so it is still reading when the file
    // is rotated under it.
    let mut tailer = sandbox
        .cmd(&["tailer", "--source", &glob, "--max-rows", "20"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Rotate once the tailer is provably in the middle of the file: it has committed some
    // rows, and not all of the old ones.
    let committed_rows = || -> usize {
        let log = sandbox.objects("raw_events/_delta_log");
        let actions = log
            .iter()
            .filter(|(name, _)| name.ends_with(".json"))
            .flat_map(|(_, bytes)| {
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            });
        actions
            .filter_map(|line| {
                let action: serde_json::Value = serde_json::from_str(&line).unwrap();
                let stats: serde_json::Value =
                    serde_json::from_str(action["add"]["stats"].as_str()?).unwrap();
                stats["numRecords"].as_u64()
            })
            .sum::<u64>() as usize
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while committed_rows() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the tailer committed nothing in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::fs::copy(&log, sandbox.logs().join("app.log.1")).unwrap();
    std::fs::File::create(&log).unwrap();
    let committed = committed_rows();
    assert!(
        tailer.try_wait().unwrap().is_none() && committed < LINES,
        "the truncation came after the tailer was done with the old file ({committed} rows committed)"
    );
    append(&log, new.as_bytes());
    assert!(tailer.wait().unwrap().success());
    sandbox.tail(&[]);

    let ids = message_ids(&sandbox);
    let mut expected: Vec<String> = (0..LINES)
        .flat_map(|n| [format!("old-{n}"), format!("newer-{n}")])
        .collect();
    expected.sort();
    assert_eq!(ids.len(), expected.len(), "rows, not distinct ids");
    assert_eq!(ids, expected);
    assert_eq!(sandbox.rows("quarantine"), 0, "no fragment of a line");
}

fn json_null_is_not_an_absent_field_and_lone_surrogates_are_kept_as_sent(sandbox: Sandbox) {
    let ts = r#""timestamp":"2026-11-23T10:00:00Z""#;
    let lines = [
        format!(r#"{{"messageId":"null","type":"ping",{ts},"properties":null,"context":null}}"#),
        format!(r#"{{"messageId":"absent","type":"ping",{ts}}}"#),
        format!(
            r#"{{"messageId":"keys","type":"ping",{ts},"\uD800":1,"properties":{{"k\uDC00":{{"\uD800x":"v\uDBFF"}}}}}}"#
        ),
    ];
    sandbox.append("a.jsonl", (lines.join("\n") + "\n").as_bytes());
    sandbox.tail(&[]);
    assert_eq!(sandbox.rows("quarantine"), 0, "every line is valid");
    let raw = sandbox.table("raw_events");
    let rows: std::collections::BTreeMap<_, _> = strings(&raw, "message_id")
        .into_iter()
        .map(Option::unwrap)
        .zip(
            strings(&raw, "properties")
                .into_iter()
                .zip(strings(&raw, "context")),
        )
        .collect();
    assert_eq!(rows["null"], (Some("null".into()), Some("null".into())));
    assert_eq!(rows["absent"], (None, None));
    assert_eq!(
        rows["keys"].0.as_deref(),
        Some(r#"{"k\uDC00":{"\uD800x":"v\uDBFF"}}"#),
        "the text as sent, escapes included"
    );
}

/// `source` is the absolute path, whatever directory the tailer runs from, and a second run
/// from elsewhere (absolute glob) continues from the first one's checkpoint.
#[test]
fn source_is_an_absolute_path_from_any_directory() {
    let sandbox = Sandbox::local();
    let log = sandbox.logs().join("a.jsonl");
    append(
        &log,
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    run_ok(
        sandbox
            .cmd(&["tailer", "--source", "./logs/../logs/*.jsonl"])
            .current_dir(sandbox.dir.path()),
    );
    append(
        &log,
        event_line("m-2", "search", "2026-11-23T10:00:01Z", "cat").as_bytes(),
    );
    let absolute = format!("{}/*.jsonl", sandbox.logs().display());
    run_ok(
        sandbox
            .cmd(&["tailer", "--source", &absolute])
            .current_dir("/"),
    );
    let raw = sandbox.table("raw_events");
    let sources: Vec<_> = strings(&raw, "source")
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let expected = std::fs::canonicalize(&log).unwrap().display().to_string();
    assert_eq!(
        sources,
        [expected.clone(), expected],
        "one row per line, absolute"
    );
    assert_eq!(message_ids(&sandbox), ["m-1", "m-2"]);
}
