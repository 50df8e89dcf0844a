//! Model-based crash test: random sequences of appends (some ending mid-line, some lines
//! over `--max-line-bytes`: just under, at, just over and far over the limit, with `\n` or
//! `\r\n`), rotations by rename (the writer keeps its descriptor, so a line in flight ends
//! in the renamed file, as with a real logger) and by copy-then-truncate, and tailers (plain
//! runs and `--follow`) killed with SIGKILL at random moments while the files are written.
//!
//! The model is every line ever written, with the offset it was written at. At the end the
//! warehouse must hold, counted row by row, each valid line exactly once in `raw_events` and
//! each bad line exactly once in `quarantine` (over-long ones as their first
//! `--max-line-bytes` bytes), each at its start offset. The tailers run with a tracking plan
//! that leaves the `ping` events unplanned, so `violations` must hold exactly one row for
//! each `ping` event in `raw_events`, at the same offset, too.
//!
//! `STICKERLAKE_CRASH_SEEDS=N` runs more seeds (default 6), from `STICKERLAKE_CRASH_FIRST_SEED`.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::process::{Child, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::*;

const MAX_LINE: usize = 256;

/// Searches are planned, pings are not: each ping in `raw_events` is one violation.
const PLAN: &str = r#"{"version": "crash-1", "unplanned": "violation",
    "events": {"search": {"properties": {"type": "object", "required": ["query", "results"]}}}}"#;

