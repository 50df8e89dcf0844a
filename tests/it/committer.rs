//! A fleet through the committer (`tailer --stage`, `committer`), on S3 (moto): staged
//! flushes are in no table until a pass folds them, each exactly once, in one commit per
//! table; a pass killed before it deleted its manifests is finished by the next.

use std::collections::BTreeSet;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::util::*;

/// A following process, stopped with SIGTERM (also when the test fails first).
struct StopOnDrop(Option<Child>);

impl StopOnDrop {
    fn stop(mut self) -> Output {
        let child = self.0.take().unwrap();
        assert!(Command::new("kill")
            .arg(child.id().to_string())
            .status()
            .unwrap()
            .success());
        child.wait_with_output().unwrap()
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `(writer, operation)` of each commit of `table`, newest first.
fn commits(sandbox: &Sandbox, table: &str) -> Vec<(String, String)> {
    let out = run_ok(&mut sandbox.cmd(&["history", table, "--format", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    rows.iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (text("writer"), text("operation"))
        })
        .collect()
}

#[test]
fn staged_flushes_are_committed_once_by_the_committer_in_one_commit_per_table() {
    let sandbox = Sandbox::s3();
    let hosts = ["web-1", "web-2", "web-3"];
    for host in hosts {
        let lines = host_searches(host, 40) + "not json\n";
        sandbox.append(&format!("{host}.jsonl"), lines.as_bytes());
    }
    let stage = |host: &str| {
        let glob = format!("{}/{host}.jsonl", sandbox.logs().display());
        let args = [
            "tailer",
            "--source",
            &glob,
            "--tailer-id",
            host,
            "--max-rows",
            "7",
            "--stage",
        ];
        run_ok(&mut sandbox.cmd(&args));
    };
    for host in hosts {
        stage(host);
    }
    // Staged, in no table yet; the day is not complete while they wait.
    assert_eq!(sandbox.rows("raw_events"), 0);
    let manifests = sandbox.objects("_staging");
    assert!(manifests.len() >= 3 * 6, "{:?}", manifests.keys());
    let args = ["run", "all", "--date", "2026-11-23", "--require-complete"];
    let incomplete = run_err(&mut sandbox.cmd(&args));
    assert!(
        incomplete.contains("staged and not committed yet"),
        "{incomplete}"
    );
    // `status` counts them per tailer (it exits 75: the day is overdue and incomplete).
    let status = sandbox
        .cmd(&["status", "--format", "json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let staged: u64 = status["tailers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["staged_flushes"].as_u64().unwrap())
        .sum();
    assert_eq!(staged as usize, manifests.len());
    // A tailer committing by itself would commit past its staged flushes: refused.
    let glob = format!("{}/web-1.jsonl", sandbox.logs().display());
    let refused = run_err(&mut sandbox.cmd(&["tailer", "--source", &glob, "--tailer-id", "web-1"]));
    assert!(refused.contains("staged for the committer"), "{refused}");

    let raw_before = commits(&sandbox, "raw_events").len();
    let committer = sandbox
        .cmd(&["committer", "--follow", "--interval", "1s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let committer = StopOnDrop(Some(committer));
    wait_for(
        Duration::from_secs(60),
        "the committer's first pass",
        || (sandbox.rows("raw_events") == 3 * 40).then_some(()),
    );
    let out = committer.stop();
    assert!(sandbox.objects("_staging").is_empty());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("staged flush(es) of 3 tailer(s)"),
        "{}",
        stdout(&out)
    );

    let ids = message_ids(&sandbox);
    assert_eq!(ids.len(), 3 * 40);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    assert_eq!(sandbox.rows("quarantine"), 3);
    let raw = commits(&sandbox, "raw_events");
    assert_eq!(
        raw.len(),
        raw_before + 1,
        "one commit for every flush: {raw:?}"
    );
    assert_eq!(raw[0].0, "committer");

    // A pass killed after its commits, before its deletes: the manifests are back.
    for (name, bytes) in &manifests {
        sandbox.set_object(&format!("_staging/{name}"), Some(bytes.clone()));
    }
    let again = stdout(&run_ok(&mut sandbox.cmd(&["committer"])));
    assert!(again.contains("all were committed already"), "{again}");
    assert_eq!(message_ids(&sandbox).len(), 3 * 40);
    assert_eq!(commits(&sandbox, "raw_events").len(), raw_before + 1);
    assert!(sandbox.objects("_staging").is_empty());

    // With nothing staged, the tailer may commit by itself again.
    sandbox.append(
        "web-1.jsonl",
        event_line("web-1-late", "search", "2026-11-23T11:00:00Z", "dog").as_bytes(),
    );
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--tailer-id", "web-1"]));
    assert_eq!(message_ids(&sandbox).len(), 3 * 40 + 1);
}
