//! `sql`: formats, read-only refusals, errors, partition pruning.

use std::collections::BTreeMap;

use crate::util::*;

on_both_stores!(
    formats,
    queries_come_from_files_and_see_every_table,
    filters_on_the_partition_column_prune_partitions
);

fn with_events(sandbox: Sandbox) -> Sandbox {
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-22T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.append(
        "a.jsonl",
        event_line("m-2", "select", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    sandbox.append("a.jsonl", b"oops\n");
    sandbox.tail(&[]);
    sandbox
}

fn formats(sandbox: Sandbox) {
    let sandbox = with_events(sandbox);
    let query = "SELECT message_id, event_date FROM raw_events ORDER BY message_id";
    let out = |format: &str| {
        stdout(&run_ok(
            &mut sandbox.cmd(&["sql", query, "--format", format]),
        ))
    };
    assert_eq!(
        out("csv"),
        "message_id,event_date\nm-1,2026-11-22\nm-2,2026-11-23\n"
    );
    assert_eq!(
        out("json"),
        "[{\"message_id\":\"m-1\",\"event_date\":\"2026-11-22\"},{\"message_id\":\"m-2\",\"event_date\":\"2026-11-23\"}]\n"
    );
    assert!(out("table").contains("| m-2        | 2026-11-23 |"));

    let file = sandbox.dir.path().join("out.parquet");
    run_ok(&mut sandbox.cmd(&[
        "sql",
        query,
        "--format",
        "parquet",
        "-o",
        file.to_str().unwrap(),
    ]));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 2);
}

fn queries_come_from_files_and_see_every_table(sandbox: Sandbox) {
    let sandbox = with_events(sandbox);
    let file = sandbox.dir.path().join("q.sql");
    std::fs::write(&file, "SELECT count(*) AS bad FROM quarantine;\nSELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1;").unwrap();
    let out = stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "-f",
        file.to_str().unwrap(),
        "--format",
        "csv",
    ])));
    assert_eq!(out, "bad\n1\ntable_name\nquarantine\nraw_events\n");
}

fn filters_on_the_partition_column_prune_partitions(sandbox: Sandbox) {
    let sandbox = with_events(sandbox);
    let out = stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "EXPLAIN SELECT message_id FROM raw_events WHERE event_date = DATE '2026-11-23'",
        "--format",
        "csv",
    ])));
    // One file group: only the 23rd's partition is scanned.
    assert!(
        out.contains("event_date=2026-11-23") && !out.contains("event_date=2026-11-22/"),
        "{out}"
    );
}

#[test]
fn writes_are_refused_and_nothing_changes() {
    let sandbox = with_events(Sandbox::local());
    let target = sandbox.dir.path().join("copy.csv");
    for statement in [
        "CREATE TABLE t AS SELECT 1".to_owned(),
        "INSERT INTO raw_events SELECT * FROM raw_events".to_owned(),
        "DROP TABLE raw_events".to_owned(),
        format!("COPY raw_events TO '{}'", target.display()),
        "SET datafusion.execution.batch_size = 1".to_owned(),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
            target.display()
        ),
    ] {
        let err = run_err(&mut sandbox.cmd(&["sql", &statement]));
        assert!(err.contains("read-only"), "{statement}: {err}");
    }
    assert!(!target.exists());
    assert_eq!(sandbox.rows("raw_events"), 2);
}

#[test]
fn sql_errors_say_what_and_where() {
    let sandbox = with_events(Sandbox::local());
    let err = run_err(&mut sandbox.cmd(&["sql", "SELEC 1"]));
    assert!(
        err.contains("syntax error") && err.contains("Line: 1, Column: 1"),
        "{err}"
    );
    let err = run_err(&mut sandbox.cmd(&["sql", "SELECT nope FROM raw_events"]));
    assert!(
        err.contains("nope") && err.contains("SELECT nope FROM raw_events"),
        "{err}"
    );
}

#[test]
fn the_prompt_runs_statements_ended_by_semicolons_and_survives_errors() {
    use std::io::Write;
    let sandbox = with_events(Sandbox::local());
    let home = sandbox.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = sandbox
        .cmd(&["sql", "--format", "csv"])
        .env("HOME", &home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = "\\d\nSELECT count(*)\n  AS n FROM raw_events;\nSELECT nope;\nDROP TABLE raw_events;\nSELECT 2 AS two;\n\\scan SELECT type FROM raw_events;\n\\q\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        out.contains("raw_events (partitioned by event_date)"),
        "{out}"
    );
    assert!(out.contains("n\n2\n") && out.contains("two\n2\n"), "{out}");
    assert!(
        out.contains("| raw_events |") && out.contains("nothing was run"),
        "{out}"
    );
    assert!(err.contains("nope") && err.contains("read-only"), "{err}");
    let history = std::fs::read_to_string(home.join(".stickerlake_history")).unwrap();
    assert!(history.contains("SELECT 2 AS two;"), "{history}");
}

