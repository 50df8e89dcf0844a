//! Days of `raw_events` read for their profiles straight from the files of the table's
//! snapshot: only the five columns a profile counts, the repeated ones (`type`, `source`,
//! `context`, `term`) as dictionaries, as Parquet stores them, and `properties` as views into
//! the decoded pages. Read through a SQL scan, every value was first copied into a new string
//! buffer and each repeated one hashed again; that was a third of what a check cost. The files
//! are read one per core, each decoded and counted on the same thread.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Schema};
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;

use super::profile::{DayProfile, Row, Tally};
use crate::contract::Table;
use crate::engine::WarehouseTables;
use crate::warehouse::Warehouse;

/// The columns a profile counts; the first four repeat from row to row.
const COLUMNS: [&str; 5] = ["type", "source", "context", "term", "properties"];

/// Rows per batch, at most: each batch's counts become a profile merged into the file's, so
/// fewer, larger batches merge less.
const BATCH_ROWS: usize = 65_536;

/// The profile of every day of `days` that has rows.
pub async fn profiles(
    warehouse: &Warehouse,
    tables: &WarehouseTables,
    days: &BTreeSet<NaiveDate>,
) -> anyhow::Result<BTreeMap<NaiveDate, DayProfile>> {
    let partitions = tables.partitions(Table::RawEvents.name());
    let files: Vec<_> = days
        .iter()
        .flat_map(|day| {
            let files = partitions.get(&day.to_string()).into_iter().flatten();
            files.map(move |file| (*day, file.path.clone()))
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut read = futures::stream::iter(files)
        .map(|(day, file)| async move {
            let path = warehouse.path(&file);
            let got = async { warehouse.store().get(&path).await?.bytes().await };
            let bytes = got.await.map_err(|e| warehouse.read_error(&path, e))?;
            let profile = tokio::task::spawn_blocking(move || profile_file(bytes))
                .await?
                .with_context(|| format!("reading raw_events file {file} for its profile"))?;
            anyhow::Ok((day, profile))
        })
        .buffer_unordered(cores);
    let mut profiles: BTreeMap<NaiveDate, DayProfile> = BTreeMap::new();
    while let Some(read) = read.next().await {
        let (day, profile) = read?;
        profiles.entry(day).or_default().merge(profile);
    }
    Ok(profiles)
}

/// The profile of one Parquet file of `raw_events` (pure).
pub fn profile_file(bytes: Bytes) -> anyhow::Result<DayProfile> {
    let stored = ArrowReaderMetadata::load(&bytes, ArrowReaderOptions::new())?;
    let read_as = Schema::new(
        stored
            .schema()
            .fields()
            .iter()
            .map(|field| field.as_ref().clone().with_data_type(read_type(field)))
            .collect::<Vec<Field>>(),
    );
    let options = ArrowReaderOptions::new().with_schema(Arc::new(read_as));
    let metadata = ArrowReaderMetadata::try_new(stored.metadata().clone(), options)?;
    let mask = ProjectionMask::columns(metadata.parquet_schema(), COLUMNS);
    let mut profile = DayProfile::default();
    // A row group at a time: a batch across two would merge their dictionaries value by value.
    for group in 0..metadata.metadata().num_row_groups() {
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(bytes.clone(), metadata.clone())
                .with_projection(mask.clone())
                .with_row_groups(vec![group])
                .with_batch_size(BATCH_ROWS)
                .build()?;
        for batch in reader {
            profile.merge(profile_batch(&batch?)?);
        }
    }
    Ok(profile)
}

/// How a column is read: the repeated text columns as dictionaries, `properties` as views.
fn read_type(field: &Field) -> DataType {
    match (field.name().as_str(), field.data_type()) {
        ("properties", DataType::Utf8) => DataType::Utf8View,
        (name, DataType::Utf8) if COLUMNS[..4].contains(&name) => {
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
        }
        (_, other) => other.clone(),
    }
}

/// One batch's rows, counted.
fn profile_batch(batch: &RecordBatch) -> anyhow::Result<DayProfile> {
    let column = |name: &str| batch.column_by_name(name).map(|c| c.as_ref());
    let repeated = |name: &str| Repeated::of(name, column(name));
    let [kind, source, context, term] = [
        repeated("type")?,
        repeated("source")?,
        repeated("context")?,
        repeated("term")?,
    ];
    let properties = match column("properties") {
        None => None,
        Some(texts) if *texts.data_type() == DataType::Utf8View => Some(texts.as_string_view()),
        Some(other) => anyhow::bail!(
            "column properties is {}, not text as the contract says",
            other.data_type()
        ),
    };
    let mut tally = Tally::default();
    // Rows alike but for their properties are counted by their dictionary keys: no text is
    // hashed per row, only four numbers.
    let alike = [&kind, &source, &context, &term];
    let mut alike_rows: HashMap<[i32; 4], u64, ahash::RandomState> = HashMap::default();
    for row in 0..batch.num_rows() {
        let keys = alike.map(|column| column.key(row));
        let text = properties
            .filter(|texts| !texts.is_null(row))
            .map(|texts| texts.value(row));
        tally.add_properties(kind.value(keys[0]).unwrap_or_default(), text);
        *alike_rows.entry(keys).or_default() += 1;
    }
    for ([k, s, c, t], times) in alike_rows {
        let row = Row {
            kind: kind.value(k).unwrap_or_default(),
            source: source.value(s).unwrap_or_default(),
            properties: None,
            context: context.value(c),
            term: term.value(t),
        };
        tally.add_alike(&row, times);
    }
    Ok(tally.into_profile())
}

/// A column of repeated text, read as a dictionary: each row a key (-1: null).
struct Repeated<'a> {
    /// `None` when the file has no such column (an older schema): null in every row.
    column: Option<(&'a PrimitiveArray<Int32Type>, &'a StringArray)>,
}

impl<'a> Repeated<'a> {
    fn of(name: &str, column: Option<&'a dyn Array>) -> anyhow::Result<Self> {
        let Some(column) = column else {
            return Ok(Repeated { column: None });
        };
        match column.data_type() {
            DataType::Dictionary(key, values)
                if **key == DataType::Int32 && **values == DataType::Utf8 =>
            {
                let dictionary = column.as_dictionary::<Int32Type>();
                let values = dictionary.values().as_string::<i32>();
                Ok(Repeated {
                    column: Some((dictionary.keys(), values)),
                })
            }
            other => anyhow::bail!("column {name} is {other}, not text as the contract says"),
        }
    }

    fn key(&self, row: usize) -> i32 {
        match self.column {
            Some((keys, _)) if !keys.is_null(row) => keys.value(row),
            _ => -1,
        }
    }

    /// The text of `key` (`None` for -1).
    fn value(&self, key: i32) -> Option<&'a str> {
        let (_, values) = self.column?;
        usize::try_from(key).ok().map(|key| values.value(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::encode_parquet;
    use arrow::array::ArrayRef;

    #[test]
    fn a_file_is_counted_as_its_rows_are() {
        let rows = [
            (
                "search",
                "/l/a.jsonl.1",
                Some(r#"{"query":"cat","n":[1]}"#),
                Some(r#"{"os":{"name":"iOS"}}"#),
                Some("cat"),
            ),
            (
                "search",
                "/l/a.jsonl",
                Some(r#"{"query":"c\"at"}"#),
                Some(r#"{"os":{"name":"iOS"}}"#),
                Some("c\"at"),
            ),
            ("report", "/l/b.jsonl", None, None, None),
            (
                "select",
                "/l/b.jsonl",
                Some(r#"{"position":"2"}"#),
                Some(r#"{"app":{"version":"5"}}"#),
                Some("dog"),
            ),
        ];
        let text = |values: Vec<Option<&str>>| Arc::new(StringArray::from(values)) as ArrayRef;
        let columns = |with_term: bool| {
            let mut columns = vec![
                ("type", text(rows.iter().map(|r| Some(r.0)).collect())),
                ("source", text(rows.iter().map(|r| Some(r.1)).collect())),
                ("properties", text(rows.iter().map(|r| r.2).collect())),
                ("context", text(rows.iter().map(|r| r.3).collect())),
                ("message_id", text(rows.iter().map(|_| Some("m")).collect())),
            ];
            if with_term {
                columns.push(("term", text(rows.iter().map(|r| r.4).collect())));
            }
            RecordBatch::try_from_iter(columns).unwrap()
        };
        for with_term in [true, false] {
            let batch = columns(with_term);
            let bytes = encode_parquet(batch.schema(), &[batch]).unwrap();
            let mut expected = DayProfile::default();
            for (kind, source, properties, context, term) in rows {
                expected.add(&Row {
                    kind,
                    source,
                    properties,
                    context,
                    term: term.filter(|_| with_term),
                });
            }
            assert_eq!(profile_file(Bytes::from(bytes)).unwrap(), expected);
        }
    }
}
