//! The warehouse's reserved paths: what lives beside the tables' data files. Readers of a
//! table read only its Delta log and the files the log names, so these never look like data.

/// A table's Delta log: `<table>/_delta_log/`.
pub const DELTA_LOG: &str = "_delta_log";

/// The tailers' checkpoints: `_state/tailer/<tailer id>.json` (unless `--state-dir`).
pub const TAILER_STATE_DIR: &str = "_state/tailer";

/// `check`'s profile of each day, kept with the list of files it was read from:
/// `_state/profiles/event_date=<day>.json` (see [`crate::quality::profile_cache`]).
pub const PROFILES_DIR: &str = "_state/profiles";

/// Flushes staged for the committer: `_staging/<tailer id>/<flush number>.json` (`tailer
/// --stage`; see [`crate::warehouse::staging`]).
pub const STAGING_DIR: &str = "_staging";

/// A job's run records: `<job>/_runs/…` and the latest per day, `<job>/_runs/latest/<day>.json`.
pub const RUNS_DIR: &str = "_runs";

/// Where compactions before Delta tables recorded their work (read by `migrate` only).
pub const LEGACY_COMPACTIONS_DIR: &str = "_compactions";
