//! Shared helpers: running the binary, writing logs, reading Parquet back.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub fn stickerlake() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stickerlake"));
    cmd.env_remove("STICKERLAKE_WAREHOUSE");
    cmd
}

/// A temp folder with `logs/` and `warehouse/`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        Self { dir }
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    pub fn warehouse(&self) -> PathBuf {
        self.dir.path().join("warehouse")
    }

    /// `stickerlake --warehouse <this warehouse> ARGS…`
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = stickerlake();
        cmd.arg("--warehouse").arg(self.warehouse()).args(args);
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

/// Every Parquet file below `dir`, read with the `parquet` crate, by relative path.
pub fn read_parquet_tree(dir: &Path) -> BTreeMap<String, Vec<RecordBatch>> {
    let mut files = BTreeMap::new();
    if dir.exists() {
        visit(dir, dir, &mut files);
    }
    files
}

fn visit(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<RecordBatch>>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(root, &path, files);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
                .unwrap_or_else(|e| panic!("{} is not valid Parquet: {e}", path.display()))
                .build()
                .unwrap();
            let batches = reader.collect::<Result<Vec<_>, _>>().unwrap();
            let relative = path.strip_prefix(root).unwrap().display().to_string();
            files.insert(relative, batches);
        }
    }
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

/// All rows of a table (every partition), as the batches of its files.
pub fn table(warehouse: &Path, name: &str) -> Vec<RecordBatch> {
    read_parquet_tree(&warehouse.join(name))
        .into_values()
        .flatten()
        .collect()
}
