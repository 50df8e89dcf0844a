//! S3-only behaviour against a real S3 protocol server (moto on 127.0.0.1): outages in the
//! middle of a run, parity with a local warehouse, several hosts, and secrets.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

/// (source file name, source_offset, message_id) of every raw event, sorted.
fn positions(sandbox: &Sandbox) -> Vec<(String, i64, String)> {
    let batches = sandbox.table("raw_events");
    let sources = strings(&batches, "source");
    let offsets = int64s(&batches, "source_offset");
    let ids = strings(&batches, "message_id");
    let mut rows: Vec<_> = sources
        .into_iter()
        .zip(offsets)
        .zip(ids)
        .map(|((s, o), i)| {
            (
                s.unwrap().rsplit('/').next().unwrap().to_owned(),
                o,
                i.unwrap(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// Generated logs without the catalog (the tests' globs take every file).
fn generate(sandbox: &Sandbox, events: u32) {
    generate_logs(sandbox, events, 3);
    std::fs::remove_file(sandbox.logs().join("catalog.jsonl")).unwrap();
}

#[test]
fn the_same_logs_give_the_same_rows_locally_and_on_s3() {
    let glob = repo_path("sample_events/server-*.jsonl");
    let local = Sandbox::local();
    let s3 = Sandbox::s3();
    for sandbox in [&local, &s3] {
        run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--max-rows", "300"]));
        run_days(sandbox, "all", "2026-11-20", "2026-11-22");
    }
    assert_eq!(positions(&local), positions(&s3));
    assert_eq!(
        positions(&local).len(),
        2000 + 20,
        "the sample's valid lines, duplicates included"
    );
    let query = |sandbox: &Sandbox, q: &str| {
        stdout(&run_ok(&mut sandbox.cmd(&["sql", q, "--format", "csv"])))
    };
    for q in [
        "SELECT event_date, term, searches, unique_users FROM search_term_daily ORDER BY 1, 2",
        "SELECT event_date, sticker_id, term, reports FROM reported_sticker_daily ORDER BY 1, 2, 3",
        "SELECT source, source_offset, error FROM quarantine ORDER BY 1, 2",
    ] {
        assert_eq!(query(&local, q), query(&s3, q), "{q}");
    }
}

#[test]
fn an_outage_mid_run_fails_clearly_and_a_rerun_completes_exactly_once() {
    let moto = Moto::start();
    let sandbox = Sandbox::s3_on(&moto);
    generate(&sandbox, 20000);
    let glob = format!("{}/*.jsonl", sandbox.logs().display());
    let child = sandbox
        .cmd(&["tailer", "--source", &glob, "--max-rows", "100"])
        .env("STICKERLAKE_S3_TIMEOUT_SECS", "1")
        .env("STICKERLAKE_S3_RETRY_SECS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Freeze the server once some batches have landed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while data_files(&sandbox) < 5 {
        assert!(Instant::now() < deadline, "the tailer wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    moto.signal("STOP");
    let output = child.wait_with_output().unwrap();
    moto.signal("CONT");
    assert!(
        !output.status.success(),
        "the run should fail while S3 is unreachable"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error") && stderr.contains("s3://"),
        "{stderr}"
    );
    // Let moto finish requests it had queued while frozen (the listing settles), then run
    // again.
    let listing = || {
        sandbox
            .objects("raw_events")
            .into_keys()
            .collect::<Vec<_>>()
    };
    let mut last = listing();
    wait_for(Duration::from_secs(20), "the store settles", || {
        std::thread::sleep(Duration::from_millis(300));
        let now = listing();
        let settled = now == last;
        last = now;
        settled.then_some(())
    });
    sandbox.tail(&[]);
    sandbox.tail(&[]);

    let local = Sandbox::local();
    std::fs::remove_dir(local.logs()).unwrap();
    std::os::unix::fs::symlink(sandbox.logs(), local.logs()).unwrap();
    local.tail(&[]);
    let (on_s3, expected) = (positions(&sandbox), positions(&local));
    assert_eq!(on_s3.len(), expected.len(), "every line exactly once");
    assert_eq!(on_s3, expected);
}

#[test]
fn a_short_outage_is_retried_and_the_run_succeeds() {
    let moto = Moto::start();
    let sandbox = Sandbox::s3_on(&moto);
    generate(&sandbox, 5000);
    let glob = format!("{}/*.jsonl", sandbox.logs().display());
    let child = sandbox
        .cmd(&["tailer", "--source", &glob, "--max-rows", "100"])
        .env("STICKERLAKE_S3_TIMEOUT_SECS", "1")
        .env("STICKERLAKE_S3_RETRY_SECS", "30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while data_files(&sandbox) < 3 {
        assert!(Instant::now() < deadline, "the tailer wrote nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    moto.signal("STOP");
    std::thread::sleep(Duration::from_millis(1500));
    moto.signal("CONT");
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = positions(&sandbox);
    let unique: BTreeSet<_> = rows.iter().collect();
    assert_eq!(unique.len(), rows.len(), "no line twice");
    assert!(stdout(&output).contains(&format!("{} events written", rows.len())));
}

#[test]
fn several_hosts_tail_into_one_warehouse_without_overwriting_each_other() {
    let sandbox = Sandbox::s3();
    let hosts = ["web-1", "web-2", "web-3"];
    for (n, host) in hosts.iter().enumerate() {
        let dir = sandbox.logs().join(host);
        std::fs::create_dir_all(&dir).unwrap();
        append(&dir.join("app.jsonl"), host_searches(host, 40).as_bytes());
        // Same file name on every host, and the same content at the start for two of them.
        if n < 2 {
            append(
                &dir.join("shared.jsonl"),
                event_line(
                    &format!("{host}-shared"),
                    "search",
                    "2026-11-23T11:00:00Z",
                    "dog",
                )
                .as_bytes(),
            );
        }
    }
    let children: Vec<_> = hosts
        .iter()
        .map(|host| {
            let glob = format!("{}/{host}/*.jsonl", sandbox.logs().display());
            sandbox
                .cmd(&[
                    "tailer",
                    "--source",
                    &glob,
                    "--tailer-id",
                    host,
                    "--max-rows",
                    "7",
                ])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let ids = message_ids(&sandbox);
    assert_eq!(ids.len(), 3 * 40 + 2);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    let checkpoints: Vec<String> = sandbox.objects("_state/tailer").into_keys().collect();
    assert_eq!(checkpoints, ["web-1.json", "web-2.json", "web-3.json"]);
}

#[test]
fn credentials_never_appear_in_output() {
    let sandbox = Sandbox::s3();
    sandbox.append(
        "a.jsonl",
        event_line("m-1", "search", "2026-11-23T10:00:00Z", "cat").as_bytes(),
    );
    let mut outputs = Vec::new();
    // A bucket that does not exist: the error must still not show the key.
    let mut missing = sandbox.cmd(&["sql", "SELECT 1"]);
    missing
        .args(["--warehouse", "s3://no-such-bucket/x"])
        .env("STICKERLAKE_S3_RETRY_SECS", "1");
    outputs.push(missing.output().unwrap());
    outputs.push(sandbox.cmd(&["tailer", "--help"]).output().unwrap());
    outputs.push(
        sandbox
            .cmd(&["--help"])
            .env("STICKERLAKE_WAREHOUSE", "s3://b/p")
            .output()
            .unwrap(),
    );
    outputs.push(sandbox.tail(&[]));
    for output in outputs {
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!text.contains(SECRET), "{text}");
        assert!(
            !text.contains("X-Amz-Signature") && !text.contains("Authorization"),
            "{text}"
        );
    }
    let err = run_err(
        sandbox
            .cmd(&["sql", "SELECT 1"])
            .args(["--warehouse", "s3://no-such-bucket/x"]),
    );
    assert!(err.contains("NoSuchBucket") || err.contains("404"), "{err}");
}

/// What one `sql` run asks of S3: its output, and the requests moto answered: all, LISTs,
/// and GETs of data files (the Delta log's own reads aside).
fn sql_requests(moto: &Moto, sandbox: &Sandbox, args: &[&str]) -> (String, usize, usize, usize) {
    let cache = sandbox.dir.path().join("cache");
    let mut all = vec!["sql", "--format", "csv"];
    all.extend_from_slice(args);
    let (out, requests) = moto.record(|| {
        stdout(&run_ok(
            sandbox.cmd(&all).env("STICKERLAKE_CACHE_DIR", &cache),
        ))
    });
    let lists = requests
        .iter()
        .filter(|(_, url)| url.contains("list-type=2"))
        .count();
    let gets = requests
        .iter()
        .filter(|(method, url)| {
            method == "GET" && url.contains(".parquet") && !url.contains("_delta_log")
        })
        .count();
    (out, requests.len(), lists, gets)
}

#[test]
fn the_catalog_cache_saves_requests_and_never_reads_a_deleted_file() {
    let moto = Moto::start();
    let sandbox = Sandbox::s3_on(&moto);
    generate_logs(&sandbox, 3000, 3);
    let glob = format!("{}/server-*.jsonl", sandbox.logs().display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob, "--max-rows", "250"]));
    let query = "SELECT event_date, type, count(DISTINCT message_id) AS n FROM raw_events GROUP BY 1, 2 ORDER BY 1, 2";
    let (uncached, plain, _, _) = sql_requests(&moto, &sandbox, &["--no-cache", query]);
    let (cold_out, cold, cold_lists, cold_gets) = sql_requests(&moto, &sandbox, &[query]);
    let (warm_out, warm, warm_lists, warm_gets) = sql_requests(&moto, &sandbox, &[query]);
    eprintln!(
        "requests for `{query}`: without the cache {plain}; first run {cold} ({cold_lists} LIST, {cold_gets} GET); \
         second run {warm} ({warm_lists} LIST, {warm_gets} GET): {:.1}x fewer",
        plain as f64 / warm as f64
    );
    assert_eq!(cold_out, uncached);
    assert_eq!(warm_out, uncached);
    assert_eq!(warm_gets, 0, "small files are read from the cache whole");
    assert!(cold_gets > 0 && warm < plain, "{warm} vs {plain}");

    // Compaction replaces the small files: the next query reads the new snapshot's files
    // and answers the same.
    run_ok(&mut sandbox.cmd(&[
        "compact",
        "--from",
        "2026-11-20",
        "--to",
        "2026-11-22",
        "--delete-after",
        "0s",
    ]));
    let (after, _, _, gets) = sql_requests(&moto, &sandbox, &[query]);
    assert_eq!(after, uncached);
    assert!(gets > 0, "the compacted files are new: read from S3");
    // New events land in a file the cache has never seen.
    sandbox.append(
        "server-9.jsonl",
        event_line("m-late-1", "search", "2026-11-21T10:00:00Z", "cat").as_bytes(),
    );
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    let (fresh, _, _, _) = sql_requests(&moto, &sandbox, &[query]);
    assert_ne!(fresh, uncached, "the late search is counted:\n{fresh}");
}

/// Data files of raw_events written so far (the Delta log's own files aside).
fn data_files(sandbox: &Sandbox) -> usize {
    sandbox
        .objects("raw_events")
        .keys()
        .filter(|k| k.ends_with(".parquet") && !k.starts_with("_delta_log"))
        .count()
}

/// `compact` behind a store that answers some requests `503 SlowDown` and cuts some
/// connections after applying them, the first commit among them: every `add` it commits
/// states the size of the object stored (never 0) and names an object that exists (a
/// commit that landed unanswered is not taken for another compactor's, its outputs then
/// deleted), the rows are unchanged, and delta-rs and DuckDB read every table.
#[test]
fn compact_on_a_faulty_store_commits_the_sizes_stored() {
    let sandbox = Sandbox::s3();
    generate(&sandbox, 4000);
    sandbox.tail(&["--max-rows", "300"]);
    let count = "SELECT count(*) AS n FROM raw_events";
    let before = stdout(&run_ok(
        &mut sandbox.cmd(&["sql", "--format", "csv", count]),
    ));
    let endpoint = sandbox.s3.as_ref().unwrap().endpoint.clone();
    let proxy = FaultyProxy::start(&endpoint, 0.05, 0.05, 3, Some(r"_delta_log/\d{20}\.json"));
    let compacted = run_ok(
        sandbox
            .cmd(&["compact", "--from", "2026-11-20", "--to", "2026-11-22"])
            .env("AWS_ENDPOINT_URL", proxy.endpoint()),
    );
    let said = stdout(&compacted);
    assert!(said.contains("the table holds the outputs"), "{said}");
    assert!(!said.contains("nothing committed"), "{said}");
    drop(proxy);
    // The daily jobs through the same faults, the first job's replacement (its version 1)
    // landing unanswered: committed once, not replaced again.
    let proxy = FaultyProxy::start(&endpoint, 0.05, 0.05, 4, Some(r"_delta_log/0{19}1\.json"));
    run_ok(
        sandbox
            .cmd(&["run", "all", "--from", "2026-11-20", "--to", "2026-11-22"])
            .env("AWS_ENDPOINT_URL", proxy.endpoint()),
    );
    drop(proxy);
    let history = stdout(&run_ok(&mut sandbox.cmd(&[
        "history",
        "search_term_daily",
        "--format",
        "json",
    ])));
    let commits: Vec<serde_json::Value> = serde_json::from_str(&history).unwrap();
    assert_eq!(commits.len(), 2, "a create and one replacement: {history}");

    let objects = sandbox.objects("");
    let mut adds = 0;
    for (name, entry) in objects
        .iter()
        .filter(|(n, _)| n.contains("/_delta_log/") && n.ends_with(".json"))
    {
        for line in String::from_utf8_lossy(entry).lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            let Some(add) = action.get("add") else {
                continue;
            };
            let table = name.split('/').next().unwrap();
            let path = format!(
                "{table}/{}",
                add["path"].as_str().unwrap().replace("%3D", "=")
            );
            let stored = objects
                .get(&path)
                .unwrap_or_else(|| panic!("{name}: {path} is missing"));
            assert_eq!(
                add["size"].as_u64(),
                Some(stored.len() as u64),
                "{name}: {add}"
            );
            adds += 1;
        }
    }
    assert!(adds > 3, "{adds} adds");
    let after = stdout(&run_ok(
        &mut sandbox.cmd(&["sql", "--format", "csv", count]),
    ));
    assert_eq!(after, before);
    outside_readers_read_every_table(&sandbox);
}

/// delta-rs from the bucket itself, and DuckDB's delta extension from a byte-for-byte copy
/// of it on disk (its S3 client is another extension), read every table with our counts.
/// Skipped, loudly, where `make test` has not installed the readers' venv.
fn outside_readers_read_every_table(sandbox: &Sandbox) {
    let python = repo_path(".venv-readers/bin/python");
    if !std::path::Path::new(&python).exists() {
        eprintln!(
            "!!!!! {python} is missing (make test installs it): outside readers SKIPPED !!!!!"
        );
        return;
    }
    let s3 = sandbox.s3.as_ref().unwrap();
    let mirror = sandbox.dir.path().join("mirror");
    let mut tables = Vec::new();
    for (name, bytes) in sandbox.objects("") {
        let path = mirror.join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let table = name.split('/').next().unwrap().to_owned();
        if name.contains("/_delta_log/") && !tables.contains(&table) {
            tables.push(table);
        }
    }
    for table in &tables {
        let query = format!("SELECT count(*) AS n FROM {table}");
        let ours = stdout(&run_ok(
            &mut sandbox.cmd(&["sql", "--format", "csv", &query]),
        ));
        let ours: u64 = ours.lines().nth(1).unwrap().parse().unwrap();
        let script = r#"
import sys, duckdb, duckdb_extensions
from deltalake import DeltaTable
endpoint, bucket, table, local = sys.argv[1:5]
options = {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "it", "AWS_SECRET_ACCESS_KEY": sys.argv[5],
           "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}
rs = DeltaTable(f"s3://{bucket}/wh/{table}", storage_options=options).to_pyarrow_table().num_rows
con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
duckdb_extensions.import_extension("delta", con=con)
con.execute("LOAD delta")
duck = con.execute(f"SELECT count(*) FROM delta_scan('{local}')").fetchone()[0]
print(rs, duck)
"#;
        let local = mirror.join(table).display().to_string();
        let out = run_ok(std::process::Command::new(&python).args([
            "-c",
            script,
            &s3.endpoint,
            &s3.bucket,
            table,
            &local,
            SECRET,
        ]));
        assert_eq!(stdout(&out).trim(), format!("{ours} {ours}"), "{table}");
    }
    assert!(tables.contains(&"raw_events".to_owned()), "{tables:?}");
}
