//! Per-file statistics for a Delta `add` action (`numRecords`, `minValues`, `maxValues`,
//! `nullCount`), read from a Parquet footer, so every Delta reader can skip files.
//!
//! Only values the footer states exactly are used, and only for top-level columns whose
//! Delta stats format is unambiguous: strings (up to [`MAX_STRING_STAT_BYTES`]) and integers.
//! Timestamps are left out: Delta writes them at millisecond precision, and a maximum
//! truncated to milliseconds would let a reader skip a file holding a later microsecond.
//! Pure: bytes in, JSON text out.

use bytes::Bytes;
use parquet::basic::{ConvertedType, LogicalType};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parquet::file::statistics::Statistics;
use serde_json::{json, Map, Value};

/// Longer strings get no min/max: they would bloat the log for little skipping.
const MAX_STRING_STAT_BYTES: usize = 64;

/// The footer of a whole Parquet file held in memory.
pub fn footer(bytes: &Bytes) -> parquet::errors::Result<ParquetMetaData> {
    ParquetMetaDataReader::new().parse_and_finish(bytes)
}

/// The `stats` JSON of an `add` action for a file with this footer.
pub fn stats_json(meta: &ParquetMetaData) -> String {
    let (mut mins, mut maxes, mut nulls) = (Map::new(), Map::new(), Map::new());
    let schema = meta.file_metadata().schema_descr();
    for (index, column) in schema.columns().iter().enumerate() {
        if column.path().parts().len() != 1 {
            continue; // nested (lists): no stats
        }
        let name = column.name().to_owned();
        let chunks: Option<Vec<&Statistics>> = meta
            .row_groups()
            .iter()
            .map(|rg| rg.column(index).statistics())
            .collect();
        let Some(chunks) = chunks else { continue };
        if let Some(count) = chunks
            .iter()
            .map(|s| s.null_count_opt())
            .sum::<Option<u64>>()
        {
            nulls.insert(name.clone(), json!(count));
        }
        let is_string = matches!(column.logical_type_ref(), Some(LogicalType::String))
            || column.converted_type() == ConvertedType::UTF8;
        let is_plain_integer = column.logical_type_ref().is_none()
            && matches!(column.converted_type(), ConvertedType::NONE);
        if let Some((min, max)) = min_max(&chunks, is_string, is_plain_integer) {
            mins.insert(name.clone(), min);
            maxes.insert(name, max);
        }
    }
    json!({
        "numRecords": meta.file_metadata().num_rows(),
        "minValues": mins,
        "maxValues": maxes,
        "nullCount": nulls,
    })
    .to_string()
}

/// The smallest and largest value over every row group, when all of them state it exactly.
fn min_max(chunks: &[&Statistics], is_string: bool, is_integer: bool) -> Option<(Value, Value)> {
    let mut range: Option<(Value, Value)> = None;
    for stats in chunks {
        if !(stats.min_is_exact() && stats.max_is_exact()) {
            return None;
        }
        let (min, max) = match stats {
            Statistics::ByteArray(s) if is_string => {
                let text = |b: &parquet::data_type::ByteArray| {
                    b.as_utf8()
                        .ok()
                        .filter(|t| t.len() <= MAX_STRING_STAT_BYTES)
                        .map(|t| Value::from(t.to_owned()))
                };
                (text(s.min_opt()?)?, text(s.max_opt()?)?)
            }
            Statistics::Int64(s) if is_integer => (json!(*s.min_opt()?), json!(*s.max_opt()?)),
            Statistics::Int32(s) if is_integer => (json!(*s.min_opt()?), json!(*s.max_opt()?)),
            _ => return None,
        };
        range = Some(match range {
            None => (min, max),
            Some((lo, hi)) => (smaller(lo, min), larger(hi, max)),
        });
    }
    range
}

fn smaller(a: Value, b: Value) -> Value {
    if less(&b, &a) {
        b
    } else {
        a
    }
}

fn larger(a: Value, b: Value) -> Value {
    if less(&a, &b) {
        b
    } else {
        a
    }
}

/// Strings compare bytewise (as Parquet and Delta order them), numbers numerically.
fn less(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.as_bytes() < b.as_bytes(),
        (Value::Number(a), Value::Number(b)) => a.as_i64() < b.as_i64(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use arrow::record_batch::RecordBatch;

    use super::*;
    use crate::warehouse::encode_row_groups;

    fn file() -> Bytes {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("long", DataType::Utf8, false),
        ]));
        let batch = |ids: Vec<Option<&str>>, ns: Vec<i64>| {
            let rows = ids.len();
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from(ns)),
                    Arc::new(TimestampMicrosecondArray::from(vec![7; rows]).with_timezone("UTC")),
                    Arc::new(StringArray::from(vec!["x".repeat(100); rows])),
                ],
            )
            .unwrap()
        };
        let groups = vec![
            vec![batch(vec![Some("m-5"), None], vec![3, 9])],
            vec![batch(vec![Some("m-1"), Some("m-7")], vec![-2, 4])],
        ];
        Bytes::from(encode_row_groups(schema.clone(), &groups).unwrap())
    }

    #[test]
    fn stats_span_every_row_group() {
        let stats: Value = serde_json::from_str(&stats_json(&footer(&file()).unwrap())).unwrap();
        assert_eq!(stats["numRecords"], 4);
        assert_eq!(stats["minValues"]["id"], "m-1");
        assert_eq!(stats["maxValues"]["id"], "m-7");
        assert_eq!(stats["minValues"]["n"], -2);
        assert_eq!(stats["maxValues"]["n"], 9);
        assert_eq!(stats["nullCount"]["id"], 1);
        assert_eq!(stats["nullCount"]["n"], 0);
    }

    #[test]
    fn timestamps_and_long_strings_get_no_range() {
        let stats: Value = serde_json::from_str(&stats_json(&footer(&file()).unwrap())).unwrap();
        for column in ["at", "long"] {
            assert!(stats["minValues"].get(column).is_none(), "{column}");
            assert!(stats["maxValues"].get(column).is_none(), "{column}");
            assert_eq!(stats["nullCount"][column], 0, "{column}");
        }
    }
}
