//! What a planned query will read, before it runs: per table, the partitions, files, bytes
//! and rows (from the Parquet footers DataFusion reads while planning) of every file scan in
//! the physical plan. Partition filters have already pruned the listing there, so these are
//! the files the query opens.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::common::stats::Precision;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;

use crate::warehouse::Warehouse;

/// What one table's scans will read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableScan {
    pub table: String,
    /// Partition values read (`2026-11-23`), empty for an unpartitioned table.
    pub partitions: BTreeSet<String>,
    pub files: usize,
    pub bytes: u64,
    /// Rows in those files; `None` when a footer's count was not known at planning.
    pub rows: Option<u64>,
}

/// One scanned file, as found in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedFile {
    /// Slash-separated, relative to the warehouse: `raw_events/event_date=…/x.parquet`.
    pub path: String,
    pub bytes: u64,
    pub rows: Option<u64>,
}

/// Every file the plan's scans open (a file split into byte ranges counts once).
pub fn scanned_files(plan: &Arc<dyn ExecutionPlan>, warehouse: &Warehouse) -> Vec<ScannedFile> {
    let mut files = BTreeMap::new();
    visit(plan, &mut |config| {
        for file in config.file_groups.iter().flat_map(|group| group.iter()) {
            let rows = file.statistics.as_ref().and_then(|s| match s.num_rows {
                Precision::Exact(n) => Some(n as u64),
                _ => None,
            });
            files
                .entry(warehouse.relative(&file.object_meta.location))
                .or_insert((file.object_meta.size, rows));
        }
    });
    files
        .into_iter()
        .map(|(path, (bytes, rows))| ScannedFile { path, bytes, rows })
        .collect()
}

fn visit(plan: &Arc<dyn ExecutionPlan>, found: &mut impl FnMut(&FileScanConfig)) {
    if let Some(config) = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|source| source.data_source().downcast_ref::<FileScanConfig>())
    {
        found(config);
    }
    for child in plan.children() {
        visit(child, found);
    }
}

/// Files grouped per table, in table order. Pure.
pub fn by_table(files: &[ScannedFile]) -> Vec<TableScan> {
    let mut tables: BTreeMap<String, TableScan> = BTreeMap::new();
    for file in files {
        let mut parts = file.path.split('/');
        let table = parts.next().unwrap_or_default().to_owned();
        let scan = tables.entry(table.clone()).or_insert_with(|| TableScan {
            table,
            rows: Some(0),
            ..TableScan::default()
        });
        if let Some((_, value)) = parts.next().and_then(|p| p.split_once('=')) {
            scan.partitions.insert(value.to_owned());
        }
        scan.files += 1;
        scan.bytes += file.bytes;
        scan.rows = scan.rows.zip(file.rows).map(|(a, b)| a + b);
    }
    tables.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_add_up_per_table_and_partition() {
        let file = |path: &str, bytes, rows| ScannedFile {
            path: path.into(),
            bytes,
            rows,
        };
        let scans = by_table(&[
            file("raw_events/event_date=2026-11-20/a.parquet", 10, Some(3)),
            file("raw_events/event_date=2026-11-20/b.parquet", 5, Some(2)),
            file("raw_events/event_date=2026-11-21/c.parquet", 1, Some(1)),
            file("lookup/x.parquet", 7, None),
        ]);
        assert_eq!(scans.len(), 2);
        assert_eq!(
            (
                scans[0].table.as_str(),
                scans[0].files,
                scans[0].bytes,
                scans[0].rows
            ),
            ("lookup", 1, 7, None)
        );
        assert!(scans[0].partitions.is_empty());
        let raw = &scans[1];
        assert_eq!((raw.files, raw.bytes, raw.rows), (3, 16, Some(6)));
        assert_eq!(
            raw.partitions.iter().collect::<Vec<_>>(),
            ["2026-11-20", "2026-11-21"]
        );
    }
}
