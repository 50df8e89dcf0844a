//! A table's past: its commits as `history` shows them, and time travel (`--as-of`).

use deltalake_core::DeltaTable;
use serde_json::Value;

use super::delta_error;
use crate::warehouse::{Warehouse, WarehouseError};

/// A past state of the warehouse: a version of `raw_events` (the source of truth; every
/// other table is read as of that version's commit time), or a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Version(u64),
    Time(chrono::DateTime<chrono::Utc>),
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AsOf::Version(version) => write!(f, "raw_events version {version}"),
            AsOf::Time(time) => write!(f, "{}", time.to_rfc3339()),
        }
    }
}

/// `--as-of`: a number (a version of `raw_events`) or an RFC 3339 timestamp.
pub fn parse_as_of(text: &str) -> Result<AsOf, String> {
    if let Ok(version) = text.parse::<u64>() {
        return Ok(AsOf::Version(version));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| AsOf::Time(t.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            format!("{text:?} is neither a version of raw_events (a number) nor an RFC 3339 timestamp (2026-11-23T10:00:00Z)")
        })
}

/// One commit of a table, as `stickerlake history` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommitSummary {
    pub version: u64,
    /// Commit time, RFC 3339.
    pub time: Option<String>,
    pub operation: String,
    /// `tailer <id>`, `job <name>`, `compact`, or the engine of another writer.
    pub writer: String,
    pub files_added: u64,
    pub files_removed: u64,
    pub rows_added: Option<u64>,
    pub rows_removed: Option<u64>,
}

/// What one commit entry (JSON lines of actions) says (pure).
pub fn summarize_commit(version: u64, entry: &[u8]) -> CommitSummary {
    let mut summary = CommitSummary {
        version,
        time: None,
        operation: String::new(),
        writer: String::new(),
        files_added: 0,
        files_removed: 0,
        rows_added: Some(0),
        rows_removed: None,
    };
    for line in entry.split(|&b| b == b'\n') {
        let Ok(action) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if let Some(info) = action.get("commitInfo") {
            summary.time = info["timestamp"]
                .as_i64()
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            summary.operation = info["operation"].as_str().unwrap_or_default().to_owned();
            let ours = &info["stickerlake"];
            summary.writer = match ours["writer"].as_str() {
                Some("tailer") => format!("tailer {}", ours["tailerId"].as_str().unwrap_or("?")),
                Some("job") => format!("job {}", ours["job"].as_str().unwrap_or("?")),
                Some(writer) => writer.to_owned(),
                None => info["engineInfo"].as_str().unwrap_or("unknown").to_owned(),
            };
            summary.rows_removed = ours["rowsRemoved"].as_u64();
        } else if let Some(add) = action.get("add") {
            summary.files_added += 1;
            let rows = add["stats"]
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .and_then(|s| s["numRecords"].as_u64());
            summary.rows_added = summary.rows_added.zip(rows).map(|(a, b)| a + b);
        } else if action.get("remove").is_some() {
            summary.files_removed += 1;
        }
    }
    if summary.files_removed == 0 {
        summary.rows_removed = Some(0);
    }
    summary
}

impl Warehouse {
    /// The last `limit` commits of `table`, newest first (those whose entries the log still
    /// keeps: old ones go with log cleanup, after a checkpoint covers them).
    pub async fn history(
        &self,
        table: &str,
        limit: usize,
    ) -> Result<Option<Vec<CommitSummary>>, WarehouseError> {
        let Some(delta) = self.open_delta(table).await? else {
            return Ok(None);
        };
        let latest = delta.version().unwrap_or(0);
        let log_store = delta.log_store();
        let mut commits = Vec::new();
        for version in (0..=latest).rev().take(limit) {
            let entry = log_store
                .read_commit_entry(version)
                .await
                .map_err(|e| delta_error(self, table, e))?;
            match entry {
                Some(entry) => commits.push(summarize_commit(version, &entry)),
                None => break,
            }
        }
        Ok(Some(commits))
    }

