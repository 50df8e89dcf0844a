//! Expired Delta log entries removed, as `delta.logRetentionDuration` allows (default 30
//! days; off with `delta.enableExpiredLogCleanup = false`), so a table's log stays the size
//! of its retention, not of its history.
//!
//! delta-rs would do this after every commit, listing (and, on local disk, stat-ing) the
//! whole log each time: a commit's cost grew with the log (4,850 versions: 250 ms instead of
//! 20). Here it runs at each log checkpoint (one commit in 100) and by `vacuum`, and reads
//! the log in version order only up to the first commit still within retention: on S3 a
//! listing stopped early, on local disk the names (no stat) and then one stat per file
//! looked at.
//!
//! What goes: every file of a version below the newest checkpoint at or before the oldest
//! commit within retention. That checkpoint and everything after it stay, so every
//! version within retention can still be read (time travel) and the log still starts with
//! a checkpoint.

use chrono::{DateTime, Utc};
use deltalake_core::table::config::TablePropertiesExt as _;
use deltalake_core::DeltaTable;
use futures::StreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use super::delta_error;
use crate::contract::paths::DELTA_LOG;
use crate::warehouse::{Location, Warehouse, WarehouseError};

/// A file of a Delta log, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFile {
    Commit(u64),
    Checkpoint(u64),
    /// A `.crc`, a staging `.json#n`, a compacted range: goes with its version.
    Other(u64),
}

impl LogFile {
    /// `None` for `_last_checkpoint` and names that carry no version (never removed).
    fn parse(name: &str) -> Option<LogFile> {
        let (digits, rest) = name.split_at_checked(20)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) || !rest.starts_with('.') {
            return None;
        }
        let version = digits.parse().ok()?;
        Some(match rest {
            ".json" => LogFile::Commit(version),
            _ if rest.starts_with(".checkpoint.") && rest.ends_with(".parquet") => {
                LogFile::Checkpoint(version)
            }
            _ => LogFile::Other(version),
        })
    }

    fn version(self) -> u64 {
        match self {
            LogFile::Commit(v) | LogFile::Checkpoint(v) | LogFile::Other(v) => v,
        }
    }
}

/// The log's files seen in version order, deciding which have expired (pure).
#[derive(Debug, Default)]
struct Expiry {
    seen: Vec<(String, u64)>,
    /// The newest checkpoint seen so far.
    checkpoint: Option<u64>,
    /// The checkpoint the log will start from: the newest at or before the oldest commit
    /// within retention (or the latest commit, when every commit has expired).
    keep_from: Option<u64>,
}

impl Expiry {
    /// Takes the next file (`modified` is asked for commits only); `false` once the rest
    /// of the log is known to stay.
    fn see(
        &mut self,
        name: &str,
        modified: impl FnOnce() -> DateTime<Utc>,
        cutoff: DateTime<Utc>,
    ) -> bool {
        let Some(file) = LogFile::parse(name) else {
            return true;
        };
        match file {
            LogFile::Checkpoint(v) => self.checkpoint = Some(v),
            LogFile::Commit(_) if modified() >= cutoff => {
                self.keep_from = self.checkpoint;
                return false;
            }
            LogFile::Commit(_) | LogFile::Other(_) => {}
        }
        self.seen.push((name.to_owned(), file.version()));
        true
    }

    /// The files to delete.
    fn expired(mut self) -> Vec<String> {
        // Every commit expired: the log must still start from its newest checkpoint.
        let keep_from = self.keep_from.or(self.checkpoint);
        let Some(keep_from) = keep_from else {
            return Vec::new();
        };
        self.seen.retain(|(_, version)| *version < keep_from);
        self.seen.into_iter().map(|(name, _)| name).collect()
    }
}

