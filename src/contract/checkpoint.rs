//! Tailer checkpoints: how far each source file (known by fingerprint) has been ingested.
//!
//! Contract: a checkpoint's offsets are advanced only after the data they cover is durable.
//! Each flush is a small transaction over object stores that have no transactions:
//!
//! 1. save the checkpoint with a `pending` record: the files about to be written and the
//!    offsets they will cover;
//! 2. write the data files (each one atomically);
//! 3. save the checkpoint with the new offsets and no `pending` record.
//!
//! After a crash between 1 and 3, [`Checkpoint::recover`] finishes the flush if every
//! pending file exists (roll forward) or deletes the ones that do exist (roll back), so
//! every line ends up in the warehouse exactly once.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

/// Entries for files not seen for this long are forgotten.
const FORGET_AFTER_DAYS: i64 = 14;

/// Why a checkpoint file cannot be used: damaged (restore it or start the tailer afresh), or
/// written by a newer stickerlake (upgrade this one).
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("not a valid checkpoint: {0}")]
    Malformed(serde_json::Error),
    #[error(
        "checkpoint format version {0} is not supported by this stickerlake (it reads version {FORMAT_VERSION})"
    )]
    NewerFormat(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    pub tailer_id: String,
    /// The number of the last completed flush.
    pub seq: u64,
    /// Per file fingerprint.
    pub files: BTreeMap<String, FileCheckpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingFlush>,
    /// How far this tailer's input is complete, as of its last flush.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Set when the tailer was retired (its host decommissioned): it holds nothing back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
    /// Flushes staged for the committer and not committed yet (`tailer --stage`): until
    /// they are, the watermark speaks of data not in the tables. Not saved: read from
    /// `_staging/` by [`crate::completeness::tailers`].
    #[serde(skip)]
    pub staged: usize,
}

/// A tailer's completeness at its last flush: every event older than `watermark` that will
/// ever reach its sources has been read (up to the allowed lateness).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub flushed_at: DateTime<Utc>,
    pub watermark: DateTime<Utc>,
    /// The source that holds the watermark back; none when every source is idle.
    pub held_by: Option<String>,
    pub allowed_lateness_secs: u64,
    pub idle_timeout_secs: u64,
}

/// One source file at a flush, as the watermark sees it.
#[derive(Debug, Clone)]
pub struct SourceProgress<'a> {
    pub path: &'a str,
    /// The latest event time read from it, if any valid event was.
    pub latest_event: Option<DateTime<Utc>>,
    /// Read to its end and not grown for the idle timeout: it holds nothing back.
    pub idle: bool,
}

/// The watermark (pure): the oldest of the active sources' latest event times, never later
/// than `now`, minus the allowed lateness; with every source idle, `now` minus the lateness.
/// Also returns the source that holds it back.
pub fn watermark<'a>(
    sources: impl IntoIterator<Item = SourceProgress<'a>>,
    now: DateTime<Utc>,
    allowed_lateness: Duration,
) -> (DateTime<Utc>, Option<String>) {
    let oldest = sources
        .into_iter()
        .filter(|s| !s.idle)
        .filter_map(|s| Some((s.latest_event?, s.path)))
        .min();
    match oldest {
        Some((at, path)) if at < now => (at - allowed_lateness, Some(path.to_owned())),
        _ => (now - allowed_lateness, None),
    }
}

/// The tailer's default `--idle-timeout` (5m), for readers of checkpoints written without one.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileCheckpoint {
    /// Where the file was last seen (informational: files are known by fingerprint).
    pub path: String,
    /// Bytes ingested: the offset just past the last complete line written.
    pub offset: u64,
    /// When a scan last saw the file.
    pub seen_at: DateTime<Utc>,
    /// The latest event time among the valid lines read from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_event: Option<DateTime<Utc>>,
    /// Seen under another path than before (rotated by rename or by copy): an unterminated
    /// last line of it is quarantined once it has been idle for the idle timeout.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub moved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingFlush {
    pub seq: u64,
    /// Data files of this flush, relative to the warehouse root.
    pub outputs: Vec<String>,
    /// The offsets once every output exists.
    pub files: BTreeMap<String, FileCheckpoint>,
}

