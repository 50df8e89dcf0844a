//! The tables of the contract (`docs/contract.md`): their names, schemas and partition
//! columns, and the one rule for what may be a table's name. Every reader and writer takes
//! them from here.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The partition column of `raw_events` and of the daily tables.
pub const EVENT_DATE: &str = "event_date";

/// The daily tables the shipped jobs compute (`sql/<name>.sql`), which the report and
/// `search` read.
pub const SEARCH_TERM_DAILY: &str = "search_term_daily";
pub const REPORTED_STICKER_DAILY: &str = "reported_sticker_daily";

/// The tables the tailer writes (`violations` only with a tracking plan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    RawEvents,
    Quarantine,
    Violations,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::RawEvents, Table::Quarantine, Table::Violations];

    pub fn name(self) -> &'static str {
        match self {
            Table::RawEvents => "raw_events",
            Table::Quarantine => "quarantine",
            Table::Violations => "violations",
        }
    }

    pub fn partition_column(self) -> &'static str {
        match self {
            Table::RawEvents | Table::Violations => EVENT_DATE,
            Table::Quarantine => "ingest_date",
        }
    }

    pub fn schema(self) -> &'static SchemaRef {
        match self {
            Table::RawEvents => &RAW_EVENTS_SCHEMA,
            Table::Quarantine => &QUARANTINE_SCHEMA,
            Table::Violations => &VIOLATIONS_SCHEMA,
        }
    }

    pub fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// A table's name (a warehouse folder, a job's file stem): an ASCII letter, then letters,
/// digits and `_`. Folders starting with `_` or `.` are never tables.
pub fn is_table_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub static RAW_EVENTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("message_id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, true),
        Field::new("term", DataType::Utf8, true),
        Field::new(
            "sticker_ids",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("properties", DataType::Utf8, true),
        Field::new("context", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, true),
        Field::new("source_offset", DataType::Int64, true),
        // The lossless raw zone (added later: older rows hold null).
        Field::new("anonymous_id", DataType::Utf8, true),
        Field::new("envelope", DataType::Utf8, true),
    ]))
});

pub static QUARANTINE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, true),
        Field::new("source_offset", DataType::Int64, true),
        Field::new("line", DataType::Binary, true),
        Field::new("error", DataType::Utf8, true),
    ]))
});

/// The tracking plan's findings (`tailer --plan`, `validate --record`): one row per way an
/// event broke the plan; the event itself is in `raw_events` all the same.
pub static VIOLATIONS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        text("message_id", false),
        text("type", false),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("rule", false),
        text("path", false),
        text("detail", false),
        text("plan_version", false),
        text("source", true),
        Field::new("source_offset", DataType::Int64, true),
    ]))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        assert!(is_table_name("search_term_daily") && is_table_name("t2"));
        assert!(!is_table_name("_state") && !is_table_name("2x") && !is_table_name("a-b"));
        assert!(!is_table_name(""));
        assert_eq!(Table::from_name("quarantine"), Some(Table::Quarantine));
    }
}
