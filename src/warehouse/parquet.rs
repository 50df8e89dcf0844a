//! Encoding a whole Parquet file in memory, the one way the warehouse writes Parquet:
//! zstd, and written by a single `put` so readers see all of it or none of it.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Encodes `batches` (possibly none: an empty file still carries the schema).
pub fn encode_parquet(
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> parquet::errors::Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_created_by(concat!("stickerlake ", env!("CARGO_PKG_VERSION")).into())
        .build();
    let size: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let mut bytes = Vec::with_capacity(size / 4 + 1024);
    let mut writer = ArrowWriter::try_new(&mut bytes, schema, Some(props))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(bytes)
}