/// What recovery must do about an interrupted flush.
#[derive(Debug, PartialEq)]
pub enum Recovery {
    Nothing,
    /// Every output exists: adopt the pending offsets.
    RollForward,
    /// Some output is missing: delete these (the ones that exist) and keep the old offsets.
    RollBack(Vec<String>),
}

impl Checkpoint {
    pub fn new(tailer_id: &str) -> Self {
        Self {
            version: FORMAT_VERSION,
            tailer_id: tailer_id.to_owned(),
            seq: 0,
            files: BTreeMap::new(),
            pending: None,
            progress: None,
            retired_at: None,
            staged: 0,
        }
    }

    /// Decides how to finish an interrupted flush, given which pending outputs exist.
    pub fn recovery(&self, exists: impl Fn(&str) -> bool) -> Recovery {
        match &self.pending {
            None => Recovery::Nothing,
            Some(pending) => {
                let present: Vec<String> = pending
                    .outputs
                    .iter()
                    .filter(|o| exists(o))
                    .cloned()
                    .collect();
                if present.len() == pending.outputs.len() {
                    Recovery::RollForward
                } else {
                    Recovery::RollBack(present)
                }
            }
        }
    }

    /// Applies a recovery decision (after the roll-back deletions are done).
    pub fn recover(&mut self, recovery: &Recovery) {
        *self = match recovery {
            Recovery::RollForward => self.committed(),
            _ => Self {
                pending: None,
                ..self.clone()
            },
        };
    }

    /// The checkpoint to save before writing `outputs` of flush `seq`, which advance the
    /// offsets to `files`.
    pub fn begin(
        &self,
        seq: u64,
        outputs: Vec<String>,
        files: BTreeMap<String, FileCheckpoint>,
    ) -> Self {
        debug_assert!(seq > self.seq, "flush {seq} follows flush {}", self.seq);
        let mut next = self.clone();
        next.pending = Some(PendingFlush {
            seq,
            outputs,
            files,
        });
        next
    }

    /// The checkpoint to save once the pending flush is committed: its offsets, no pending
    /// record. (Recovery's roll forward, and every ordinary flush.)
    pub fn committed(&self) -> Self {
        let mut done = self.clone();
        if let Some(pending) = done.pending.take() {
            done.seq = pending.seq;
            done.files = pending.files;
        }
        done
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("checkpoints serialize");
        json.push(b'\n');
        json
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let checkpoint: Checkpoint =
            serde_json::from_slice(bytes).map_err(CheckpointError::Malformed)?;
        if checkpoint.version != FORMAT_VERSION {
            return Err(CheckpointError::NewerFormat(checkpoint.version));
        }
        Ok(checkpoint)
    }
}

