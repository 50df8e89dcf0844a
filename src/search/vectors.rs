//! Vector files: Parquet with `sticker_id Utf8` and `vector FixedSizeList<Float32, D>` (a
//! `List<Float32>` whose lists all have length D is accepted too). Read as a stream of
//! blocks so memory does not grow with the file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use ndarray::Array2;

use super::pages::{append_page_values, Shape};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, Type as PhysicalType};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::serialized_reader::SerializedPageReader;

/// Rows read per block.
pub const BLOCK_ROWS: usize = 8192;

/// A block of vectors: `ids[i]` is the sticker of row `i` of `vectors`.
pub struct Block {
    pub ids: Vec<String>,
    pub vectors: Array2<f32>,
}

/// Reads a vector file block by block.
pub struct VectorReader {
    path: PathBuf,
    /// The sticker ids, and the vectors too unless `pages` reads them.
    reader: ParquetRecordBatchReader,
    /// The vectors page by page, for PLAIN `FixedSizeList<Float32>` columns.
    pages: Option<PlainPages>,
    pub rows: u64,
    dim: Option<usize>,
    rows_read: u64,
}

/// The vector column's data pages, read in file order and checked by [`super::pages`].
struct PlainPages {
    file: Arc<File>,
    metadata: Arc<ParquetMetaData>,
    column: usize,
    shape: Shape,
    next_row_group: usize,
    chunk: Option<SerializedPageReader<File>>,
    /// Index in the current column chunk of the next page's first value.
    chunk_values: u64,
    /// Values read but not handed out yet.
    values: Vec<f32>,
}

impl PlainPages {
    /// Only for a column that every row group stores PLAIN, without a dictionary.
    fn open(file: &File, metadata: &Arc<ParquetMetaData>, dim: Option<usize>) -> Option<Self> {
        let dim = dim?;
        let schema = metadata.file_metadata().schema_descr();
        let leaves: Vec<usize> = (0..schema.num_columns())
            .filter(|&i| schema.column(i).path().parts()[0] == "vector")
            .collect();
        let [column] = leaves[..] else { return None };
        let descr = schema.column(column);
        let plain = metadata.row_groups().iter().all(|group| {
            let chunk = group.column(column);
            chunk.dictionary_page_offset().is_none()
                && chunk
                    .encodings()
                    .all(|e| matches!(e, Encoding::PLAIN | Encoding::RLE))
        });
        if !plain || descr.physical_type() != PhysicalType::FLOAT || descr.max_rep_level() != 1 {
            return None;
        }
        Some(Self {
            file: Arc::new(file.try_clone().ok()?),
            metadata: metadata.clone(),
            column,
            shape: Shape {
                dim,
                max_def: descr.max_def_level(),
                max_rep: descr.max_rep_level(),
            },
            next_row_group: 0,
            chunk: None,
            chunk_values: 0,
            values: Vec::new(),
        })
    }

    /// The values of the next `rows` rows.
    fn take(&mut self, rows: usize) -> anyhow::Result<Vec<f32>> {
        let wanted = rows * self.shape.dim;
        while self.values.len() < wanted {
            let page = match self.chunk.as_mut().and_then(Iterator::next) {
                Some(page) => page?,
                None => {
                    let Some(group) = self.metadata.row_groups().get(self.next_row_group) else {
                        bail!("the vector column ends before the sticker ids");
                    };
                    self.chunk = Some(SerializedPageReader::new(
                        self.file.clone(),
                        group.column(self.column),
                        group.num_rows() as usize,
                        None,
                    )?);
                    self.next_row_group += 1;
                    self.chunk_values = 0;
                    continue;
                }
            };
            let count = append_page_values(&page, self.shape, self.chunk_values, &mut self.values)
                .map_err(|why| {
                    anyhow::anyhow!(
                        "a vector near row {} is null, has a null value or has other than {} dimensions ({why})",
                        self.chunk_values / self.shape.dim as u64,
                        self.shape.dim
                    )
                })?;
            self.chunk_values += count as u64;
        }
        let rest = self.values.split_off(wanted);
        Ok(std::mem::replace(&mut self.values, rest))
    }
}

