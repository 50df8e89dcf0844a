//! What the tailer knows about its reading, apart from any file: how far each source file
//! has been read, what the last scan found, the number of the next flush and the flushes
//! in flight. The driver ([`super::run`]) does the I/O and tells this type what happened;
//! the exactly-once bookkeeping is here, where a model test can drive it.
//!
//! The offsets run ahead of the saved checkpoint: they cover what is in the batch being
//! read, in the batches handed off and in the flush being written. A flush carries a copy
//! of them as they were when its batch was handed off, and the writer saves that copy only
//! once the flush's data is committed; after a crash, reading resumes from the saved one.

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Duration, Utc};

use crate::contract::checkpoint::{
    forget_old, watermark, Checkpoint, FileCheckpoint, Progress, SourceProgress,
};
use crate::contract::source::SourceFile;

pub struct ReadState {
    /// Per fingerprint: the offset just past the last line read (batch, in flight or saved).
    files: BTreeMap<String, FileCheckpoint>,
    /// The files the last scan found (for the watermark and for bytes never read).
    scanned: Vec<SourceFile>,
    /// The number of the next flush handed off.
    next_seq: u64,
    /// Flushes handed off and not yet written, oldest first.
    in_flight: VecDeque<u64>,
}

/// A batch handed off: its flush number and the offsets it brings the checkpoint to.
#[derive(Debug, Clone)]
pub struct HandOff {
    pub seq: u64,
    pub files: BTreeMap<String, FileCheckpoint>,
}

impl ReadState {
    /// Reading resumes where `checkpoint` (recovered: no pending flush) left off.
    pub fn resume(checkpoint: &Checkpoint) -> Self {
        debug_assert!(checkpoint.pending.is_none(), "recover the checkpoint first");
        Self {
            files: checkpoint.files.clone(),
            scanned: Vec::new(),
            next_seq: checkpoint.seq + 1,
            in_flight: VecDeque::new(),
        }
    }

    /// Where reading `file` goes on from.
    pub fn offset_of(&self, file: &SourceFile) -> u64 {
        self.files.get(&file.fingerprint).map_or(0, |f| f.offset)
    }

    /// Bytes of `files` not read yet.
    pub fn unread(&self, files: &[SourceFile]) -> u64 {
        files
            .iter()
            .map(|f| f.size.saturating_sub(self.offset_of(f)))
            .sum()
    }

    /// Takes in a scan's files (as of `now`); returns the bytes of files of the last scan
    /// that are gone now (deleted, or rotated past the globs): what was not read of them
    /// never will be.
    pub fn scanned(&mut self, files: &[SourceFile], now: DateTime<Utc>) -> u64 {
        for file in files {
            let entry = self
                .files
                .entry(file.fingerprint.clone())
                .or_insert(FileCheckpoint {
                    path: String::new(),
                    offset: 0,
                    seen_at: now,
                    latest_event: None,
                    moved: false,
                });
            let path = file.path.display().to_string();
            entry.moved |= !entry.path.is_empty() && entry.path != path;
            entry.path = path;
            entry.seen_at = now;
        }
        let seen: HashSet<&str> = files.iter().map(|f| f.fingerprint.as_str()).collect();
        let gone: Vec<SourceFile> = self
            .scanned
            .iter()
            .filter(|f| !seen.contains(f.fingerprint.as_str()))
            .cloned()
            .collect();
        let never_read = self.unread(&gone);
        let seen = seen.into_iter().map(str::to_owned).collect::<HashSet<_>>();
        forget_old(&mut self.files, now, &seen);
        self.scanned = files.to_vec();
        never_read
    }

    /// Lines of `fingerprint` up to `end` are in the batch; `latest_event` is the latest
    /// event time among them.
    pub fn advance(&mut self, fingerprint: &str, end: u64, latest_event: Option<DateTime<Utc>>) {
        if let Some(entry) = self.files.get_mut(fingerprint) {
            debug_assert!(end >= entry.offset, "reading never goes back");
            entry.offset = end;
            entry.latest_event = entry.latest_event.max(latest_event);
        }
    }