/// A row the warehouse must hold: (table, message id or stored line bytes, source offset).
type Row = (&'static str, Vec<u8>, i64);

struct Model {
    sandbox: Sandbox,
    rng: StdRng,
    next_id: usize,
    /// The application's descriptor on the current log file (append mode).
    writer: File,
    /// Bytes in the file `writer` writes to.
    written: u64,
    /// The rest of a line written without its newline yet.
    partial: Option<Vec<u8>>,
    rotations: usize,
    expected: BTreeMap<Row, usize>,
    /// The running tailer, and whether it follows.
    running: Option<(Child, bool)>,
}

impl Model {
    fn new(seed: u64, sandbox: Sandbox) -> Self {
        let writer = open_log(&sandbox.logs().join("app.log"));
        std::fs::write(sandbox.dir.path().join("plan.json"), PLAN).unwrap();
        Self {
            sandbox,
            rng: StdRng::seed_from_u64(seed),
            next_id: 0,
            writer,
            written: 0,
            partial: None,
            rotations: 0,
            expected: BTreeMap::new(),
            running: None,
        }
    }

    fn log(&self) -> std::path::PathBuf {
        self.sandbox.logs().join("app.log")
    }

    fn plan(&self) -> String {
        self.sandbox
            .dir
            .path()
            .join("plan.json")
            .display()
            .to_string()
    }

    /// A new line, recorded in the model at `offset`.
    fn new_line(&mut self, offset: u64) -> Vec<u8> {
        self.next_id += 1;
        let n = self.next_id;
        let offset = offset as i64;
        let (line, row) = match self.rng.random_range(0..20) {
            0..=1 => {
                let line = format!(
                    "{{\"messageId\":\"bad-{n}\",\"type\":\"search\",\"timestamp\":\"nope\"}}\n"
                );
                let stored = line.trim_end().as_bytes().to_vec();
                (line.into_bytes(), ("quarantine", stored, offset))
            }
            2..=4 => self.sized_line(n, offset),
            _ => {
                let id = format!("m-{n}");
                let day = 20 + n % 4;
                let line = event_line(&id, "search", &format!("2026-11-{day}T10:00:00Z"), "cat");
                (line.into_bytes(), ("raw_events", id.into_bytes(), offset))
            }
        };
        *self.expected.entry(row).or_default() += 1;
        line
    }

    /// A valid event padded to a length around `MAX_LINE` (rarely past the tailer's 1 MiB
    /// read buffer), ending in `\n` or `\r\n`.
    fn sized_line(&mut self, n: usize, offset: i64) -> (Vec<u8>, Row) {
        let len = match self.rng.random_range(0..9) {
            0 => MAX_LINE - 1,
            1 | 2 => MAX_LINE,
            3 | 4 => MAX_LINE + 1,
            5 => MAX_LINE + 2,
            6 | 7 => MAX_LINE * 5,
            _ => (1 << 20) + self.rng.random_range(0..300_000),
        };
        let id = format!("long-{n}");
        let head = format!(
            "{{\"messageId\":\"{id}\",\"type\":\"ping\",\"timestamp\":\"2026-11-22T10:00:00Z\",\"properties\":{{\"pad\":\""
        );
        let mut line = head.into_bytes();
        line.resize(len - 3, b'x');
        line.extend_from_slice(b"\"}}");
        let row = if len <= MAX_LINE {
            ("raw_events", id.into_bytes(), offset)
        } else {
            ("quarantine", line[..MAX_LINE].to_vec(), offset)
        };
        if self.rng.random_bool(0.3) {
            line.push(b'\r');
        }
        line.push(b'\n');
        (line, row)
    }

    fn write(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.written += bytes.len() as u64;
    }

    fn append_lines(&mut self) {
        let count = self.rng.random_range(1..30);
        let mut text = self.partial.take().unwrap_or_default();
        for _ in 0..count {
            let line = self.new_line(self.written + text.len() as u64);
            text.extend_from_slice(&line);
        }
        // Sometimes end mid-line: the rest comes with the next append (or rotation).
        if self.rng.random_bool(0.4) {
            let cut = self.rng.random_range(1..text.len());
            self.partial = Some(text.split_off(cut));
        }
        self.write(&text);
    }

    fn finish_partial_line(&mut self) {
        if let Some(rest) = self.partial.take() {
            self.write(&rest);
        }
    }

    fn rotated_name(&mut self) -> std::path::PathBuf {
        self.rotations += 1;
        self.sandbox
            .logs()
            .join(format!("app.log.{}", self.rotations))
    }

    /// The file is renamed, possibly mid-line: the writer finishes the line through its
    /// descriptor (into the renamed file), then reopens the name.
    fn rotate_by_rename(&mut self) {
        let rotated = self.rotated_name();
        std::fs::rename(self.log(), rotated).unwrap();
        if self.rng.random_bool(0.5) {
            std::thread::sleep(Duration::from_millis(self.rng.random_range(0..20)));
        }
        self.finish_partial_line();
        self.writer = open_log(&self.log());
        self.written = 0;
    }

    /// Copy, then truncate in place; the writer (append mode) goes on at offset 0. Lines
    /// are finished first: a line split by the truncation is lost by any reader.
    fn rotate_by_copy_truncate(&mut self) {
        self.finish_partial_line();
        let copy = self.rotated_name();
        std::fs::copy(self.log(), copy).unwrap();
        File::create(self.log()).unwrap();
        self.written = 0;
    }

    fn start_tailer(&mut self) {
        self.stop_tailer(true);
        let glob = format!("{}/app.log*", self.sandbox.logs().display());
        let max_line = MAX_LINE.to_string();
        let max_rows = ["3", "40"][self.rng.random_range(0..2)];
        let plan = self.plan();
        let mut args = vec![
            "tailer",
            "--source",
            &glob,
            "--max-line-bytes",
            &max_line,
            "--max-rows",
            max_rows,
            "--plan",
            &plan,
        ];
        let follows = self.rng.random_bool(0.5);
        if follows {
            args.extend(["--follow", "--flush-interval", "0.05"]);
        }
        let child = self
            .sandbox
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.running = Some((child, follows));
    }

    /// SIGKILL the running tailer, or let it finish: a plain run is waited for, a
    /// `--follow` one gets SIGTERM (flush, checkpoint, exit).
    fn stop_tailer(&mut self, kill: bool) {
        let Some((mut child, follows)) = self.running.take() else {
            return;
        };
        if kill {
            let _ = child.kill();
        } else if follows {
            let pid = child.id().to_string();
            run_ok(std::process::Command::new("kill").args(["-TERM", &pid]));
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the tailer did not stop"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn step(&mut self) {
        match self.rng.random_range(0..12) {
            0..=4 => self.append_lines(),
            5 => self.rotate_by_rename(),
            6 => self.rotate_by_copy_truncate(),
            7 | 8 => self.start_tailer(),
            9 | 10 => {
                std::thread::sleep(Duration::from_millis(self.rng.random_range(0..80)));
                self.stop_tailer(true);
            }
            _ => self.stop_tailer(false),
        }
    }

    fn check(mut self, seed: u64) {
        self.stop_tailer(true);
        self.finish_partial_line();
        let max_line = MAX_LINE.to_string();
        let glob = format!("{}/app.log*", self.sandbox.logs().display());
        let plan = self.plan();
        let args = [
            "tailer",
            "--source",
            &glob,
            "--max-line-bytes",
            &max_line,
            "--plan",
            &plan,
        ];
        run_ok(&mut self.sandbox.cmd(&args));
        run_ok(&mut self.sandbox.cmd(&args));
        // Every ping kept is unplanned: one violation each, at its offset.
        let pings: Vec<Row> = self
            .expected
            .iter()
            .filter(|((table, id, _), _)| *table == "raw_events" && id.starts_with(b"long-"))
            .flat_map(|((_, id, offset), n)| {
                std::iter::repeat_n(("violations", id.clone(), *offset), *n)
            })
            .collect();
        for row in pings {
            *self.expected.entry(row).or_default() += 1;
        }
        let mut actual: BTreeMap<Row, usize> = BTreeMap::new();
        for table in ["raw_events", "violations"] {
            let rows = self.sandbox.table(table);
            let ids = strings(&rows, "message_id").into_iter().map(Option::unwrap);
            for (id, offset) in ids.zip(int64s(&rows, "source_offset")) {
                *actual.entry((table, id.into_bytes(), offset)).or_default() += 1;
            }
        }
        let quarantine = self.sandbox.table("quarantine");
        let lines = binaries(&quarantine, "line");
        for (line, offset) in lines.into_iter().zip(int64s(&quarantine, "source_offset")) {
            *actual.entry(("quarantine", line, offset)).or_default() += 1;
        }
        let show = |(table, key, offset): &Row| {
            let key = String::from_utf8_lossy(&key[..key.len().min(48)]).into_owned();
            format!("{table} {key:?} at {offset}")
        };
        let wrong: Vec<String> = self
            .expected
            .iter()
            .filter(|(row, n)| actual.get(*row) != Some(n))
            .map(|(row, n)| format!("{} expected {n}, found {:?}", show(row), actual.get(row)))
            .chain(
                actual
                    .iter()
                    .filter(|(row, _)| !self.expected.contains_key(*row))
                    .map(|(row, n)| format!("{} found {n} time(s), never written", show(row))),
            )
            .take(10)
            .collect();
        assert!(wrong.is_empty(), "seed {seed}:\n{}", wrong.join("\n"));
        if self.sandbox.s3.is_none() {
            let files = walk(&self.sandbox.dir.path().join("warehouse"));
            let staging: Vec<_> = files
                .iter()
                .filter(|p| p.contains('#') && !p.contains("_state"))
                .collect();
            assert!(
                staging.is_empty(),
                "seed {seed}: leftover staging files {staging:?}"
            );
        }
    }
}

fn open_log(path: &std::path::Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

fn seeds(default: u64) -> std::ops::Range<u64> {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    let first = env("STICKERLAKE_CRASH_FIRST_SEED").unwrap_or(1);
    first..first + env("STICKERLAKE_CRASH_SEEDS").unwrap_or(default)
}

fn replay(seed: u64, sandbox: Sandbox) {
    let mut model = Model::new(seed, sandbox);
    for _ in 0..60 {
        model.step();
    }
    model.check(seed);
}

#[test]
fn every_line_lands_exactly_once_whatever_kills_the_tailer() {
    for seed in seeds(6) {
        replay(seed, Sandbox::local());
    }
}

#[test]
fn every_line_lands_exactly_once_on_s3_too() {
    for seed in seeds(2) {
        replay(seed, Sandbox::s3());
    }
}
