//! Shared helpers: sandboxes on local disk or on S3 (a real moto server on 127.0.0.1),
//! running the binary, writing logs, reading Parquet back with the `parquet` crate.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const SECRET: &str = "it-secret-k3y-never-printed";

/// Runs one test body against a local warehouse and against S3.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[test]
            fn local() {
                super::$name(crate::util::Sandbox::local())
            }
            #[test]
            fn s3() {
                super::$name(crate::util::Sandbox::s3())
            }
        })*
    };
}
pub(crate) use on_both_stores;

/// A path inside this repository, as a string.
pub fn repo_path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .display()
        .to_string()
}

pub fn stickerlake() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stickerlake"));
    cmd.env_remove("STICKERLAKE_WAREHOUSE");
    cmd
}

/// A temp folder with `logs/`, and a warehouse on local disk or in a fresh S3 bucket.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub s3: Option<S3Warehouse>,
}

#[derive(Clone)]
pub struct S3Warehouse {
    pub endpoint: String,
    pub bucket: String,
}

impl Sandbox {
    pub fn local() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Self { dir, s3: None }
    }

    /// A sandbox whose warehouse is `s3://<new bucket>/wh` on the shared moto server.
    pub fn s3() -> Self {
        Self::s3_on(shared_moto())
    }

    pub fn s3_on(moto: &Moto) -> Self {
        static BUCKETS: AtomicUsize = AtomicUsize::new(0);
        let bucket = format!(
            "it-{}-{}",
            std::process::id(),
            BUCKETS.fetch_add(1, Ordering::SeqCst)
        );
        moto.create_bucket(&bucket);
        Self {
            s3: Some(S3Warehouse {
                endpoint: moto.endpoint(),
                bucket,
            }),
            ..Self::local()
        }
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn warehouse_url(&self) -> String {
        match &self.s3 {
            Some(s3) => format!("s3://{}/wh", s3.bucket),
            None => self.dir.path().join("warehouse").display().to_string(),
        }
    }

    /// `stickerlake --warehouse <this warehouse> ARGS…`, with the S3 settings if on S3.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = stickerlake();
        if let Some(s3) = &self.s3 {
            s3_env(&mut cmd, &s3.endpoint);
        }
        cmd.arg("--warehouse").arg(self.warehouse_url()).args(args);
        cmd
    }

    pub fn tail(&self, extra: &[&str]) -> Output {
        let glob = format!("{}/*", self.logs().display());
        let mut args = vec!["tailer", "--source", glob.as_str()];
        args.extend_from_slice(extra);
        run_ok(&mut self.cmd(&args))
    }

    pub fn append(&self, name: &str, bytes: &[u8]) {
        append(&self.logs().join(name), bytes);
    }

    fn store(&self) -> (Arc<dyn ObjectStore>, ObjectPath) {
        match &self.s3 {
            Some(s3) => {
                let store = AmazonS3Builder::new()
                    .with_endpoint(&s3.endpoint)
                    .with_allow_http(true)
                    .with_bucket_name(&s3.bucket)
                    .with_region("us-east-1")
                    .with_access_key_id("it")
                    .with_secret_access_key(SECRET)
                    .build()
                    .unwrap();
                (Arc::new(store), ObjectPath::from("wh"))
            }
            None => {
                let root =
                    ObjectPath::from_absolute_path(self.dir.path().join("warehouse")).unwrap();
                (Arc::new(LocalFileSystem::new()), root)
            }
        }
    }

    /// Every object below `relative`, by path relative to it.
    pub fn objects(&self, relative: &str) -> BTreeMap<String, Bytes> {
        let (store, root) = self.store();
        let prefix = relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(root, |p, part| p.join(part));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await.unwrap();
            let mut objects = BTreeMap::new();
            for meta in metas {
                let bytes = store
                    .get(&meta.location)
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap();
                let name = meta
                    .location
                    .prefix_match(&prefix)
                    .unwrap()
                    .map(|p| p.as_ref().to_owned())
                    .collect::<Vec<_>>();
                objects.insert(name.join("/"), bytes);
            }
            objects
        })
    }

    /// Writes (`Some`) or deletes (`None`) the object at `relative` (warehouse faults).
    pub fn set_object(&self, relative: &str, bytes: Option<Bytes>) {
        let (store, root) = self.store();
        let path = relative.split('/').fold(root, |p, part| p.join(part));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            match bytes {
                Some(bytes) => store.put(&path, bytes.into()).await.map(drop),
                None => store.delete(&path).await,
            }
            .unwrap()
        });
    }

    /// The data files of a table's current Delta snapshot (paths relative to the table),
    /// as delta-rs reads its log; empty when the folder is not a Delta table.
    pub fn snapshot_files(&self, table: &str) -> Vec<String> {
        use deltalake_core::logstore::{default_logstore, StorageConfig};
        let (store, root) = self.store();
        let url = match &self.s3 {
            Some(s3) => url::Url::parse(&format!("s3://{}/wh/{table}/", s3.bucket)).unwrap(),
            None => url::Url::from_directory_path(self.dir.path().join("warehouse").join(table))
                .unwrap(),
        };
        let prefixed = Arc::new(object_store::prefix::PrefixStore::new(
            store.clone(),
            root.join(table),
        ));
        let log_store = default_logstore(prefixed, store, &url, &StorageConfig::default());
        let mut delta = deltalake_core::DeltaTable::new(log_store);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        if runtime.block_on(delta.verify_deltatable_existence()).ok() != Some(true) {
            return Vec::new();
        }
        runtime.block_on(delta.load()).unwrap();
        let mut files: Vec<String> = delta
            .snapshot()
            .unwrap()
            .log_data()
            .iter()
            .map(|f| f.path().to_string())
            .collect();
        files.sort();
        files
    }

    /// Commits, by hand, a Delta version that adds the file `name` (relative to the table)
    /// of `Some(size)` bytes, or removes it (`None`): what a faulty writer would do.
    pub fn commit_file(&self, table: &str, name: &str, size: Option<usize>) {
        let log = self.objects(&format!("{table}/_delta_log"));
        let version = log
            .keys()
            .filter(|k| k.ends_with(".json") && !k.starts_with('_'))
            .count();
        let action = if let Some(size) = size {
            let (column, value) = name.split('/').next().unwrap().split_once('=').unwrap();
            serde_json::json!({"add": {
                "path": name, "partitionValues": {column: value}, "size": size,
                "modificationTime": 0, "dataChange": true,
            }})
        } else {
            serde_json::json!({"remove": {"path": name, "deletionTimestamp": 0, "dataChange": true}})
        };
        let info = serde_json::json!({"commitInfo": {"timestamp": 0, "operation": "WRITE"}});
        self.set_object(
            &format!("{table}/_delta_log/{version:020}.json"),
            Some(Bytes::from(format!("{info}\n{action}\n"))),
        );
    }

    /// Commits a copy of one data file of `partition` (`event_date=D`) of `table` once
    /// more, without statistics, as a faulty or foreign writer would: its rows count twice.
    pub fn commit_a_copy_without_statistics(&self, table: &str, partition: &str) {
        let (name, bytes) = self
            .objects(table)
            .into_iter()
            .find(|(name, _)| {
                name.starts_with(&format!("{partition}/")) && name.ends_with(".parquet")
            })
            .unwrap();
        let copy = name.replace(".parquet", "-copy.parquet");
        let size = bytes.len();
        self.set_object(&format!("{table}/{copy}"), Some(bytes));
        self.commit_file(table, &copy, Some(size));
    }

    /// Every Parquet file of a table's current snapshot, read with the `parquet` crate, by
    /// path relative to the table.
    pub fn tree(&self, table: &str) -> BTreeMap<String, Vec<RecordBatch>> {
        let files: std::collections::HashSet<String> =
            self.snapshot_files(table).into_iter().collect();
        self.objects(table)
            .into_iter()
            .filter(|(name, _)| files.contains(name))
            .map(|(name, bytes)| {
                let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
                    .unwrap_or_else(|e| panic!("{name} is not valid Parquet: {e}"))
                    .build()
                    .unwrap();
                (name, reader.collect::<Result<Vec<_>, _>>().unwrap())
            })
            .collect()
    }

    /// All rows of a table (every partition), as the batches of its files.
    pub fn table(&self, name: &str) -> Vec<RecordBatch> {
        self.tree(name).into_values().flatten().collect()
    }

    pub fn rows(&self, name: &str) -> usize {
        self.table(name).iter().map(RecordBatch::num_rows).sum()
    }
}

