//! Where things live inside a warehouse: Hive-style `column=value` partition folders, the
//! partition column in the path only, and file names unique across hosts and runs.

use chrono::NaiveDate;

pub const PARTITION_DATE_FORMAT: &str = "%Y-%m-%d";

/// `table/column=YYYY-MM-DD`, relative to the warehouse root.
pub fn partition_dir(table: &str, column: &str, date: NaiveDate) -> String {
    format!("{table}/{column}={}", date.format(PARTITION_DATE_FORMAT))
}

/// A data file name that no other writer can choose: the writer's id, its flush sequence
/// number, and random bits (in case a writer's state was lost and its sequence restarts).
pub fn data_file_name(writer_id: &str, seq: u64, nonce: u64) -> String {
    format!("part-{writer_id}-{seq:08}-{nonce:016x}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_paths_are_hive_style() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        assert_eq!(
            partition_dir("raw_events", "event_date", date),
            "raw_events/event_date=2026-11-03"
        );
    }

    #[test]
    fn file_names_sort_by_sequence() {
        assert_eq!(
            data_file_name("web-1", 12, 0xabc),
            "part-web-1-00000012-0000000000000abc.parquet"
        );
        assert!(data_file_name("h", 9, u64::MAX) < data_file_name("h", 10, 0));
    }
}
