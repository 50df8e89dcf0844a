//! The short way from a vector file to its matrix. A `FixedSizeList<Float32, D>` column
//! written PLAIN (no dictionary) is, in each data page, its float values one after the
//! other; the general reader decodes a repetition and a definition level per value and
//! builds list offsets to find what this module only checks: that every row has D values
//! and none is null. Pure: page bytes in, values out.
//!
//! The checks walk the levels' runs (RLE/bit-packed hybrid), so a page costs a few
//! comparisons per run plus one copy of its values. A page that is not so (a null vector
//! or value, a row of another length, another encoding) is an error naming the first row
//! of the page; files whose column metadata says they are not PLAIN floats never come here.

use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::page::Page;

/// What every level of the vector column must be.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Values per row.
    pub dim: usize,
    /// The definition level of a present value (0: the column has no definition levels).
    pub max_def: i16,
    /// 1 for a list column.
    pub max_rep: i16,
}

/// Appends the values of one data page to `out`. `first_value` is the index, in the column
/// chunk, of the page's first value (rows may cross pages). Returns the page's value count,
/// or why it cannot be read this way.
pub fn append_page_values(
    page: &Page,
    shape: Shape,
    first_value: u64,
    out: &mut Vec<f32>,
) -> Result<usize, String> {
    let (buf, count, encoding, levels) = match page {
        Page::DataPage {
            buf,
            num_values,
            encoding,
            def_level_encoding,
            rep_level_encoding,
            ..
        } => {
            for level_encoding in [def_level_encoding, rep_level_encoding] {
                if *level_encoding != Encoding::RLE {
                    return Err(format!("levels encoded {level_encoding}"));
                }
            }
            (
                buf,
                *num_values as usize,
                *encoding,
                LevelLayout::LengthPrefixed,
            )
        }
        Page::DataPageV2 {
            buf,
            num_values,
            encoding,
            def_levels_byte_len,
            rep_levels_byte_len,
            ..
        } => (
            buf,
            *num_values as usize,
            *encoding,
            LevelLayout::Sized {
                rep: *rep_levels_byte_len as usize,
                def: *def_levels_byte_len as usize,
            },
        ),
        Page::DictionaryPage { .. } => return Err("a dictionary page".to_owned()),
    };
    if encoding != Encoding::PLAIN {
        return Err(format!("values encoded {encoding}"));
    }
    let PageParts { rep, def, values } = split_levels(buf, levels, shape)?;
    let dim = shape.dim as u64;
    let rep_ok = |start: usize, len: usize, level: u32| {
        let position = (first_value + start as u64) % dim;
        match level {
            // A row starts at each 0, and only there.
            0 => dim == 1 || (len == 1 && position == 0),
            1 => position != 0 && position + len as u64 <= dim,
            _ => false,
        }
    };
    let max_def = shape.max_def as u32;
    if let Some(rep) = rep {
        levels_hold(rep, bit_width(shape.max_rep), count, rep_ok)?;
    }
    if let Some(def) = def {
        levels_hold(def, bit_width(shape.max_def), count, |_, _, level| {
            level == max_def
        })?;
    }
    if values.len() != count * 4 {
        return Err(format!(
            "{} bytes of values for {count} values (a null among them?)",
            values.len()
        ));
    }
    out.extend(
        values
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
    Ok(count)
}

enum LevelLayout {
    /// Data page v1: each level stream is preceded by its length (4 bytes, little-endian).
    LengthPrefixed,
    /// Data page v2: the header gives the lengths.
    Sized { rep: usize, def: usize },
}

/// A data page's bytes, by part (levels absent where the column has none).
struct PageParts<'a> {
    rep: Option<&'a [u8]>,
    def: Option<&'a [u8]>,
    values: &'a [u8],
}

fn split_levels(buf: &Bytes, layout: LevelLayout, shape: Shape) -> Result<PageParts<'_>, String> {
    let mut rest: &[u8] = buf;
    let mut take = |present: bool, sized: Option<usize>| -> Result<Option<&[u8]>, String> {
        if !present {
            return Ok(None);
        }
        let len = match sized {
            Some(len) => len,
            None => {
                let prefix: [u8; 4] = rest
                    .get(..4)
                    .ok_or("a page ends inside its levels")?
                    .try_into()
                    .expect("4 bytes");
                rest = &rest[4..];
                u32::from_le_bytes(prefix) as usize
            }
        };
        let levels = rest.get(..len).ok_or("a page ends inside its levels")?;
        rest = &rest[len..];
        Ok(Some(levels))
    };
    let (rep_len, def_len) = match layout {
        LevelLayout::LengthPrefixed => (None, None),
        LevelLayout::Sized { rep, def } => (Some(rep), Some(def)),
    };
    let rep = take(shape.max_rep > 0, rep_len)?;
    let def = take(shape.max_def > 0, def_len)?;
    Ok(PageParts {
        rep,
        def,
        values: rest,
    })
}

/// Bits per level for levels up to `max`.
fn bit_width(max: i16) -> u32 {
    16 - (max as u16).leading_zeros()
}