    /// The offset of a cut last line of `file` to quarantine, if it has one: the file was
    /// rotated (seen under another path), has bytes left past its last newline, and has not
    /// changed for `idle_timeout`. No newline will ever come: the rest of the line went to
    /// the new file.
    pub fn cut_line(
        &self,
        file: &SourceFile,
        now: DateTime<Utc>,
        idle_timeout: Duration,
    ) -> Option<u64> {
        let entry = self.files.get(&file.fingerprint)?;
        let idle = file
            .modified
            .is_some_and(|at| now - DateTime::<Utc>::from(at) >= idle_timeout);
        (entry.moved && entry.offset < file.size && idle).then_some(entry.offset)
    }

    /// Hands off the batch read so far: the next flush.
    pub fn hand_off(&mut self) -> HandOff {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.push_back(seq);
        HandOff {
            seq,
            files: self.files.clone(),
        }
    }

    /// Flush `seq` is written and committed. Flushes are written in the order handed off.
    pub fn written(&mut self, seq: u64) {
        let oldest = self.in_flight.pop_front();
        debug_assert_eq!(oldest, Some(seq), "flushes are written in order");
    }

    /// Flushes handed off and not written yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The watermark over the files of the last scan, read up to `files`, as of `now`.
    pub fn progress(
        &self,
        files: &BTreeMap<String, FileCheckpoint>,
        now: DateTime<Utc>,
        idle_timeout: Duration,
        allowed_lateness: Duration,
    ) -> Progress {
        let sources = self.scanned.iter().filter_map(|file| {
            let read = files.get(&file.fingerprint)?;
            let quiet = file
                .modified
                .is_some_and(|at| now - DateTime::<Utc>::from(at) >= idle_timeout);
            Some(SourceProgress {
                path: &read.path,
                latest_event: read.latest_event,
                idle: read.offset >= file.size && quiet,
            })
        });
        let (watermark, held_by) = watermark(sources, now, allowed_lateness);
        Progress {
            flushed_at: now,
            watermark,
            held_by,
            allowed_lateness_secs: allowed_lateness.num_seconds().max(0) as u64,
            idle_timeout_secs: idle_timeout.num_seconds().max(0) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    //! A model test in the spirit of Vector's file source: random appends, rotations,
    //! reads, flushes, writes and crashes drive a [`ReadState`] as the driver would, and
    //! every byte of every file must end up committed exactly once.

    use std::path::PathBuf;

    use super::*;

    /// A log file as the model sees it: each byte stands for a line.
    struct ModelFile {
        fingerprint: String,
        path: String,
        len: u64,
        deleted: bool,
    }

    /// A flush handed off: what it covers, per file, as byte ranges.
    struct ModelFlush {
        hand_off: HandOff,
        ranges: Vec<(String, u64, u64)>,
    }

    struct Model {
        files: Vec<ModelFile>,
        state: ReadState,
        /// What the writer saved last (the checkpoint a crash resumes from).
        saved: Checkpoint,
        batch: Vec<(String, u64, u64)>,
        in_flight: VecDeque<ModelFlush>,
        /// Per fingerprint, every byte range committed.
        committed: BTreeMap<String, Vec<(u64, u64)>>,
        never_read: u64,
        crashes: u64,
        now: DateTime<Utc>,
    }

    /// xorshift: the same runs on every machine, no dependency.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    impl Model {
        fn new() -> Self {
            let saved = Checkpoint::new("model");
            let mut model = Self {
                files: Vec::new(),
                state: ReadState::resume(&saved),
                saved,
                batch: Vec::new(),
                in_flight: VecDeque::new(),
                committed: BTreeMap::new(),
                never_read: 0,
                crashes: 0,
                now: "2026-12-07T00:00:00Z".parse().unwrap(),
            };
            model.create("app.log");
            model
        }

        fn create(&mut self, path: &str) {
            let fingerprint = format!("{:04x}", self.files.len());
            self.files.push(ModelFile {
                fingerprint,
                path: path.into(),
                len: 0,
                deleted: false,
            });
        }

        fn live(&self) -> Vec<SourceFile> {
            self.files
                .iter()
                .filter(|f| !f.deleted && f.len > 0)
                .map(|f| SourceFile {
                    path: PathBuf::from(&f.path),
                    fingerprint: f.fingerprint.clone(),
                    size: f.len,
                    modified: None,
                })
                .collect()
        }

        fn append(&mut self, bytes: u64) {
            let active = self
                .files
                .iter_mut()
                .rev()
                .find(|f| f.path == "app.log")
                .expect("there is always an active file");
            active.len += bytes;
        }

        /// Rotation by rename: `app.log.1` is deleted, `app.log` becomes it, a new `app.log`.
        fn rotate(&mut self) {
            for file in &mut self.files {
                match file.path.as_str() {
                    "app.log.1" => file.deleted = true,
                    "app.log" => file.path = "app.log.1".into(),
                    _ => {}
                }
            }
            self.create("app.log");
        }

        fn scan(&mut self) {
            self.now += Duration::seconds(1);
            let files = self.live();
            self.never_read += self.state.scanned(&files, self.now);
        }

        /// Reads what the last scan found, as far as the files were then (a file may have
        /// grown since, or gone: its bytes past the scan wait for the next one).
        fn read(&mut self) {
            for file in self.state.scanned.clone() {
                // A deleted file cannot be opened any more.
                if self
                    .files
                    .iter()
                    .any(|f| f.fingerprint == file.fingerprint && f.deleted)
                {
                    continue;
                }
                let from = self.state.offset_of(&file);
                if from < file.size {
                    self.batch.push((file.fingerprint.clone(), from, file.size));
                    self.state.advance(&file.fingerprint, file.size, None);
                }
            }
        }

        fn hand_off(&mut self) {
            let hand_off = self.state.hand_off();
            let ranges = std::mem::take(&mut self.batch);
            self.in_flight.push_back(ModelFlush { hand_off, ranges });
        }

        /// The writer's side: the oldest flush is committed, then its checkpoint saved.
        fn write(&mut self) {
            let Some(flush) = self.in_flight.pop_front() else {
                return;
            };
            assert_eq!(
                flush.hand_off.seq,
                self.saved.seq + 1,
                "flush numbers follow on"
            );
            let outputs = vec![format!("part-{}", flush.hand_off.seq)];
            let pending = self
                .saved
                .begin(flush.hand_off.seq, outputs, flush.hand_off.files);
            for (fingerprint, from, to) in flush.ranges {
                self.committed
                    .entry(fingerprint)
                    .or_default()
                    .push((from, to));
            }
            self.saved = pending.committed();
            self.state.written(flush.hand_off.seq);
        }

        /// `kill -9`: the batch and the flushes in flight are lost; reading resumes from the
        /// saved checkpoint (there is no pending record: in the model, a write is atomic;
        /// `Checkpoint::recovery` has tests of its own).
        fn crash(&mut self) {
            self.batch.clear();
            self.in_flight.clear();
            self.state = ReadState::resume(&self.saved);
            self.crashes += 1;
        }

        fn step(&mut self, rng: &mut Rng, crashes: bool) {
            match rng.below(100) {
                0..=29 => self.append(1 + rng.below(50)),
                30..=34 => self.rotate(),
                35..=54 => self.scan(),
                55..=74 => self.read(),
                75..=84 => self.hand_off(),
                85..=96 => self.write(),
                _ if crashes => self.crash(),
                _ => self.write(),
            }
            assert!(self.state.in_flight() == self.in_flight.len());
        }

        /// Stops appending and drains: every live byte is read and committed.
        fn drain(&mut self) {
            self.scan();
            self.read();
            self.hand_off();
            while !self.in_flight.is_empty() {
                self.write();
            }
        }

        fn check(&self) {
            let mut lost_with_deleted_files = 0;
            for file in &self.files {
                let mut ranges = self
                    .committed
                    .get(&file.fingerprint)
                    .cloned()
                    .unwrap_or_default();
                ranges.sort();
                let mut end = 0;
                for (from, to) in &ranges {
                    assert_eq!(*from, end, "{}: a gap or a byte committed twice", file.path);
                    end = *to;
                }
                assert!(end <= file.len, "{}: past its end", file.path);
                if file.deleted {
                    lost_with_deleted_files += file.len - end;
                } else {
                    assert_eq!(end, file.len, "{} is committed to its end", file.path);
                }
            }
            // Without crashes the offsets never fall behind what is committed, so the bytes
            // counted as never read are at most those lost with deleted files (fewer when a
            // file grew after the last scan that saw it).
            if self.crashes == 0 {
                assert!(self.never_read <= lost_with_deleted_files);
            }
        }
    }

    #[test]
    fn every_byte_is_committed_exactly_once_through_rotations_and_crashes() {
        for seed in 1..=300u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut model = Model::new();
            // Every fifth run without crashes, where bytes never read can be bounded.
            let crashes = seed % 5 != 0;
            for _ in 0..200 {
                model.step(&mut rng, crashes);
            }
            model.drain();
            model.check();
        }
    }