/// Statements run and print one by one: when the third fails, the first two are out.
#[test]
fn results_stream_statement_by_statement() {
    let sandbox = with_events(Sandbox::local());
    let output = sandbox
        .cmd(&[
            "sql",
            "SELECT 1 AS a; SELECT count(*) AS n FROM raw_events; SELECT nope FROM raw_events",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(stdout(&output), "a\n1\nn\n2\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("nope"));
}

/// A result far larger than the process's memory: printed as it streams (peak RSS sampled
/// from /proc while the query runs).
#[test]
fn a_result_larger_than_memory_streams_through() {
    use std::io::Read;

    let sandbox = Sandbox::local();
    let lines: String = (0..2000)
        .map(|n| {
            event_line(
                &format!("m-{n:05}"),
                "search",
                "2026-11-23T10:00:00Z",
                "a cat in a park",
            )
        })
        .collect();
    sandbox.append("a.jsonl", lines.as_bytes());
    sandbox.tail(&[]);
    // 4 million rows of ~150 bytes.
    let query = "SELECT a.message_id, b.message_id AS other, a.properties FROM raw_events a CROSS JOIN raw_events b";
    let mut child = sandbox
        .cmd(&["sql", query, "--format", "csv"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut bytes, mut buf) = (0usize, vec![0u8; 1 << 16]);
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            bytes += n;
        }
        bytes
    });
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the query did not finish"
        );
        if let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(child.wait().unwrap().success());
    let bytes = reader.join().unwrap();
    assert!(bytes > 300_000_000, "the result is {bytes} bytes");
    // Holding the result would take more than all of it; streaming stays near the process's
    // own size (~100 MiB for a debug build with DataFusion).
    assert!(
        peak_kib > 0 && peak_kib * 1024 * 2 < bytes as u64,
        "peak RSS {peak_kib} KiB for a result of {bytes} bytes"
    );
}

/// Per partition day of raw_events: (files, bytes, rows), read from the files themselves.
fn raw_partitions(sandbox: &Sandbox) -> BTreeMap<String, (usize, u64, usize)> {
    let sizes = sandbox.objects("raw_events");
    let mut days: BTreeMap<String, (usize, u64, usize)> = BTreeMap::new();
    for (path, batches) in sandbox.tree("raw_events") {
        let day = path
            .split('/')
            .next()
            .unwrap()
            .trim_start_matches("event_date=");
        let entry = days.entry(day.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += sizes[&path].len() as u64;
        entry.2 += batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    days
}

fn scan_preview_and_limits(sandbox: Sandbox) {
    generate_logs(&sandbox, 3000, 3);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--max-rows", "700"]));
    let days = raw_partitions(&sandbox);
    assert_eq!(days.len(), 3);
    let (two_days, expected): (Vec<&String>, (usize, u64, usize)) = {
        let picked: Vec<_> = days.iter().skip(1).collect();
        let sum = picked.iter().fold((0, 0, 0), |acc, (_, v)| {
            (acc.0 + v.0, acc.1 + v.1, acc.2 + v.2)
        });
        (picked.iter().map(|(d, _)| *d).collect(), sum)
    };
    let filtered = format!(
        "SELECT type, count(DISTINCT message_id) AS n FROM raw_events WHERE event_date BETWEEN DATE '{}' AND DATE '{}' GROUP BY type",
        two_days[0], two_days[1]
    );
    let out = run_ok(&mut sandbox.cmd(&["sql", "--explain-scan", &filtered]));
    let text = stdout(&out);
    let row: Vec<String> = text
        .lines()
        .find(|l| l.starts_with("| raw_events"))
        .unwrap_or_else(|| panic!("{text}"))
        .split('|')
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    let (files, bytes, rows) = expected;
    assert_eq!(
        row,
        [
            "raw_events".to_string(),
            "2".into(),
            two_days[0].clone(),
            two_days[1].clone(),
            files.to_string(),
            bytes.to_string(),
            rows.to_string()
        ]
    );
    assert!(text.contains("nothing was run"), "{text}");
    assert!(files > 2, "several files per day: {files}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));

    // Reading every partition is warned about, in one line.
    let everything = "SELECT type, count(DISTINCT message_id) AS n FROM raw_events GROUP BY type";
    let out = run_ok(&mut sandbox.cmd(&["sql", everything]));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.contains("warning: the query reads all 3 partitions of raw_events")
            && stderr.contains("a filter on event_date")
            && stderr.lines().count() == 1,
        "{stderr}"
    );

    // Over the limit: refused with the figure and the hint, from the flag or the variable.
    let total: u64 = days.values().map(|d| d.1).sum();
    let limit = (total - 1).to_string();
    let err = run_err(&mut sandbox.cmd(&["sql", "--max-scan-bytes", &limit, everything]));
    assert!(
        err.contains("refused")
            && err.contains(&format!("would read {total} bytes"))
            && err.contains("filter on event_date"),
        "{err}"
    );
    let err = run_err(
        sandbox
            .cmd(&["sql", everything])
            .env("STICKERLAKE_MAX_SCAN_BYTES", &limit),
    );
    assert!(err.contains("refused"), "{err}");
    let out = run_ok(&mut sandbox.cmd(&["sql", "--max-scan-bytes", &limit, &filtered]));
    assert!(stdout(&out).contains("search"));
    let err = run_err(&mut sandbox.cmd(&["sql", "--max-scan-bytes", "lots", everything]));
    assert!(err.contains("not a size"), "{err}");
}

on_both_stores!(scan_preview_and_limits);

/// Steps for `tests/pty/drive.py`, run against the prompt in a pseudo-terminal (120 x 30);
/// the transcript without terminal escapes.
fn drive_prompt(sandbox: &Sandbox, steps: serde_json::Value, pager: &str) -> String {
    let script = sandbox.dir.path().join("steps.json");
    std::fs::write(&script, steps.to_string()).unwrap();
    let home = sandbox.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let warehouse = sandbox.warehouse_url();
    let output = run_ok(
        std::process::Command::new("python3")
            .arg(repo_path("tests/pty/drive.py"))
            .arg(&script)
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_stickerlake"))
            .args(["--warehouse", &warehouse, "sql"])
            .env_remove("STICKERLAKE_WAREHOUSE")
            .env("HOME", &home)
            .env("PAGER", pager),
    );
    let raw = stdout(&output);
    // CSI sequences (cursor moves, colours, bracketed paste) out.
    let mut text = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() || c == '~' {
                    break;
                }
            }
        } else if c != '\r' {
            text.push(c);
        }
    }
    text
}