    /// Table `table` as of `as_of` (`None`: latest). `None` when it is not a Delta table or
    /// did not exist yet then. A version is a version of this table; resolve other tables'
    /// moments with [`Self::commit_time`] first.
    pub async fn open_delta_as_of(
        &self,
        table: &str,
        as_of: Option<AsOf>,
    ) -> Result<Option<DeltaTable>, WarehouseError> {
        let Some(as_of) = as_of else {
            return self.open_delta(table).await;
        };
        if !self.is_delta_table(table).await? {
            return Ok(None);
        }
        let version = match as_of {
            AsOf::Version(version) => version,
            AsOf::Time(time) => match self.version_at(table, time).await? {
                Some(version) => version,
                None => return Ok(None),
            },
        };
        let mut delta = self.delta_table(table)?;
        let loaded = delta.load_version(version).await;
        loaded.map_err(|e| {
            delta_error(
                self,
                table,
                format!("cannot read it as of {as_of:?}: {e} (the log keeps 30 days of commits, `vacuum` removes files older than its retention)"),
            )
        })?;
        Ok(Some(delta))
    }

    /// The last version of `table` committed at or before `time`, by the commits' own
    /// timestamps (what `history` shows; a commit file's modification time comes a little
    /// later). `None` when the table did not exist yet.
    async fn version_at(
        &self,
        table: &str,
        time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<u64>, WarehouseError> {
        let too_old = || {
            let reason =
                format!("its log no longer has the commits of {time} (the log keeps 30 days)");
            delta_error(self, table, reason)
        };
        let Some(oldest) = self.oldest_version(table).await? else {
            return Ok(None);
        };
        if self.commit_time(table, oldest).await?.ok_or_else(too_old)? > time {
            return match oldest {
                0 => Ok(None),
                _ => Err(too_old()),
            };
        }
        // Versions committed at or before `time` come first: find the last of them.
        let latest = self.latest_from(table, oldest).await?;
        let (mut low, mut high) = (oldest, latest);
        while low < high {
            let middle = low + (high - low).div_ceil(2);
            let at = self.commit_time(table, middle).await?.ok_or_else(too_old)?;
            match at <= time {
                true => low = middle,
                false => high = middle - 1,
            }
        }
        Ok(Some(low))
    }

    /// The latest version of `table`; `None` when its log holds no commit. (Listed from the
    /// oldest commit the log keeps: delta-rs's `get_latest_version` starts at version 0,
    /// which log cleanup removes.)
    pub async fn latest_version(&self, table: &str) -> Result<Option<u64>, WarehouseError> {
        match self.oldest_version(table).await? {
            Some(oldest) => self.latest_from(table, oldest).await.map(Some),
            None => Ok(None),
        }
    }

    /// The latest version of `table`, listing its log from version `oldest` on.
    async fn latest_from(&self, table: &str, oldest: u64) -> Result<u64, WarehouseError> {
        let log_store = self.delta_table(table)?.log_store();
        let latest = log_store.get_latest_version(oldest).await;
        latest.map_err(|e| delta_error(self, table, e))
    }

    /// The oldest version whose commit the log still has: 0, unless log cleanup removed
    /// the first ones.
    async fn oldest_version(&self, table: &str) -> Result<Option<u64>, WarehouseError> {
        if self.commit_time(table, 0).await?.is_some() {
            return Ok(Some(0));
        }
        let log = self.path(&format!("{table}/{}", crate::contract::paths::DELTA_LOG));
        let mut listing = self.raw_store().list(Some(&log));
        let mut oldest = None;
        while let Some(meta) = futures::StreamExt::next(&mut listing).await {
            let meta = meta.map_err(|e| self.read_error(&log, e))?;
            let name = meta.location.filename().unwrap_or_default();
            let version = name
                .strip_suffix(".json")
                .filter(|digits| digits.len() == 20)
                .and_then(|digits| digits.parse::<u64>().ok());
            if let Some(version) = version {
                oldest = Some(oldest.map_or(version, |o: u64| o.min(version)));
            }
        }
        Ok(oldest)
    }

    /// When `version` of `table` was committed; `None` when the log no longer has it.
    pub async fn commit_time(
        &self,
        table: &str,
        version: u64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, WarehouseError> {
        let entry = self
            .delta_table(table)?
            .log_store()
            .read_commit_entry(version)
            .await
            .map_err(|e| delta_error(self, table, e))?;
        Ok(entry.and_then(|entry| {
            let time = summarize_commit(version, &entry).time?;
            chrono::DateTime::parse_from_rfc3339(&time)
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        }))
    }
}
