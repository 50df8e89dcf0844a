//! Model-based crash test: random sequences of appends (some ending mid-line), rotations by
//! rename and by copy-then-truncate, and tailer runs that are killed with SIGKILL at random
//! moments, sometimes while the files are being written. The model is simply every line
//! ever written; at the end the warehouse must hold each valid line exactly once in
//! `raw_events` and each bad line exactly once in `quarantine`.
//!
//! `STICKERLAKE_CRASH_SEEDS=N` runs more seeds (default 6).

use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::*;

struct Model {
    sandbox: Sandbox,
    rng: StdRng,
    next_id: usize,
    /// A line written without its newline yet.
    partial: Option<String>,
    rotations: usize,
    valid: BTreeMap<String, usize>,
    bad: BTreeMap<Vec<u8>, usize>,
    running: Option<Child>,
}

impl Model {
    fn new(seed: u64, sandbox: Sandbox) -> Self {
        Self {
            sandbox,
            rng: StdRng::seed_from_u64(seed),
            next_id: 0,
            partial: None,
            rotations: 0,
            valid: BTreeMap::new(),
            bad: BTreeMap::new(),
            running: None,
        }
    }

    fn log(&self) -> std::path::PathBuf {
        self.sandbox.logs().join("app.log")
    }

    fn new_line(&mut self) -> String {
        self.next_id += 1;
        let n = self.next_id;
        if self.rng.random_bool(0.1) {
            let line =
                format!("{{\"messageId\":\"bad-{n}\",\"type\":\"search\",\"timestamp\":\"nope\"}}");
            *self.bad.entry(line.clone().into_bytes()).or_default() += 1;
            line + "\n"
        } else {
            let id = format!("m-{n}");
            *self.valid.entry(id.clone()).or_default() += 1;
            let day = 20 + n % 4;
            event_line(&id, "search", &format!("2026-11-{day}T10:00:00Z"), "cat")
        }
    }

    fn append_lines(&mut self) {
        let count = self.rng.random_range(1..40);
        let mut text = self.partial.take().unwrap_or_default();
        for _ in 0..count {
            text += &self.new_line();
        }
        if self.rng.random_bool(0.3) {
            // End mid-line: the rest comes with the next append.
            let line = self.new_line();
            let cut = self.rng.random_range(1..line.len() - 1);
            text += &line[..cut];
            self.partial = Some(line[cut..].to_owned());
        }
        append(&self.log(), text.as_bytes());
    }

    fn finish_partial_line(&mut self) {
        if let Some(rest) = self.partial.take() {
            append(&self.log(), rest.as_bytes());
        }
    }

    /// Applications rotate between lines.
    fn rotate_by_rename(&mut self) {
        self.finish_partial_line();
        if self.log().exists() {
            self.rotations += 1;
            let rotated = self
                .sandbox
                .logs()
                .join(format!("app.log.{}", self.rotations));
            std::fs::rename(self.log(), rotated).unwrap();
        }
    }

    fn rotate_by_copy_truncate(&mut self) {
        self.finish_partial_line();
        if self.log().exists() {
            self.rotations += 1;
            let copy = self
                .sandbox
                .logs()
                .join(format!("app.log.{}", self.rotations));
            std::fs::copy(self.log(), copy).unwrap();
            std::fs::File::create(self.log()).unwrap();
        }
    }

    fn start_tailer(&mut self) {
        self.stop_tailer(true);
        let glob = format!("{}/app.log*", self.sandbox.logs().display());
        let child = self
            .sandbox
            .cmd(&["tailer", "--source", &glob, "--max-rows", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.running = Some(child);
    }

    /// SIGKILL (or wait for) the running tailer.
    fn stop_tailer(&mut self, kill: bool) {
        if let Some(mut child) = self.running.take() {
            if kill {
                let _ = child.kill();
            }
            child.wait().unwrap();
        }
    }

    fn step(&mut self) {
        match self.rng.random_range(0..10) {
            0..=3 => self.append_lines(),
            4 => self.rotate_by_rename(),
            5 => self.rotate_by_copy_truncate(),
            6 | 7 => self.start_tailer(),
            8 => {
                std::thread::sleep(Duration::from_millis(self.rng.random_range(0..60)));
                self.stop_tailer(true);
            }
            _ => self.stop_tailer(false),
        }
    }

    fn check(mut self, seed: u64) {
        self.stop_tailer(true);
        self.finish_partial_line();
        self.sandbox.tail(&[]);
        self.sandbox.tail(&[]);
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for id in strings(&self.sandbox.table("raw_events"), "message_id") {
            *seen.entry(id.unwrap()).or_default() += 1;
        }
        let mut quarantined: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        for line in binaries(&self.sandbox.table("quarantine"), "line") {
            *quarantined.entry(line).or_default() += 1;
        }
        let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
        let missing: Vec<_> = self
            .valid
            .keys()
            .filter(|id| !seen.contains_key(*id))
            .collect();
        assert!(
            dupes.is_empty() && missing.is_empty(),
            "seed {seed}: duplicated {dupes:?}, missing {missing:?}"
        );
        assert_eq!(
            seen, self.valid,
            "seed {seed}: raw_events differs from the lines written"
        );
        assert_eq!(
            quarantined, self.bad,
            "seed {seed}: quarantine differs from the bad lines written"
        );
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