/// Forgets files that no scan has seen for a while (rotated away and deleted).
pub fn forget_old(
    files: &mut BTreeMap<String, FileCheckpoint>,
    now: DateTime<Utc>,
    seen: &HashSet<String>,
) {
    let cutoff = now - Duration::days(FORGET_AFTER_DAYS);
    files.retain(|fingerprint, file| seen.contains(fingerprint) || file.seen_at >= cutoff);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn file(path: &str, offset: u64) -> FileCheckpoint {
        FileCheckpoint {
            path: path.into(),
            offset,
            seen_at: at("2026-11-24T08:00:00Z"),
            latest_event: None,
            moved: false,
        }
    }

    #[test]
    fn golden_format() {
        let mut checkpoint = Checkpoint::new("web-1");
        checkpoint
            .files
            .insert("00ff".into(), file("/var/log/app.jsonl", 120));
        let pending = checkpoint.begin(
            1,
            vec![
                "raw_events/event_date=2026-11-23/part-web-1-00000001-0000000000000001.parquet"
                    .into(),
            ],
            BTreeMap::from([("00ff".to_owned(), file("/var/log/app.jsonl", 480))]),
        );
        let golden = r#"{
  "version": 1,
  "tailer_id": "web-1",
  "seq": 0,
  "files": {
    "00ff": {
      "path": "/var/log/app.jsonl",
      "offset": 120,
      "seen_at": "2026-11-24T08:00:00Z"
    }
  },
  "pending": {
    "seq": 1,
    "outputs": [
      "raw_events/event_date=2026-11-23/part-web-1-00000001-0000000000000001.parquet"
    ],
    "files": {
      "00ff": {
        "path": "/var/log/app.jsonl",
        "offset": 480,
        "seen_at": "2026-11-24T08:00:00Z"
      }
    }
  }
}
"#;
        assert_eq!(String::from_utf8(pending.to_json()).unwrap(), golden);
        assert_eq!(Checkpoint::from_json(golden.as_bytes()).unwrap(), pending);
    }

    #[test]
    fn recovery_rolls_forward_only_when_every_output_exists() {
        let base = Checkpoint::new("h");
        let files = BTreeMap::from([("fp".to_owned(), file("a", 10))]);
        let pending = base.begin(base.seq + 1, vec!["x".into(), "y".into()], files.clone());

        let mut all = pending.clone();
        let decision = all.recovery(|_| true);
        assert_eq!(decision, Recovery::RollForward);
        all.recover(&decision);
        assert_eq!((all.seq, &all.files, &all.pending), (1, &files, &None));
        assert_eq!(
            pending.committed(),
            all,
            "an ordinary commit is a roll forward"
        );

        let mut some = pending.clone();
        let decision = some.recovery(|o| o == "y");
        assert_eq!(decision, Recovery::RollBack(vec!["y".into()]));
        some.recover(&decision);
        assert_eq!(some, base);
    }

    #[test]
    fn newer_formats_are_refused_with_a_reason() {
        let mut checkpoint = Checkpoint::new("h");
        checkpoint.version = 2;
        let err = Checkpoint::from_json(&checkpoint.to_json()).unwrap_err();
        assert!(matches!(err, CheckpointError::NewerFormat(2)), "{err}");
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn only_long_unseen_files_are_forgotten() {
        let mut checkpoint = Checkpoint::new("h");
        let old = FileCheckpoint {
            seen_at: at("2026-10-01T00:00:00Z"),
            ..file("old", 1)
        };
        checkpoint.files.insert("old".into(), old.clone());
        checkpoint.files.insert("old-but-seen".into(), old);
        checkpoint.files.insert("recent".into(), file("recent", 1));
        forget_old(
            &mut checkpoint.files,
            at("2026-11-24T08:00:00Z"),
            &HashSet::from(["old-but-seen".to_owned()]),
        );
        assert_eq!(
            checkpoint.files.keys().collect::<Vec<_>>(),
            ["old-but-seen", "recent"]
        );
    }

    #[test]
    fn the_watermark_waits_for_the_slowest_active_source() {
        let now = at("2026-11-24T12:00:00Z");
        let lateness = Duration::minutes(30);
        let source = |path, latest: Option<&str>, idle| SourceProgress {
            path,
            latest_event: latest.map(at),
            idle,
        };
        let (mark, held_by) = watermark(
            [
                source("a", Some("2026-11-24T11:59:00Z"), false),
                source("b", Some("2026-11-24T09:00:00Z"), false),
                source("c", Some("2026-11-20T00:00:00Z"), true),
                source("d", None, false),
            ],
            now,
            lateness,
        );
        assert_eq!(mark, at("2026-11-24T08:30:00Z"));
        assert_eq!(held_by.as_deref(), Some("b"));
        // Every source idle: nothing holds it back but the lateness.
        let (mark, held_by) = watermark(
            [source("c", Some("2026-11-20T00:00:00Z"), true)],
            now,
            lateness,
        );
        assert_eq!((mark, held_by), (at("2026-11-24T11:30:00Z"), None));
        // Events from a clock running ahead do not move it past now.
        let (mark, _) = watermark(
            [source("a", Some("2026-11-25T00:00:00Z"), false)],
            now,
            lateness,
        );
        assert_eq!(mark, at("2026-11-24T11:30:00Z"));
    }
}