fn s3_env(cmd: &mut Command, endpoint: &str) {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "it")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1");
}

/// A moto S3 server on 127.0.0.1, stopped when the test process ends.
pub struct Moto {
    port: u16,
    /// Where moto's recorder writes the requests it answers (see [`Moto::record`]).
    recording: PathBuf,
    /// The watchdog shell; moto is its child.
    watchdog: Child,
    pub pid: u32,
}

/// moto's S3 server: `.venv/bin/moto_server` (what `make test` installs), else on `PATH`.
fn moto_server() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("moto_server"))
            .find(|p| p.exists())
    });
    on_path.unwrap_or_else(|| {
        panic!("moto_server not found: the S3 tests need it; run `make test` (it installs moto into .venv)")
    })
}

impl Moto {
    pub fn start() -> Self {
        let server = moto_server();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The shell starts moto, says its pid, and stops it when this test process is gone.
        let recording = std::env::temp_dir().join(format!("moto-recording-{port}.jsonl"));
        let script = format!(
            "MOTO_RECORDER_FILEPATH='{}' '{}' -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; echo $m; \
             trap 'kill -CONT $m 2>/dev/null; kill $m 2>/dev/null' EXIT; \
             while kill -0 {} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done",
            recording.display(),
            server.display(),
            std::process::id()
        );
        let mut watchdog = Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("bash runs");
        let pid = first_line(&mut watchdog);
        let moto = Self {
            port,
            recording,
            watchdog,
            pid: pid.trim().parse().expect("moto pid"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(port, "GET", "/").is_none() {
            assert!(
                Instant::now() < deadline,
                "moto_server ({}) did not answer on port {port} within 60 s",
                server.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = http(self.port, "PUT", &format!("/{bucket}")).expect("moto answers");
        assert!(status == 200, "creating bucket {bucket}: {status} {body}");
    }

    /// What `work` returns, and the requests (method, URL) the server answered meanwhile,
    /// from moto's own recorder.
    pub fn record<T>(&self, work: impl FnOnce() -> T) -> (T, Vec<(String, String)>) {
        for step in ["reset-recording", "start-recording"] {
            http(self.port, "POST", &format!("/moto-api/recorder/{step}")).expect("moto answers");
        }
        let result = work();
        http(self.port, "POST", "/moto-api/recorder/stop-recording").expect("moto answers");
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        let requests = text
            .lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    entry["method"].as_str().unwrap().to_owned(),
                    entry["url"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (result, requests)
    }

    /// Freezes (SIGSTOP) or resumes (SIGCONT) the server.
    pub fn signal(&self, signal: &str) {
        assert!(Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .unwrap()
            .success());
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.pid.to_string())
            .status();
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

pub fn shared_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(Moto::start)
}

/// A bare HTTP/1.1 request to 127.0.0.1:`port`: the status code and the body, or `None`
/// while nothing answers.
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    let status = reply.split(' ').nth(1)?.parse().ok()?;
    let body = reply.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    http(port, "GET", path)
}

pub fn append(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
}

pub fn run_ok(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("binary runs");
    assert!(
        output.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn run_err(cmd: &mut Command) -> String {
    let output = cmd.output().expect("binary runs");
    assert!(!output.status.success(), "{cmd:?} should have failed");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `stickerlake run JOB --from FROM --to TO` with the built-in jobs.
pub fn run_days(sandbox: &Sandbox, job: &str, from: &str, to: &str) {
    run_ok(&mut sandbox.cmd(&["run", job, "--from", from, "--to", to]));
}

/// `stickerlake generate` into the sandbox's logs: 2 servers, from 2026-11-20.
pub fn generate_logs(sandbox: &Sandbox, events: u32, days: u32) {
    let out = sandbox.logs().display().to_string();
    let (events, days) = (events.to_string(), days.to_string());
    let args = [
        "generate",
        "--out",
        &out,
        "--events",
        &events,
        "--days",
        &days,
        "--servers",
        "2",
        "--start",
        "2026-11-20",
    ];
    run_ok(stickerlake().args(args));
}

/// A valid event line (with its newline).
pub fn event_line(id: &str, kind: &str, timestamp: &str, query: &str) -> String {
    let query = serde_json::to_string(query).unwrap();
    let properties = match kind {
        "search" => format!(r#"{{"query":{query},"results":["st_1","st_2"]}}"#),
        "select" => format!(r#"{{"query":{query},"sticker_id":"st_2"}}"#),
        "report" => format!(r#"{{"query":{query},"sticker_ids":["st_7","st_7","st_9"]}}"#),
        _ => "{}".to_owned(),
    };
    format!(
        r#"{{"messageId":"{id}","type":"{kind}","timestamp":"{timestamp}","userId":"u-1","properties":{properties}}}"#
    ) + "\n"
}

/// `n` searches for "cat" from `host` (ids `host-0`, `host-1`, …), at 10:00 on 2026-11-23.
pub fn host_searches(host: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            event_line(
                &format!("{host}-{i}"),
                "search",
                "2026-11-23T10:00:00Z",
                "cat",
            )
        })
        .collect()
}

/// The values of a string column across batches (nulls as `None`).
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b
                .column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"))
                .as_string::<i32>()
                .clone();
            (0..array.len()).map(move |i| array.is_valid(i).then(|| array.value(i).to_owned()))
        })
        .collect()
}

pub fn binaries(batches: &[RecordBatch], column: &str) -> Vec<Vec<u8>> {
    batches
        .iter()
        .flat_map(|b| {
            let array = b.column_by_name(column).unwrap().as_binary::<i32>().clone();
            (0..array.len()).map(move |i| array.value(i).to_vec())
        })
        .collect()
}

pub fn int64s(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(column)
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

/// Sorted message ids of a table.
pub fn message_ids(sandbox: &Sandbox) -> Vec<String> {
    let mut ids: Vec<String> = strings(&sandbox.table("raw_events"), "message_id")
        .into_iter()
        .flatten()
        .collect();
    ids.sort();
    ids
}

/// The first line a child writes on its piped standard output (without reading past it).
fn first_line(child: &mut Child) -> String {
    let mut stdout = child.stdout.take().unwrap();
    let (mut line, mut byte) = (String::new(), [0u8; 1]);
    while stdout.read(&mut byte).unwrap_or(0) == 1 && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    line
}

/// `tests/fixtures/faulty_s3.py` in front of an S3 server: a few percent of requests are
/// answered `503 SlowDown`, a few percent are applied and then cut without an answer.
pub struct FaultyProxy {
    port: u16,
    child: Child,
}

impl FaultyProxy {
    /// With `cut_first`, the first PUT whose path matches that regex is applied, then cut.
    pub fn start(
        target: &str,
        slowdown: f64,
        cut: f64,
        seed: u64,
        cut_first: Option<&str>,
    ) -> Self {
        let mut args = vec![
            "--slowdown".to_owned(),
            slowdown.to_string(),
            "--cut".to_owned(),
            cut.to_string(),
            "--seed".to_owned(),
            seed.to_string(),
        ];
        if let Some(regex) = cut_first {
            args.extend(["--cut-first".to_owned(), regex.to_owned()]);
        }
        Self::spawn(target, &args)
    }

    /// A proxy that answers every request `503` while `switch` exists (S3 down).
    pub fn refusing_while(target: &str, switch: &Path) -> Self {
        Self::spawn(
            target,
            &["--refuse".to_owned(), switch.display().to_string()],
        )
    }

    fn spawn(target: &str, args: &[String]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let target = target.trim_start_matches("http://");
        let mut child = Command::new("python3")
            .arg(repo_path("tests/fixtures/faulty_s3.py"))
            .args(["--port", &port.to_string(), "--target", target])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let ready = first_line(&mut child);
        assert!(
            ready.starts_with("listening"),
            "faulty_s3.py did not start: {ready:?}"
        );
        Self { port, child }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A sample's value in a Prometheus text body (`name{labels}` as written).
pub fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Polls `ready` every 100 ms until it holds; panics with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
