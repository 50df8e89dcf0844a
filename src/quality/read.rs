//! Days of `raw_events` read for their profiles straight from the files of the table's
//! snapshot: only the five columns a profile counts, the repeated ones (`type`, `source`,
//! `context`, `term`) as dictionaries, as Parquet stores them, and `properties` as views into
//! the decoded pages. Read through a SQL scan, every value was first copied into a new string
//! buffer and each repeated one hashed again; that was a third of what a check cost. The files
//! are read one per core, each decoded and counted on the same thread.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{Array, AsArray, RecordBatch, StringArray, StringViewArray};
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
    let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(bytes, metadata)
        .with_projection(mask)
        .build()?;
    let mut profile = DayProfile::default();
    for batch in reader {
        profile.merge(profile_batch(&batch?)?);
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
    let column = |name: &str| Text::of(name, batch.column_by_name(name).map(|c| c.as_ref()));
    let [kind, source, context, term, properties] = COLUMNS.map(column);
    let [kind, source, context, term, properties] = [kind?, source?, context?, term?, properties?];
    let mut tally = Tally::default();
    for row in 0..batch.num_rows() {
        tally.add(&Row {
            kind: kind.get(row).unwrap_or_default(),
            source: source.get(row).unwrap_or_default(),
            properties: properties.get(row),
            context: context.get(row),
            term: term.get(row),
        });
    }
    Ok(tally.into_profile())
}

/// A text column as it was read.
enum Text<'a> {
    Dictionary(&'a arrow::array::PrimitiveArray<Int32Type>, &'a StringArray),
    View(&'a StringViewArray),
    Plain(&'a StringArray),
    /// Not in the file (an older schema): null in every row.
    Absent,
}

impl<'a> Text<'a> {
    fn of(name: &str, column: Option<&'a dyn Array>) -> anyhow::Result<Self> {
        let Some(column) = column else {
            return Ok(Text::Absent);
        };
        Ok(match column.data_type() {
            DataType::Dictionary(key, values)
                if **key == DataType::Int32 && **values == DataType::Utf8 =>
            {
                let dictionary = column.as_dictionary::<Int32Type>();
                Text::Dictionary(dictionary.keys(), dictionary.values().as_string::<i32>())
            }
            DataType::Utf8View => Text::View(column.as_string_view()),
            DataType::Utf8 => Text::Plain(column.as_string::<i32>()),
            other => anyhow::bail!("column {name} is {other}, not text as the contract says"),
        })
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        match self {
            Text::Dictionary(keys, values) => {
                (!keys.is_null(row)).then(|| values.value(keys.value(row) as usize))
            }
            Text::View(texts) => (!texts.is_null(row)).then(|| texts.value(row)),
            Text::Plain(texts) => (!texts.is_null(row)).then(|| texts.value(row)),
            Text::Absent => None,
        }
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
