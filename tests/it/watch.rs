//! A tailer you can watch: `--metrics-addr` serves `/metrics` (checked by `promtool check
//! metrics`) and `/health`; lag reaches 0 once a file is read and committed; unread bytes
//! are counted when a rotated file goes away unread; `--log-format json` logs one JSON
//! object per line; and with S3 refusing every request `/health` turns 503 and the write
//! errors count up while the tailer keeps running, then it heals by itself, rows exact.

use std::io::{Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

fn metric(port: u16, name: &str) -> Option<f64> {
    sample(&get(port, "/metrics")?.1, name)
}

fn follow(sandbox: &Sandbox, port: u16, extra: &[&str]) -> Child {
    let glob = format!("{}/app.jsonl*", sandbox.logs().display());
    let address = format!("127.0.0.1:{port}");
    let mut args = vec![
        "tailer",
        "--source",
        &glob,
        "--follow",
        "--flush-interval",
        "0.2",
        "--metrics-addr",
        &address,
    ];
    args.extend_from_slice(extra);
    sandbox
        .cmd(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) -> String {
    run_ok(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let status = wait_for(Duration::from_secs(60), "the tailer stops", || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

fn lines(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| event_line(&format!("m-{i}"), "search", "2026-11-23T10:00:00Z", "cat"))
        .collect()
}

const ROWS: &str = "stickerlake_tailer_committed_rows_total{table=\"raw_events\"}";

#[test]
fn metrics_pass_promtool_lag_reaches_zero_and_unread_bytes_are_counted() {
    let sandbox = Sandbox::local();
    sandbox.append("app.jsonl", lines(0, 3).as_bytes());
    let port = free_port();
    let tailer = follow(&sandbox, port, &["--log-format", "json"]);
    let source = sandbox.logs().join("app.jsonl").display().to_string();
    let lag = format!("stickerlake_tailer_source_lag_bytes{{source=\"{source}\"}}");
    wait_for(Duration::from_secs(30), "3 rows committed, lag 0", || {
        let body = get(port, "/metrics")?.1;
        (sample(&body, ROWS)? == 3.0 && sample(&body, &lag)? == 0.0).then_some(())
    });
    let (status, body) = get(port, "/metrics").unwrap();
    assert_eq!(status, 200);
    for name in [
        "stickerlake_tailer_read_bytes_total",
        "stickerlake_tailer_events_total",
        "stickerlake_tailer_quarantined_total",
        "stickerlake_tailer_commits_total{table=\"raw_events\"}",
        "stickerlake_tailer_commit_conflicts_total",
        "stickerlake_tailer_write_errors_total",
        "stickerlake_tailer_unread_bytes_total",
        "stickerlake_tailer_last_commit_timestamp_seconds",
        "stickerlake_tailer_watermark_timestamp_seconds",
        "stickerlake_tailer_flush_duration_seconds_count",
    ] {
        assert!(sample(&body, name).is_some(), "{name} missing:\n{body}");
    }
    assert_eq!(sample(&body, "stickerlake_tailer_events_total"), Some(3.0));
    let bytes = lines(0, 3).len() as f64;
    assert_eq!(
        sample(&body, "stickerlake_tailer_read_bytes_total"),
        Some(bytes)
    );
    promtool_accepts(&body);
    let (status, health) = get(port, "/health").unwrap();
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&health).unwrap()["status"],
        "ok"
    );
    assert_eq!(get(port, "/nothing").unwrap().0, 404);

    // A line, and the start of one that never ends; the file is rotated, the new one read,
    // and the rotated one deleted before its last bytes got their newline.
    let partial = r#"{"messageId":"m-cut","type":"se"#;
    sandbox.append("app.jsonl", format!("{}{partial}", lines(3, 1)).as_bytes());
    wait_for(Duration::from_secs(30), "4 rows", || {
        (metric(port, ROWS)? == 4.0).then_some(())
    });
    let rotated = sandbox.logs().join("app.jsonl.1");
    std::fs::rename(sandbox.logs().join("app.jsonl"), &rotated).unwrap();
    sandbox.append("app.jsonl", lines(4, 1).as_bytes());
    wait_for(Duration::from_secs(30), "5 rows", || {
        (metric(port, ROWS)? == 5.0).then_some(())
    });
    std::fs::remove_file(&rotated).unwrap();
    wait_for(Duration::from_secs(30), "unread bytes counted", || {
        (metric(port, "stickerlake_tailer_unread_bytes_total")? == partial.len() as f64)
            .then_some(())
    });
    let stderr = stop(tailer);
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
        assert!(
            json["level"].is_string() && json["message"].is_string(),
            "{line}"
        );
    }
    assert_eq!(sandbox.rows("raw_events"), 5);
}

/// `promtool check metrics` on `body`: Prometheus's own linter. `make test` installs it
/// (the OS's `prometheus` package); elsewhere it is skipped, loudly.
fn promtool_accepts(body: &str) {
    let Ok(mut child) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert!(
            std::env::var("STICKERLAKE_REQUIRE_PROMTOOL").as_deref() != Ok("1"),
            "promtool is required here: install the `prometheus` package"
        );
        eprintln!("\n!!!!! SKIPPED promtool check metrics: no promtool (apt-get install prometheus) !!!!!\n");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{body}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn health_turns_503_while_s3_refuses_and_heals_by_itself() {
    let sandbox = Sandbox::s3();
    let endpoint = sandbox.s3.as_ref().unwrap().endpoint.clone();
    let switch = sandbox.dir.path().join("s3-down");
    let proxy = FaultyProxy::refusing_while(&endpoint, &switch);
    sandbox.append("app.jsonl", lines(0, 5).as_bytes());
    let port = free_port();
    let mut tailer = {
        let glob = format!("{}/app.jsonl*", sandbox.logs().display());
        let address = format!("127.0.0.1:{port}");
        sandbox
            .cmd(&[
                "tailer",
                "--source",
                &glob,
                "--follow",
                "--flush-interval",
                "0.2",
                "--metrics-addr",
                &address,
            ])
            .env("AWS_ENDPOINT_URL", proxy.endpoint())
            .env("STICKERLAKE_S3_RETRY_SECS", "10")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    wait_for(Duration::from_secs(60), "5 rows committed", || {
        (metric(port, ROWS)? == 5.0).then_some(())
    });
    assert_eq!(get(port, "/health").unwrap().0, 200);

    std::fs::write(&switch, b"").unwrap();
    sandbox.append("app.jsonl", lines(5, 5).as_bytes());
    let down = Instant::now();
    let reason = wait_for(Duration::from_secs(30), "/health 503", || {
        let (status, body) = get(port, "/health")?;
        (status == 503).then_some(body)
    });
    assert!(down.elapsed() < Duration::from_secs(30));
    assert!(reason.contains("the last write failed"), "{reason}");
    let errors = |port| metric(port, "stickerlake_tailer_write_errors_total");
    let first = errors(port).unwrap();
    assert!(first >= 1.0);
    wait_for(Duration::from_secs(60), "write errors count up", || {
        (errors(port)? > first).then_some(())
    });
    assert!(
        tailer.try_wait().unwrap().is_none(),
        "the tailer keeps running"
    );

    std::fs::remove_file(&switch).unwrap();
    wait_for(Duration::from_secs(90), "/health 200 and 10 rows", || {
        let healthy = get(port, "/health")?.0 == 200;
        (healthy && metric(port, ROWS)? == 10.0).then_some(())
    });
    stop(tailer);
    drop(proxy);
    let ids = message_ids(&sandbox);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (10, 10), "rows exact");
}

/// `logrotate` itself, run with `contrib/logrotate.conf` (pointed at the test's folder) while
/// a tailer follows: rotation by rename, `delaycompress`, then `.gz` files the glob matches.
/// Every line lands once, and no compressed byte is taken for a line.
#[test]
fn logrotate_with_the_shipped_config_loses_nothing() {
    let logrotate = ["/usr/sbin/logrotate", "/usr/bin/logrotate"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(logrotate) = logrotate else {
        assert!(
            std::env::var("STICKERLAKE_REQUIRE_LOGROTATE").as_deref() != Ok("1"),
            "logrotate is required here: install the `logrotate` package"
        );
        eprintln!(
            "\n!!!!! SKIPPED the logrotate test: no logrotate (apt-get install logrotate) !!!!!\n"
        );
        return;
    };
    let sandbox = Sandbox::local();
    let shipped = std::fs::read_to_string(repo_path("contrib/logrotate.conf")).unwrap();
    let logs = sandbox.logs().display().to_string();
    let config = shipped
        .replace("/var/log/app/", &format!("{logs}/"))
        .replace("create 0640 app app", "create 0640");
    assert_ne!(
        config, shipped,
        "the shipped config names /var/log/app/*.jsonl"
    );
    let config_path = sandbox.dir.path().join("logrotate.conf");
    std::fs::write(&config_path, config).unwrap();
    let state = sandbox.dir.path().join("logrotate.state");
    let port = free_port();
    let tailer = follow(&sandbox, port, &[]);
    let mut written = 0;
    for _round in 0..4 {
        sandbox.append("app.jsonl", lines(written, 40).as_bytes());
        written += 40;
        wait_for(
            Duration::from_secs(30),
            "the lines committed before rotating",
            || (metric(port, ROWS)? == written as f64).then_some(()),
        );
        run_ok(std::process::Command::new(logrotate).args([
            "-f",
            "-s",
            &state.display().to_string(),
            &config_path.display().to_string(),
        ]));
    }
    sandbox.append("app.jsonl", lines(written, 40).as_bytes());
    written += 40;
    wait_for(Duration::from_secs(30), "every line committed", || {
        (metric(port, ROWS)? == written as f64).then_some(())
    });
    let names: Vec<String> = std::fs::read_dir(sandbox.logs())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".gz")), "{names:?}");
    stop(tailer);
    let ids = message_ids(&sandbox);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), unique.len()), (written, written));
    assert_eq!(
        sandbox.rows("quarantine"),
        0,
        "no compressed byte read as a line"
    );
}