impl Warehouse {
    /// Writes a checkpoint of `table` at its current version V, then removes every log file
    /// of a version before V: the log no longer holds what older versions added (their file
    /// statistics included). Returns V. Time travel before V is gone with them.
    pub async fn purge_log_before_now(
        &self,
        table: &str,
        delta: &DeltaTable,
    ) -> Result<u64, WarehouseError> {
        let version = delta
            .version()
            .ok_or_else(|| delta_error(self, table, "the table has no version yet"))?;
        deltalake_core::protocol::checkpoints::create_checkpoint(delta, None)
            .await
            .map_err(|e| delta_error(self, table, e))?;
        let log = format!("{table}/{DELTA_LOG}");
        for relative in self.list_objects(&log).await? {
            let name = relative.rsplit('/').next().unwrap_or_default();
            if LogFile::parse(name).is_some_and(|f| f.version() < version) {
                let path = self.path(&relative);
                match self.raw_store().delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.write_error(&path, e)),
                }
            }
        }
        Ok(version)
    }

    /// Removes the log files of `table` that its log retention lets go; returns how many.
    pub async fn clean_expired_log(
        &self,
        table: &str,
        delta: &DeltaTable,
    ) -> Result<usize, WarehouseError> {
        let state = delta.snapshot().map_err(|e| delta_error(self, table, e))?;
        let config = state.table_config();
        if !config.enable_expired_log_cleanup() {
            return Ok(0);
        }
        let retention = chrono::Duration::from_std(config.log_retention_duration())
            .unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now() - retention;
        let log = self.path(&format!("{table}/{DELTA_LOG}"));
        let read_error = |e| self.read_error(&log, e);
        let mut expiry = Expiry::default();
        match self.location() {
            Location::Local(dir) => {
                let folder = dir.join(table).join(DELTA_LOG);
                let mut names: Vec<String> = match std::fs::read_dir(&folder) {
                    Ok(entries) => entries
                        .filter_map(|e| e.ok()?.file_name().into_string().ok())
                        .collect(),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
                    Err(e) => {
                        return Err(read_error(object_store::Error::Generic {
                            store: "LocalFileSystem",
                            source: Box::new(e),
                        }))
                    }
                };
                names.sort_unstable();
                for name in names {
                    let modified = || {
                        std::fs::metadata(folder.join(&name))
                            .and_then(|m| m.modified())
                            .map(DateTime::<Utc>::from)
                            .unwrap_or_else(|_| Utc::now())
                    };
                    if !expiry.see(&name, modified, cutoff) {
                        break;
                    }
                }
            }
            Location::S3 { .. } => {
                // S3 lists in key order, which is version order: stop at the first commit
                // within retention, before the listing's next page.
                let mut listing = self.raw_store().list(Some(&log));
                while let Some(meta) = listing.next().await {
                    let meta = meta.map_err(read_error)?;
                    let name = meta.location.filename().unwrap_or_default().to_owned();
                    if !expiry.see(&name, || meta.last_modified, cutoff) {
                        break;
                    }
                }
            }
        }
        let expired = expiry.expired();
        for name in &expired {
            let path: Path = log.clone().join(name.as_str());
            match self.raw_store().delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.read_error(&path, e)),
            }
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(version: u64, suffix: &str) -> String {
        format!("{version:020}{suffix}")
    }

    /// The files of versions `0..n` (checkpoints at 9, 19, …), commit `v` written at day `v`,
    /// through `Expiry` with the cutoff at day `cutoff`.
    fn expired(n: u64, cutoff: i64) -> (Vec<String>, usize) {
        let day = |v: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(v);
        let mut names = vec!["_last_checkpoint".to_owned()];
        for v in 0..n {
            names.push(name(v, ".json"));
            names.push(name(v, ".crc"));
            if v % 10 == 9 {
                names.push(name(v, ".checkpoint.parquet"));
            }
        }
        names.sort();
        let mut expiry = Expiry::default();
        let mut looked_at = 0;
        for n in &names {
            let version = LogFile::parse(n).map(LogFile::version).unwrap_or(0) as i64;
            looked_at += 1;
            if !expiry.see(n, || day(version), day(cutoff)) {
                break;
            }
        }
        (expiry.expired(), looked_at)
    }

    #[test]
    fn names_give_versions_and_kinds() {
        assert_eq!(LogFile::parse(&name(7, ".json")), Some(LogFile::Commit(7)));
        assert_eq!(
            LogFile::parse(&name(9, ".checkpoint.parquet")),
            Some(LogFile::Checkpoint(9))
        );
        assert_eq!(
            LogFile::parse(&name(9, ".checkpoint.0000000001.0000000002.parquet")),
            Some(LogFile::Checkpoint(9))
        );
        assert_eq!(LogFile::parse(&name(3, ".json#1")), Some(LogFile::Other(3)));
        assert_eq!(LogFile::parse("_last_checkpoint"), None);
        assert_eq!(LogFile::parse("0001.json"), None);
    }

    #[test]
    fn the_log_keeps_the_checkpoint_before_the_oldest_commit_within_retention() {
        // Commits 0..=24 expired, 25 on within retention: checkpoint 19 is the newest at or
        // before 25, so everything of versions 0..=18 goes.
        let (gone, looked_at) = expired(40, 25);
        assert_eq!(gone.len(), 19 * 2 + 1, "{gone:?}");
        assert!(gone.contains(&name(9, ".checkpoint.parquet")));
        assert!(gone.contains(&name(18, ".json")));
        assert!(!gone.iter().any(|n| n.starts_with(&name(19, ""))));
        // It stopped at commit 25, not at the end of the log.
        assert!(looked_at < 60, "{looked_at}");
    }

    #[test]
    fn nothing_goes_without_a_checkpoint_or_an_expired_commit() {
        assert_eq!(expired(40, 0).0, Vec::<String>::new());
        assert_eq!(expired(8, 5).0, Vec::<String>::new(), "no checkpoint yet");
        // Within the first checkpoint's range: it is the one kept, and it is version 9.
        assert_eq!(expired(40, 12).0.len(), 9 * 2);
    }

    #[test]
    fn when_every_commit_expired_the_log_starts_at_its_newest_checkpoint() {
        let (gone, _) = expired(25, 100);
        assert!(gone.contains(&name(18, ".json")));
        assert!(!gone.contains(&name(19, ".json")));
        assert!(!gone.contains(&name(24, ".json")));
    }
}