#[test]
fn the_prompt_completes_spans_lines_pages_and_cancels_with_ctrl_c() {
    let sandbox = Sandbox::local();
    generate_logs(&sandbox, 2000, 2);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let expected = stdout(&run_ok(&mut sandbox.cmd(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM raw_events WHERE event_date = DATE '2026-11-20'",
    ])));
    let n = expected.lines().nth(1).unwrap().to_owned();
    let done = "Time: [0-9.]+ s.*stickerlake> ";
    let steps = serde_json::json!([
        {"expect": "stickerlake> "},
        // Tab completes a table, Enter inside the statement adds a line, Tab completes a
        // partition value that exists (the first of 2026-11-20 and 2026-11-21).
        {"send": "SELECT count(*) AS n FROM raw_ev\t"},
        {"expect": "raw_events"},
        {"send": "\rWHERE event_date = DATE '2026-11-2\t"},
        {"sleep": 0.5},
        {"send": "';\r"},
        {"expect": done},
        // Ctrl-C cancels a long query; the session goes on.
        {"send": "SELECT sum(value * value) FROM generate_series(1, 100000000000);\r"},
        {"sleep": 1.5},
        {"send": "\u{3}"},
        {"expect": "cancelled after .*stickerlake> "},
        {"send": "SELECT 2 AS two;\r"},
        {"expect": done},
        // A result longer than the screen goes to the pager.
        {"send": "SELECT value FROM generate_series(1, 100);\r"},
        {"expect": done},
        // Ctrl-R finds a statement in the history.
        {"send": "\u{12}AS tw"},
        {"sleep": 0.5},
        {"send": "\r"},
        {"expect": done},
        {"send": "\\d raw_events\r"},
        {"expect": "files: .*stickerlake> "},
        // Ctrl-C at an empty prompt only warns; the second one quits.
        {"send": "\u{3}"},
        {"expect": "again.*stickerlake> "},
        {"send": "\u{3}"},
    ]);
    let text = drive_prompt(&sandbox, steps, "sed 's/^/paged: /'");
    assert!(
        text.contains("WHERE event_date = DATE '2026-11-20';"),
        "{text}"
    );
    assert!(text.contains(&format!("| {n} ")), "count {n}:\n{text}");
    assert!(text.contains("cancelled after"), "{text}");
    assert_eq!(
        text.matches("| 2   |").count(),
        2,
        "run, then found in history:\n{text}"
    );
    assert!(text.contains("paged: | 100   |"), "{text}");
    assert!(
        !text.contains("paged: | two"),
        "a short result is not paged:\n{text}"
    );
    assert!(
        text.contains("partitions: 2 by event_date, first 2026-11-20, last 2026-11-21"),
        "{text}"
    );
}

#[test]
fn memory_limit_fails_clearly_and_pager_is_off_when_piped() {
    let sandbox = with_events(Sandbox::local());
    let err = run_err(&mut sandbox.cmd(&[
        "sql",
        "--memory-limit",
        "1k",
        "SELECT user_id, array_agg(properties) AS p FROM raw_events GROUP BY user_id",
    ]));
    assert!(
        err.contains("needs more memory than --memory-limit allows")
            && err.contains("raise --memory-limit"),
        "{err}"
    );
    let output = run_ok(
        sandbox
            .cmd(&["sql"])
            .env("PAGER", "sed 's/^/paged: /'")
            .stdin(
                std::fs::File::open(write_file(
                    &sandbox,
                    "q.sql",
                    "SELECT value FROM generate_series(1, 100);\n",
                ))
                .unwrap(),
            ),
    );
    let out = stdout(&output);
    assert!(out.contains("| 100   |") && !out.contains("paged"), "{out}");
}

fn write_file(sandbox: &Sandbox, name: &str, text: &str) -> std::path::PathBuf {
    let path = sandbox.dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}
