//! Lineage of the daily tables: what each run of a job for a day read (its input tables'
//! Delta versions and the day's files in them), and whether that input has changed since — a
//! **stale** job-day. Decided from the Delta log, never from clocks: a late event is
//! committed as a new file in its day's partition.
//!
//! Compaction swaps a day's files without changing its rows (`dataChange = false`), so a
//! compacted day stays fresh (and a day compacted together with new files does not).
//!
//! The latest successful run of each job-day is `<job>/_runs/latest/<day>.json`, replaced
//! by one atomic put after the output is written; the history stays in `<job>/_runs/`.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::paths::RUNS_DIR;
use crate::contract::Table;
use crate::engine::WarehouseTables;
use crate::warehouse::{FileInfo, Warehouse};

/// What one run of a job for a day did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    pub day: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub seconds: f64,
    pub inputs: Vec<InputRecord>,
    pub output: String,
    pub rows_written: usize,
    pub bytes_written: usize,
    pub stickerlake_version: String,
}

/// One input table of a run: the day's files in the snapshot the query read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputRecord {
    pub table: String,
    /// The table's Delta version read (absent in records from before Delta tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    pub files: usize,
    pub rows: i64,
    /// Absent in records written before staleness was tracked: such runs count as stale.
    #[serde(default)]
    pub listing: Option<Vec<FileInfo>>,
}

/// One job-day: its last successful run and whether its input changed since.
#[derive(Debug, Clone)]
pub struct JobDay {
    pub job: String,
    pub day: NaiveDate,
    pub last_run: Option<RunRecord>,
    pub input_files: usize,
    pub stale: bool,
}

/// The state of `job` (reading `inputs`) on each of `days`, against the snapshot in
/// `tables` and the job's run records.
pub async fn job_days(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    job: &str,
    inputs: &[String],
    days: &[NaiveDate],
) -> anyhow::Result<Vec<JobDay>> {
    let partitions: BTreeMap<String, _> = inputs
        .iter()
        .map(|table| (table.clone(), tables.partitions(table)))
        .collect();
    let mut runs = latest_runs(warehouse, job).await?;
    let mut states = Vec::new();
    for day in days {
        let key = day.to_string();
        let now: BTreeMap<String, Vec<FileInfo>> = partitions
            .iter()
            .map(|(table, parts)| (table.clone(), parts.get(&key).cloned().unwrap_or_default()))
            .collect();
        let last_run = runs.remove(day);
        states.push(JobDay {
            job: job.to_owned(),
            day: *day,
            stale: is_stale(last_run.as_ref(), &now),
            input_files: now.values().map(Vec::len).sum(),
            last_run,
        });
    }
    Ok(states)
}

/// The files of `day` in each of `tables`, in the loaded snapshot.
pub fn day_inputs(
    tables: &WarehouseTables,
    inputs: &[String],
    day: NaiveDate,
) -> BTreeMap<String, Vec<FileInfo>> {
    inputs
        .iter()
        .map(|table| {
            let files = tables.partitions(table).remove(&day.to_string());
            (table.clone(), files.unwrap_or_default())
        })
        .collect()
}

/// Whether a job-day must be (re)computed, given its last run and its input now (pure).
/// Never run: stale when there is input. Run: stale when a data-changing commit touched an
/// input since: the day's files differ from those it read, unless the table is a tailer
/// table whose rows did not change (only compaction, `dataChange = false`, swaps a tailer
/// table's files without adding rows).
pub fn is_stale(last: Option<&RunRecord>, now: &BTreeMap<String, Vec<FileInfo>>) -> bool {
    let Some(run) = last else {
        return now.values().any(|files| !files.is_empty());
    };
    run.inputs.iter().any(|input| match &input.listing {
        None => true,
        Some(read) => now
            .get(&input.table)
            .is_some_and(|files| changed(&input.table, read, files)),
    })
}