impl VectorReader {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path)
            .with_context(|| format!("cannot open the vector file {}", path.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file.try_clone()?)
            .with_context(|| format!("{} is not a Parquet file", path.display()))?;
        let rows = builder.metadata().file_metadata().num_rows() as u64;
        let schema = builder.schema().clone();
        for (name, ok) in [
            ("sticker_id", is_string(&schema, "sticker_id")),
            ("vector", vector_column(&schema).is_some()),
        ] {
            if !ok {
                bail!(
                    "{}: needs columns `sticker_id` (string) and `vector` (FixedSizeList<Float32, D> or List<Float32>); `{name}` is missing or has another type (found: {})",
                    path.display(),
                    describe(&schema)
                );
            }
        }
        let dim = vector_column(&schema).flatten();
        let pages = PlainPages::open(&file, builder.metadata(), dim);
        let columns: &[&str] = match pages {
            Some(_) => &["sticker_id"],
            None => &["sticker_id", "vector"],
        };
        let mask = parquet::arrow::ProjectionMask::columns(
            builder.parquet_schema(),
            columns.iter().copied(),
        );
        let reader = builder
            .with_projection(mask)
            .with_batch_size(BLOCK_ROWS)
            .build()?;
        Ok(Self {
            path: path.to_owned(),
            reader,
            pages,
            rows,
            dim,
            rows_read: 0,
        })
    }

    /// The dimension, once known (from the schema for fixed-size lists, else the first row).
    pub fn dim(&self) -> Option<usize> {
        self.dim
    }

    pub fn next_block(&mut self) -> anyhow::Result<Option<Block>> {
        let Some(batch) = self.reader.next().transpose()? else {
            return Ok(None);
        };
        let first_row = self.rows_read;
        self.rows_read += batch.num_rows() as u64;
        let ids = batch
            .column_by_name("sticker_id")
            .expect("checked")
            .as_string::<i32>();
        if ids.null_count() > 0 {
            bail!(
                "{}: sticker_id is null in a row near row {}",
                self.path.display(),
                first_row
            );
        }
        let context = || {
            format!(
                "{}: rows {}..{}",
                self.path.display(),
                first_row,
                self.rows_read
            )
        };
        let vectors = match &mut self.pages {
            Some(pages) => {
                let values = pages.take(batch.num_rows()).with_context(context)?;
                Array2::from_shape_vec((batch.num_rows(), pages.shape.dim), values)?
            }
            None => {
                let column = batch.column_by_name("vector").expect("checked");
                let (values, lengths) = flat_values(column).with_context(context)?;
                let dim = *self
                    .dim
                    .get_or_insert(lengths.first().copied().unwrap_or(0));
                if let Some(i) = lengths.iter().position(|&l| l != dim) {
                    bail!(
                        "{}: row {} (sticker {}) has {} dimensions, the file's other vectors have {dim}",
                        self.path.display(),
                        first_row + i as u64,
                        ids.value(i),
                        lengths[i]
                    );
                }
                Array2::from_shape_vec((batch.num_rows(), dim), values.to_vec())?
            }
        };
        Ok(Some(Block {
            ids: ids
                .iter()
                .map(|id| id.unwrap_or_default().to_owned())
                .collect(),
            vectors,
        }))
    }
}

/// The reader's blocks, read on a thread of their own at most `depth` ahead: decoding the
/// next block overlaps the matrix products over this one. Stops at the first error (which
/// it yields), or when the receiver is dropped.
pub fn read_ahead(
    mut reader: VectorReader,
    depth: usize,
) -> impl Iterator<Item = anyhow::Result<Block>> {
    let (send, receive) = std::sync::mpsc::sync_channel(depth);
    std::thread::spawn(move || {
        while let Some(next) = reader.next_block().transpose() {
            let failed = next.is_err();
            if send.send(next).is_err() || failed {
                break;
            }
        }
    });
    receive.into_iter()
}

/// The values of a vector column as one slice, and the length of each row's vector.
fn flat_values(column: &ArrayRef) -> anyhow::Result<(&[f32], Vec<usize>)> {
    if column.null_count() > 0 {
        bail!("a vector is null");
    }
    match column.data_type() {
        DataType::FixedSizeList(_, d) => {
            let list = column.as_fixed_size_list();
            let values = list
                .values()
                .as_primitive::<arrow::datatypes::Float32Type>();
            let start = list.offset() * *d as usize;
            let slice = &values.values()[start..start + list.len() * *d as usize];
            Ok((slice, vec![*d as usize; list.len()]))
        }
        DataType::List(_) => {
            let list = column.as_list::<i32>();
            let offsets = list.value_offsets();
            let values = list
                .values()
                .as_primitive::<arrow::datatypes::Float32Type>();
            let slice = &values.values()[offsets[0] as usize..offsets[list.len()] as usize];
            Ok((
                slice,
                offsets.windows(2).map(|w| (w[1] - w[0]) as usize).collect(),
            ))
        }
        other => bail!("vector column has type {other}"),
    }
}

