//! `stickerlake embed`: sticker texts into a vector file.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray};
use clap::Args;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::model::Encoder;
use super::vectors::VectorWriter;
use crate::progress;

/// Arguments of `stickerlake embed`.
#[derive(Debug, Args)]
#[command(after_help = "Example:
  stickerlake embed --catalog logs/catalog.jsonl -o stickers.parquet")]
pub struct EmbedArgs {
    /// Sticker texts: JSON lines with `sticker_id`, `caption` and optional `tags`, or Parquet
    /// with `sticker_id` and `caption` (or `text`).
    #[arg(long, value_name = "FILE")]
    pub catalog: PathBuf,
    /// Model folder (model.onnx, tokenizer.json, optional stickerlake-model.json); default:
    /// ~/.local/share/stickerlake/models/all-MiniLM-L6-v2, where `make model` puts it.
    #[arg(long, value_name = "DIR", env = "STICKERLAKE_MODEL")]
    pub model: Option<PathBuf>,
    /// The vector file to write (sticker_id, vector FixedSizeList<Float32, D>).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

pub fn run(args: EmbedArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let stickers = read_catalog(&args.catalog)?;
    if stickers.is_empty() {
        bail!("{} has no stickers", args.catalog.display());
    }
    let mut encoder = Encoder::load(&args.model.clone().unwrap_or_else(super::default_model_dir))?;
    let batch = encoder.config.batch_size.max(1);
    let bar = progress::count_bar(stickers.len() as u64, "embed");
    let mut writer: Option<VectorWriter> = None;
    for chunk in stickers.chunks(batch) {
        let (ids, texts): (Vec<String>, Vec<String>) = chunk.iter().cloned().unzip();
        let vectors = encoder.encode(&texts)?;
        let writer = match &mut writer {
            Some(writer) => writer,
            None => writer.insert(VectorWriter::create(&args.output, vectors.ncols())?),
        };
        writer.write(&ids, vectors.as_slice().expect("standard layout"))?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    writer.expect("at least one batch").finish()?;
    println!(
        "embed: {} stickers into {} in {:.2} s",
        stickers.len(),
        args.output.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// (sticker_id, text) pairs; the text is the caption followed by the tags.
fn read_catalog(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return read_parquet_catalog(path);
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut stickers = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{} line {}", path.display(), n + 1);
        let value: serde_json::Value = serde_json::from_str(&line).with_context(where_)?;
        let id = value["sticker_id"]
            .as_str()
            .with_context(|| format!("{}: `sticker_id` must be a string", where_()))?;
        let caption = value["caption"]
            .as_str()
            .or(value["text"].as_str())
            .with_context(|| format!("{}: `caption` must be a string", where_()))?;
        let tags: Vec<&str> = value["tags"]
            .as_array()
            .map(|t| t.iter().filter_map(|t| t.as_str()).collect())
            .unwrap_or_default();
        let text = if tags.is_empty() {
            caption.to_owned()
        } else {
            format!("{caption} ({})", tags.join(", "))
        };
        stickers.push((id.to_owned(), text));
    }
    Ok(stickers)
}

fn read_parquet_catalog(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut stickers = Vec::new();
    for batch in reader {
        let batch = batch?;
        let column = |names: &[&str]| names.iter().find_map(|n| batch.column_by_name(n).cloned());
        let (Some(ids), Some(texts)) = (column(&["sticker_id"]), column(&["caption", "text"]))
        else {
            bail!(
                "{}: needs string columns `sticker_id` and `caption` (or `text`)",
                path.display()
            );
        };
        let (ids, texts) = (ids.as_string_opt::<i32>(), texts.as_string_opt::<i32>());
        let (Some(ids), Some(texts)) = (ids, texts) else {
            bail!(
                "{}: `sticker_id` and `caption` must be strings",
                path.display()
            );
        };
        for i in 0..ids.len() {
            if ids.is_valid(i) && texts.is_valid(i) {
                stickers.push((ids.value(i).to_owned(), texts.value(i).to_owned()));
            }
        }
    }
    Ok(stickers)
}
