//! Row groups by event type. Every `raw_events` file, whether the tailer or `compact` wrote
//! it, holds its rows by type, a row group per type in type order. A job's
//! `WHERE type = 'report'` then skips the other types' row groups by their min/max
//! statistics (DataFusion, DuckDB and Spark all do), instead of decoding every row of the
//! day. Types with few rows share a row group with the types after them.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

/// A type with fewer rows shares its row group with the types after it.
pub const MIN_ROW_GROUP_ROWS: usize = 1024;

/// The column rows are grouped by.
const TYPE_COLUMN: &str = "type";

/// The row groups of one file, from its rows by type (see [`MIN_ROW_GROUP_ROWS`]).
pub fn row_groups_by_kind(by_kind: BTreeMap<String, Vec<RecordBatch>>) -> Vec<Vec<RecordBatch>> {
    let mut row_groups: Vec<Vec<RecordBatch>> = Vec::new();
    for batches in by_kind.into_values() {
        match row_groups.last_mut() {
            Some(last) if rows(last) < MIN_ROW_GROUP_ROWS => last.extend(batches),
            _ => row_groups.push(batches),
        }
    }
    row_groups
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Rows streaming through `compact`, held by type until their row group is full. A table
/// without a `type` column (the quarantine) has one group.
pub struct HeldByKind {
    column: Option<usize>,
    max_rows: usize,
    held: BTreeMap<String, Vec<RecordBatch>>,
    held_rows: usize,
}

impl HeldByKind {
    /// Row groups of `max_rows` at most; memory holds about four of them.
    pub fn new(schema: &Schema, max_rows: usize) -> Self {
        Self {
            column: schema.index_of(TYPE_COLUMN).ok(),
            max_rows,
            held: BTreeMap::new(),
            held_rows: 0,
        }
    }

    /// Takes a batch in; returns the row groups ready to be written.
    pub fn push(&mut self, batch: RecordBatch) -> Result<Vec<Vec<RecordBatch>>, ArrowError> {
        let mut ready = Vec::new();
        for (kind, part) in self.split(batch)? {
            self.held_rows += part.num_rows();
            let batches = self.held.entry(kind.clone()).or_default();
            batches.push(part);
            if rows(batches) >= self.max_rows {
                let full = self.held.remove(&kind).expect("just added");
                self.held_rows -= rows(&full);
                ready.push(full);
            }
        }
        // Many small types: write them out rather than hold them all.
        if self.held_rows > 4 * self.max_rows {
            ready.extend(self.drain());
        }
        Ok(ready)
    }

    /// Everything held, as row groups.
    pub fn drain(&mut self) -> Vec<Vec<RecordBatch>> {
        self.held_rows = 0;
        row_groups_by_kind(std::mem::take(&mut self.held))
    }

    /// `batch` by type (one part when it has one type, as a tailer's row group does).
    fn split(&self, batch: RecordBatch) -> Result<Vec<(String, RecordBatch)>, ArrowError> {
        let Some(column) = self.column.filter(|_| batch.num_rows() > 0) else {
            return Ok(vec![(String::new(), batch)]);
        };
        let kinds = cast(batch.column(column), &DataType::Utf8)?;
        let kinds = kinds.as_string::<i32>();
        let kind_at = |i: usize| kinds.is_valid(i).then(|| kinds.value(i));
        let first = kind_at(0);
        if (1..kinds.len()).all(|i| kind_at(i) == first) {
            return Ok(vec![(first.unwrap_or_default().to_owned(), batch)]);
        }
        let mut distinct: Vec<Option<&str>> = (0..kinds.len()).map(kind_at).collect();
        distinct.sort_unstable();
        distinct.dedup();
        distinct
            .into_iter()
            .map(|kind| {
                let mask = (0..kinds.len()).map(|i| Some(kind_at(i) == kind)).collect();
                let part = filter_record_batch(&batch, &mask)?;
                Ok((kind.unwrap_or_default().to_owned(), part))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::Field;
    use std::sync::Arc;

    fn batch(kinds: &[&str], start: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("type", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
        ]));
        let n = Int64Array::from_iter_values(start..start + kinds.len() as i64);
        RecordBatch::try_new(
            schema,
            vec![Arc::new(StringArray::from(kinds.to_vec())), Arc::new(n)],
        )
        .unwrap()
    }

    fn describe(groups: &[Vec<RecordBatch>]) -> Vec<Vec<(String, i64)>> {
        groups
            .iter()
            .map(|group| {
                group
                    .iter()
                    .flat_map(|b| {
                        let kinds = b.column(0).as_string::<i32>();
                        let n = b.column(1).as_primitive::<arrow::datatypes::Int64Type>();
                        (0..b.num_rows())
                            .map(|i| (kinds.value(i).to_owned(), n.value(i)))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn small_types_share_a_row_group_with_the_types_after_them() {
        let by_kind = BTreeMap::from([
            ("a".to_owned(), vec![batch(&["a"; 10], 0)]),
            ("b".to_owned(), vec![batch(&["b"; 2000], 0)]),
            ("c".to_owned(), vec![batch(&["c"; 1500], 0)]),
            ("d".to_owned(), vec![batch(&["d"; 3], 0)]),
        ]);
        let sizes: Vec<usize> = row_groups_by_kind(by_kind)
            .iter()
            .map(|g| rows(g))
            .collect();
        assert_eq!(sizes, [2010, 1500, 3]);
    }

    #[test]
    fn held_rows_come_out_by_type_in_their_order_and_full_groups_early() {
        let mut held = HeldByKind::new(&batch(&[], 0).schema(), 3);
        let ready = held.push(batch(&["s", "r", "s"], 0)).unwrap();
        assert!(ready.is_empty());
        let ready = held.push(batch(&["s", "r"], 3)).unwrap();
        assert_eq!(
            describe(&ready),
            [vec![("s".into(), 0), ("s".into(), 2), ("s".into(), 3)]]
        );
        let rest = held.drain();
        assert_eq!(describe(&rest), [vec![("r".into(), 1), ("r".into(), 4)]]);
        assert!(held.drain().is_empty());
    }

    #[test]
    fn memory_holds_a_few_row_groups_whatever_the_number_of_types() {
        let mut held = HeldByKind::new(&batch(&[], 0).schema(), 2);
        let kinds: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        let mut written = 0;
        for (i, kind) in kinds.iter().enumerate() {
            let ready = held.push(batch(&[kind.as_str()], i as i64)).unwrap();
            written += ready.iter().map(|g| rows(g)).sum::<usize>();
            assert!(held.held_rows <= 8, "{} held", held.held_rows);
        }
        written += held.drain().iter().map(|g| rows(g)).sum::<usize>();
        assert_eq!(written, 20);
    }
}
