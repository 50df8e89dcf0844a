//! Encoding a whole Parquet file in memory, the one way the warehouse writes Parquet:
//! zstd, the Arrow schema embedded (as `ArrowWriter` does), columns encoded in parallel,
//! and written by a single `put` so readers see all of it or none of it.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_writer::{compute_leaves, ArrowLeafColumn, ArrowRowGroupWriterFactory};
use parquet::arrow::{add_encoded_arrow_schema_to_metadata, ArrowSchemaConverter};
use parquet::basic::{Compression, ZstdLevel};
use parquet::errors::Result;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;

/// Encodes `batches` as one row group (possibly none: an empty file still carries the schema).
pub fn encode_parquet(schema: SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>> {
    encode_row_groups(schema, &[batches.to_vec()])
}

/// Encodes each element of `row_groups` as a row group, in order (empty ones are left out).
/// Every column chunk of every row group is encoded in parallel.
pub fn encode_row_groups(schema: SchemaRef, row_groups: &[Vec<RecordBatch>]) -> Result<Vec<u8>> {
    let mut props = writer_properties()?;
    add_encoded_arrow_schema_to_metadata(&schema, &mut props);
    let props = Arc::new(props);
    let parquet_schema = ArrowSchemaConverter::new()
        .with_coerce_types(props.coerce_types())
        .convert(&schema)?;

    let row_groups: Vec<&Vec<RecordBatch>> = row_groups
        .iter()
        .filter(|batches| batches.iter().any(|b| b.num_rows() > 0))
        .collect();
    let size: usize = row_groups
        .iter()
        .flat_map(|batches| batches.iter())
        .map(RecordBatch::get_array_memory_size)
        .sum();
    let mut out = Vec::with_capacity(size / 4 + 1024);
    let mut writer = SerializedFileWriter::new(&mut out, parquet_schema.root_schema_ptr(), props)?;
    // One writer per leaf column and row group, fed that column of the group's batches.
    let factory = ArrowRowGroupWriterFactory::new(&writer, schema.clone());
    let mut tasks = Vec::new();
    for (index, batches) in row_groups.iter().enumerate() {
        let writers = factory.create_column_writers(index)?;
        let mut inputs: Vec<Vec<ArrowLeafColumn>> =
            (0..writers.len()).map(|_| Vec::new()).collect();
        for batch in batches.iter() {
            let mut leaf = 0;
            for (field, column) in schema.fields().iter().zip(batch.columns()) {
                for leaves in compute_leaves(field, column)? {
                    inputs[leaf].push(leaves);
                    leaf += 1;
                }
            }
        }
        tasks.extend(writers.into_iter().zip(inputs).map(|task| (index, task)));
    }
    let chunks = tasks
        .into_par_iter()
        .map(|(index, (mut writer, leaves))| {
            for leaf in &leaves {
                writer.write(leaf)?;
            }
            Ok((index, writer.close()?))
        })
        .collect::<Result<Vec<_>>>()?;
    // Tasks were made, and are collected, row group by row group.
    let mut chunks = chunks.into_iter().peekable();
    for index in 0..row_groups.len() {
        let mut row_group = writer.next_row_group()?;
        while let Some((_, chunk)) = chunks.next_if(|(i, _)| *i == index) {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
    }
    writer.close()?;
    Ok(out)
}

/// `raw_events` columns whose values are nearly all different: a dictionary would be built
/// and then abandoned for every column chunk, so none is tried.
const DISTINCT_COLUMNS: [&str; 5] = [
    "message_id",
    "event_time",
    "source_offset",
    "properties",
    "envelope",
];

/// `raw_events` columns of JSON text: no query's filter can skip a file by their min and
/// max, and comparing every value to find them took ~4% of ingest (`perf`), so they get
/// no statistics.
const JSON_COLUMNS: [&str; 3] = ["properties", "context", "envelope"];

/// Data pages of at most 256 KiB (the default is 1 MiB): zstd compresses a page that fits
/// in the core's cache ~4% faster (CPU time of a 1M-event ingest), for files ~1% larger.
const DATA_PAGE_BYTES: usize = 256 << 10;

/// How stickerlake writes every Parquet file: zstd level 1, its name as the creator.
pub fn writer_properties() -> Result<WriterProperties> {
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_data_page_size_limit(DATA_PAGE_BYTES)
        .set_created_by(concat!("stickerlake ", env!("CARGO_PKG_VERSION")).into());
    let builder = DISTINCT_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_dictionary_enabled(ColumnPath::from(*column), false)
    });
    let builder = JSON_COLUMNS.iter().fold(builder, |builder, column| {
        builder.set_column_statistics_enabled(ColumnPath::from(*column), EnabledStatistics::None)
    });
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        Array, AsArray, Int64Array, ListBuilder, StringBuilder, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn parallel_encoding_round_trips_with_the_arrow_schema() {
        let mut ids = ListBuilder::new(StringBuilder::new());
        ids.values().append_value("a");
        ids.values().append_value("b");
        ids.append(true);
        ids.append_null();
        let ids = Arc::new(ids.finish());
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("ids", ids.data_type().clone(), true),
        ]));
        let batch = |k: i64| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(vec![k, k + 1])),
                    Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")),
                    ids.clone(),
                ],
            )
            .unwrap()
        };
        let bytes = encode_parquet(schema.clone(), &[batch(0), batch(10)]).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.collect::<std::result::Result<_, _>>().unwrap();
        assert_eq!(
            read[0].schema(),
            schema,
            "the Arrow schema (timezone included) survives"
        );
        let n: Vec<i64> = read
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(n, [0, 1, 10, 11]);
        assert!(read[0].column(2).as_list::<i32>().is_null(1));

        let empty = encode_parquet(schema.clone(), &[]).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(empty)).unwrap();
        assert_eq!(reader.schema(), &schema);
    }
}
