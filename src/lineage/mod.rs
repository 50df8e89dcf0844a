//! Lineage of the daily tables: what each run of a job for a day read (its input files
//! with sizes and entity tags), and whether that input has changed since — a **stale**
//! job-day. Decided from listings, never from clocks: a late event lands as a new file in
//! its day's partition, so the listing differs from the one the last run recorded.
//!
//! Compaction swaps a day's files without changing its rows: a run's recorded listing is
//! replayed through the day's compaction manifests before it is compared, so a compacted
//! day stays fresh (and a day compacted together with new files does not).
//!
//! The latest successful run of each job-day is `<job>/_runs/latest/<day>.json`, replaced
//! by one atomic put after the output is written; the history stays in `<job>/_runs/`.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::EVENT_DATE;
use crate::warehouse::compactions::{replay, Manifest};
use crate::warehouse::{partition_dir, FileInfo, Warehouse};

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

/// One input table of a run: the day's files as listed before the query ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputRecord {
    pub table: String,
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

/// The state of `job` (reading `inputs`) on each of `days`: one listing per input table and
/// one of the job's run records.
pub async fn job_days(
    warehouse: &Warehouse,
    job: &str,
    inputs: &[String],
    days: &[NaiveDate],
) -> anyhow::Result<Vec<JobDay>> {
    let mut partitions = BTreeMap::new();
    for table in inputs {
        partitions.insert(
            table.clone(),
            warehouse.list_partitions(table, EVENT_DATE).await?,
        );
    }
    let mut runs = latest_runs(warehouse, job).await?;
    let mut states = Vec::new();
    for day in days {
        let key = day.to_string();
        let now: BTreeMap<String, Vec<FileInfo>> = partitions
            .iter()
            .map(|(table, parts)| (table.clone(), parts.get(&key).cloned().unwrap_or_default()))
            .collect();
        let last_run = runs.remove(day);
        let none = BTreeMap::new();
        let mut stale = is_stale(last_run.as_ref(), &now, &none);
        if stale && last_run.is_some() {
            // Only a day whose files changed can have been compacted since its run.
            let compacted = compactions(warehouse, inputs, *day).await?;
            stale = is_stale(last_run.as_ref(), &now, &compacted);
        }
        states.push(JobDay {
            job: job.to_owned(),
            day: *day,
            stale,
            input_files: now.values().map(Vec::len).sum(),
            last_run,
        });
    }
    Ok(states)
}

/// The compactions of `day` in each of `tables`.
async fn compactions(
    warehouse: &Warehouse,
    tables: &[String],
    day: NaiveDate,
) -> anyhow::Result<BTreeMap<String, Vec<Manifest>>> {
    let mut compacted = BTreeMap::new();
    for table in tables {
        let partition = format!("{EVENT_DATE}={day}");
        compacted.insert(
            table.clone(),
            warehouse.compactions(table, &partition).await?,
        );
    }
    Ok(compacted)
}

/// The input partitions of `tables` for `day`, as listed now.
pub async fn list_inputs(
    warehouse: &Warehouse,
    tables: &[String],
    day: NaiveDate,
) -> anyhow::Result<BTreeMap<String, Vec<FileInfo>>> {
    let mut listings = BTreeMap::new();
    for table in tables {
        let files = warehouse
            .list_files(&partition_dir(table, EVENT_DATE, day))
            .await?;
        listings.insert(table.clone(), files);
    }
    Ok(listings)
}

/// Whether a job-day must be (re)computed, given its last run and its input now (pure).
/// Never run: stale when there is input. Run: stale when any input table's files differ
/// (added, removed, or rewritten) from what the run read, once the table's `compacted`
/// manifests are replayed over what it read.
pub fn is_stale(
    last: Option<&RunRecord>,
    now: &BTreeMap<String, Vec<FileInfo>>,
    compacted: &BTreeMap<String, Vec<Manifest>>,
) -> bool {
    let Some(run) = last else {
        return now.values().any(|files| !files.is_empty());
    };
    run.inputs.iter().any(|input| match &input.listing {
        None => true,
        Some(read) => now.get(&input.table).is_some_and(|files| {
            let read = match compacted.get(&input.table) {
                Some(manifests) => replay(read, manifests),
                None => read.clone(),
            };
            *files != read
        }),
    })
}

fn latest_path(job: &str, day: NaiveDate) -> String {
    format!("{job}/_runs/latest/{day}.json")
}

/// Records a successful run: its history entry, then the job-day's latest pointer.
pub async fn record_run(warehouse: &Warehouse, record: &RunRecord) -> anyhow::Result<()> {
    let json = Bytes::from(serde_json::to_vec_pretty(record).expect("run records serialize"));
    let history = format!(
        "{}/_runs/{}-{}-{:08x}.json",
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
        .list_objects(&format!("{job}/_runs/latest"))
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

    fn file(path: &str, size: u64) -> FileInfo {
        FileInfo {
            path: path.into(),
            size,
            etag: Some(format!("{path}-{size}")),
        }
    }

    fn run(listing: Option<Vec<FileInfo>>) -> RunRecord {
        RunRecord {
            job: "j".into(),
            day: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            started_at: Utc::now(),
            seconds: 0.0,
            inputs: vec![InputRecord {
                table: "raw_events".into(),
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
    fn staleness_follows_the_files_not_the_clock() {
        let is_stale = |last: Option<&RunRecord>, now: &BTreeMap<String, Vec<FileInfo>>| {
            is_stale(last, now, &BTreeMap::new())
        };
        let now = |files: Vec<FileInfo>| BTreeMap::from([("raw_events".to_string(), files)]);
        let read = vec![file("a", 1), file("b", 2)];
        assert!(!is_stale(
            Some(&run(Some(read.clone()))),
            &now(read.clone())
        ));
        // A late file, a deleted file, a rewritten file.
        let mut late = read.clone();
        late.push(file("c", 3));
        assert!(is_stale(Some(&run(Some(read.clone()))), &now(late)));
        assert!(is_stale(
            Some(&run(Some(read.clone()))),
            &now(vec![file("a", 1)])
        ));
        assert!(is_stale(
            Some(&run(Some(read.clone()))),
            &now(vec![file("a", 1), file("b", 5)])
        ));
        // Never run: stale only when there is something to read. Old records: stale.
        assert!(is_stale(None, &now(read.clone())));
        assert!(!is_stale(None, &now(vec![])));
        assert!(is_stale(Some(&run(None)), &now(read)));
    }
}