fn changed(table: &str, read: &[FileInfo], now: &[FileInfo]) -> bool {
    fn paths(files: &[FileInfo]) -> Vec<&str> {
        let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        paths.sort_unstable();
        paths
    }
    if paths(read) == paths(now) {
        return false;
    }
    let rows = |files: &[FileInfo]| files.iter().map(|f| f.rows).sum::<Option<u64>>();
    Table::from_name(table).is_none() || rows(read).is_none() || rows(read) != rows(now)
}

fn latest_path(job: &str, day: NaiveDate) -> String {
    format!("{job}/{RUNS_DIR}/latest/{day}.json")
}

/// Records a successful run: its history entry, then the job-day's latest pointer.
pub async fn record_run(warehouse: &Warehouse, record: &RunRecord) -> anyhow::Result<()> {
    let json = Bytes::from(serde_json::to_vec_pretty(record).expect("run records serialize"));
    let history = format!(
        "{}/{RUNS_DIR}/{}-{}-{:08x}.json",
        record.job,
        record.day,
        record.started_at.format("%Y%m%dT%H%M%S%.6fZ"),
        rand::random::<u32>()
    );
    warehouse
        .put(&warehouse.path(&history), json.clone())
        .await?;
    let latest = latest_path(&record.job, record.day);
    warehouse.put(&warehouse.path(&latest), json).await?;
    Ok(())
}

/// The latest successful run of `job` for each day that has one.
pub async fn latest_runs(
    warehouse: &Warehouse,
    job: &str,
) -> anyhow::Result<BTreeMap<NaiveDate, RunRecord>> {
    let mut runs = BTreeMap::new();
    let listed = warehouse
        .list_objects(&format!("{job}/{RUNS_DIR}/latest"))
        .await?;
    for path in listed {
        let Some((bytes, _)) = warehouse.get_versioned(&warehouse.path(&path)).await? else {
            continue;
        };
        let record: RunRecord = serde_json::from_slice(&bytes)
            .map_err(|e| anyhow::anyhow!("{path} is not a run record: {e}"))?;
        runs.insert(record.day, record);
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, rows: u64) -> FileInfo {
        FileInfo {
            path: path.into(),
            size: rows * 10,
            etag: None,
            rows: Some(rows),
        }
    }

    fn run(table: &str, listing: Option<Vec<FileInfo>>) -> RunRecord {
        RunRecord {
            job: "j".into(),
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            started_at: Utc::now(),
            seconds: 0.0,
            inputs: vec![InputRecord {
                table: table.into(),
                version: Some(3),
                files: listing.as_ref().map_or(0, Vec::len),
                rows: 0,
                listing,
            }],
            output: String::new(),
            rows_written: 0,
            bytes_written: 0,
            stickerlake_version: String::new(),
        }
    }

    #[test]
    fn staleness_follows_the_commits_not_the_clock() {
        let now = |files: Vec<FileInfo>| BTreeMap::from([("raw_events".to_string(), files)]);
        let read = vec![file("a", 1), file("b", 2)];
        let last = run("raw_events", Some(read.clone()));
        assert!(!is_stale(Some(&last), &now(read.clone())));
        // A late file; a file gone with its rows.
        let mut late = read.clone();
        late.push(file("c", 3));
        assert!(is_stale(Some(&last), &now(late)));
        assert!(is_stale(Some(&last), &now(vec![file("a", 1)])));
        // Compacted: other files, the same rows. Compacted together with a late file: not.
        assert!(!is_stale(Some(&last), &now(vec![file("ab", 3)])));
        assert!(is_stale(Some(&last), &now(vec![file("abc", 4)])));
        // Never run: stale only when there is something to read. Old records: stale.
        assert!(is_stale(None, &now(read.clone())));
        assert!(!is_stale(None, &now(vec![])));
        assert!(is_stale(Some(&run("raw_events", None)), &now(read)));
    }

    #[test]
    fn a_job_output_input_with_other_files_is_stale_whatever_its_rows() {
        let now = BTreeMap::from([("search_term_daily".to_string(), vec![file("new", 3)])]);
        let last = run("search_term_daily", Some(vec![file("old", 3)]));
        assert!(is_stale(Some(&last), &now));
    }
}