    #[test]
    fn a_resumed_state_starts_at_the_next_flush_number() {
        let mut checkpoint = Checkpoint::new("t");
        checkpoint.seq = 41;
        let mut state = ReadState::resume(&checkpoint);
        assert_eq!(state.hand_off().seq, 42);
        assert_eq!(state.hand_off().seq, 43);
        assert_eq!(state.in_flight(), 2);
        state.written(42);
        assert_eq!(state.in_flight(), 1);
    }

    #[test]
    fn bytes_of_a_file_gone_before_its_end_are_counted_once() {
        let now: DateTime<Utc> = "2026-12-07T00:00:00Z".parse().unwrap();
        let file = |fingerprint: &str, size| SourceFile {
            path: PathBuf::from("app.log.1"),
            fingerprint: fingerprint.into(),
            size,
            modified: None,
        };
        let mut state = ReadState::resume(&Checkpoint::new("t"));
        assert_eq!(state.scanned(&[file("a", 100), file("b", 10)], now), 0);
        state.advance("a", 60, None);
        assert_eq!(state.scanned(&[file("b", 10)], now), 40);
        assert_eq!(state.scanned(&[file("b", 10)], now), 0);
    }

    #[test]
    fn a_cut_line_is_due_only_for_a_rotated_idle_file_with_bytes_left() {
        let now: DateTime<Utc> = "2026-12-07T00:10:00Z".parse().unwrap();
        let quiet_since = std::time::SystemTime::from(now - Duration::minutes(6));
        let at = |path: &str, size| SourceFile {
            path: PathBuf::from(path),
            fingerprint: "a".into(),
            size,
            modified: Some(quiet_since),
        };
        let mut state = ReadState::resume(&Checkpoint::new("t"));
        let five_minutes = Duration::minutes(5);
        state.scanned(&[at("app.log", 100)], now);
        state.advance("a", 90, None);
        assert_eq!(state.cut_line(&at("app.log", 100), now, five_minutes), None);
        state.scanned(&[at("app.log.1", 100)], now);
        assert_eq!(
            state.cut_line(&at("app.log.1", 100), now, five_minutes),
            Some(90)
        );
        assert_eq!(
            state.cut_line(&at("app.log.1", 100), now, Duration::minutes(7)),
            None
        );
        state.advance("a", 100, None);
        assert_eq!(
            state.cut_line(&at("app.log.1", 100), now, five_minutes),
            None
        );
    }
}