/// Checks the first `count` levels of an RLE/bit-packed hybrid stream: `ok(start, len,
/// level)` says whether levels `start..start + len` may all be `level`.
fn levels_hold(
    mut data: &[u8],
    bit_width: u32,
    count: usize,
    ok: impl Fn(usize, usize, u32) -> bool,
) -> Result<(), String> {
    let mut seen = 0;
    while seen < count {
        let header = read_uleb128(&mut data).ok_or("levels end early")?;
        if header & 1 == 0 {
            // A run of one repeated level.
            let len = ((header >> 1) as usize).min(count - seen);
            let width = bit_width.div_ceil(8) as usize;
            let bytes = data.get(..width).ok_or("levels end early")?;
            let level = bytes
                .iter()
                .rev()
                .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
            data = &data[width..];
            if len == 0 {
                return Err("an empty level run".to_owned());
            }
            if !ok(seen, len, level) {
                return Err(format!("level {level} at value {seen}"));
            }
            seen += len;
        } else {
            // Groups of 8 levels, bit-packed, least significant bit first.
            let groups = (header >> 1) as usize;
            let bytes_len = groups * bit_width as usize;
            let bytes = data.get(..bytes_len).ok_or("levels end early")?;
            data = &data[bytes_len..];
            let values = (groups * 8).min(count - seen);
            for i in 0..values {
                let level = unpack(bytes, i, bit_width);
                if !ok(seen + i, 1, level) {
                    return Err(format!("level {level} at value {}", seen + i));
                }
            }
            seen += values;
        }
    }
    Ok(())
}

fn read_uleb128(data: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *data = &data[i + 1..];
            return Some(value);
        }
    }
    None
}

/// The `i`th `width`-bit value of a bit-packed buffer.
fn unpack(bytes: &[u8], i: usize, width: u32) -> u32 {
    let mut level = 0;
    for bit in 0..width as usize {
        let at = i * width as usize + bit;
        level |= u32::from((bytes[at / 8] >> (at % 8)) & 1) << bit;
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    /// A FixedSizeList<Float32, dim> column written by the parquet crate with small pages
    /// (so rows cross pages), then every page of it read back through this module.
    fn round_trip(
        values: &[Option<f32>],
        dim: usize,
        null_rows: &[usize],
        version: WriterVersion,
        page_rows: usize,
    ) -> Result<Vec<f32>, String> {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let validity = (!null_rows.is_empty()).then(|| {
            (0..values.len() / dim)
                .map(|r| !null_rows.contains(&r))
                .collect::<Vec<_>>()
                .into()
        });
        let list = FixedSizeListArray::new(
            item.clone(),
            dim as i32,
            Arc::new(Float32Array::from(values.to_vec())),
            validity,
        );
        let schema = Arc::new(Schema::new(vec![Field::new(
            "vector",
            DataType::FixedSizeList(item, dim as i32),
            true,
        )]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(list) as ArrayRef]).unwrap();
        let props = WriterProperties::builder()
            .set_dictionary_enabled(false)
            .set_writer_version(version)
            .set_data_page_row_count_limit(page_rows)
            .set_write_batch_size(page_rows)
            .build();
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, schema, Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let column = reader.metadata().file_metadata().schema_descr().column(0);
        let shape = Shape {
            dim,
            max_def: column.max_def_level(),
            max_rep: column.max_rep_level(),
        };
        let mut out = Vec::new();
        let mut first_value = 0;
        for group in 0..reader.num_row_groups() {
            let pages = reader
                .get_row_group(group)
                .unwrap()
                .get_column_page_reader(0)
                .unwrap();
            for page in pages {
                let page = page.unwrap();
                first_value += append_page_values(&page, shape, first_value, &mut out)? as u64;
            }
        }
        Ok(out)
    }

    #[test]
    fn plain_pages_read_back_exactly_in_both_page_versions() {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let dim = [1, 2, 3, 8, 33][rng.random_range(0..5)];
            let rows = rng.random_range(1..400);
            let values: Vec<Option<f32>> = (0..rows * dim)
                .map(|_| Some(rng.random_range(-1.0..1.0)))
                .collect();
            for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
                let page_rows = rng.random_range(1..50);
                let got = round_trip(&values, dim, &[], version, page_rows).unwrap();
                let want: Vec<f32> = values.iter().map(|v| v.unwrap()).collect();
                assert_eq!(got, want, "seed {seed} dim {dim} rows {rows} {version:?}");
            }
        }
    }

    #[test]
    fn nulls_are_refused() {
        let values: Vec<Option<f32>> = (0..40).map(|i| Some(i as f32)).collect();
        let err = round_trip(&values, 4, &[3], WriterVersion::PARQUET_1_0, 100).unwrap_err();
        assert!(err.contains("level"), "{err}");
        let mut with_null_value = values.clone();
        with_null_value[17] = None;
        let err =
            round_trip(&with_null_value, 4, &[], WriterVersion::PARQUET_2_0, 100).unwrap_err();
        assert!(err.contains("level"), "{err}");
    }

    #[test]
    fn runs_are_checked_as_ranges() {
        // Rows of 3: levels 0 1 1 | 0 1 1 as RLE runs (header = len << 1, then the level).
        let rep = [2, 0, 4, 1, 2, 0, 4, 1];
        let dim = 3u64;
        let ok = |start: usize, len: usize, level: u32| {
            let position = start as u64 % dim;
            match level {
                0 => len == 1 && position == 0,
                1 => position != 0 && position + len as u64 <= dim,
                _ => false,
            }
        };
        assert_eq!(levels_hold(&rep, 1, 6, ok), Ok(()));
        // One row of 4 values: the run of ones crosses a row start.
        assert!(levels_hold(&[2, 0, 6, 1], 1, 4, ok).is_err());
        // Bit-packed: one group of 8 levels 0,1,1,0,1,1,0,1 (LSB first) = 0b1011_0110.
        assert_eq!(levels_hold(&[3, 0b1011_0110], 1, 8, ok), Ok(()));
        assert!(levels_hold(&[3, 0b1011_0111], 1, 8, ok).is_err());
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(3), 2);
    }
}