fn is_string(schema: &Schema, name: &str) -> bool {
    schema
        .field_with_name(name)
        .is_ok_and(|f| f.data_type() == &DataType::Utf8)
}

/// `Some(Some(d))` for FixedSizeList<Float32, d>, `Some(None)` for List<Float32>.
fn vector_column(schema: &Schema) -> Option<Option<usize>> {
    match schema.field_with_name("vector").ok()?.data_type() {
        DataType::FixedSizeList(item, d) if item.data_type() == &DataType::Float32 => {
            Some(Some(*d as usize))
        }
        DataType::List(item) if item.data_type() == &DataType::Float32 => Some(None),
        _ => None,
    }
}

fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn vector_schema(dim: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("sticker_id", DataType::Utf8, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
            ),
            false,
        ),
    ]))
}

/// Writes a vector file batch by batch.
pub struct VectorWriter {
    writer: ArrowWriter<File>,
    schema: SchemaRef,
    dim: usize,
}

impl VectorWriter {
    pub fn create(path: &Path, dim: usize) -> anyhow::Result<Self> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let schema = vector_schema(dim);
        // Embeddings do not compress; plain encoding keeps reading them a copy.
        let props = WriterProperties::builder()
            .set_compression(Compression::UNCOMPRESSED)
            .set_dictionary_enabled(false)
            .build();
        Ok(Self {
            writer: ArrowWriter::try_new(file, schema.clone(), Some(props))?,
            schema,
            dim,
        })
    }

    pub fn write(&mut self, ids: &[String], vectors: &[f32]) -> anyhow::Result<()> {
        let values = Float32Array::from(vectors.to_vec());
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let list = FixedSizeListArray::try_new(item, self.dim as i32, Arc::new(values), None)?;
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![Arc::new(StringArray::from_iter_values(ids)), Arc::new(list)],
        )?;
        self.writer.write(&batch)?;
        Ok(())
    }

    pub fn finish(self) -> anyhow::Result<()> {
        self.writer.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_vectors_read_back_in_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.parquet");
        let mut writer = VectorWriter::create(&path, 3).unwrap();
        let ids: Vec<String> = (0..10_000).map(|i| format!("st_{i}")).collect();
        let values: Vec<f32> = (0..30_000).map(|i| i as f32).collect();
        writer.write(&ids, &values).unwrap();
        writer.finish().unwrap();

        let mut reader = VectorReader::open(&path).unwrap();
        assert_eq!((reader.rows, reader.dim()), (10_000, Some(3)));
        let first = reader.next_block().unwrap().unwrap();
        assert_eq!(first.vectors.nrows(), BLOCK_ROWS);
        assert_eq!(first.vectors.row(1).to_vec(), [3.0, 4.0, 5.0]);
        let second = reader.next_block().unwrap().unwrap();
        assert_eq!(second.ids[0], format!("st_{BLOCK_ROWS}"));
        assert!(reader.next_block().unwrap().is_none());

        // Our files take the page path; the general reader gives the same blocks.
        let all = |mut reader: VectorReader| {
            std::iter::from_fn(|| reader.next_block().unwrap())
                .map(|b| (b.ids, b.vectors))
                .collect::<Vec<_>>()
        };
        let fast = VectorReader::open(&path).unwrap();
        assert!(fast.pages.is_some());
        let mut general = VectorReader::open(&path).unwrap();
        general.pages = None;
        general.reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .with_batch_size(BLOCK_ROWS)
            .build()
            .unwrap();
        assert_eq!(all(fast), all(general));
    }

    #[test]
    fn a_file_without_vectors_is_refused_with_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new(
            "sticker_id",
            DataType::Utf8,
            false,
        )]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec!["a"]))])
                .unwrap();
        let mut writer = ArrowWriter::try_new(File::create(&path).unwrap(), schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let err = VectorReader::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("`vector` is missing") && err.contains("found: sticker_id Utf8"),
            "{err}"
        );
    }
}
