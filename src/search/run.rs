//! `stickerlake search`: exact top-k stickers for each query.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{
    Array, AsArray, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use clap::{Args, ValueEnum};
use datafusion::prelude::col;
use ndarray::Array2;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::model::Encoder;
use super::topk::{inverse_norms, normalize_rows, TopK};
use super::vectors::{read_ahead, VectorReader};
use crate::contract::{EVENT_DATE, SEARCH_TERM_DAILY};
use crate::engine::{date_literal, string_column, WarehouseTables};
use crate::output::{write_results, Format};
use crate::warehouse::Warehouse;
use crate::{dates, progress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Cosine similarity: vectors are normalized as they are read.
    Cosine,
    /// Raw inner product.
    Ip,
}

/// Arguments of `stickerlake search`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake search --vectors stickers.parquet --queries queries.txt -k 10 -o results.parquet
  stickerlake search --vectors stickers.parquet --top-terms 100 --date yesterday -o results.parquet")]
pub struct SearchArgs {
    /// The vector file (sticker_id, vector).
    #[arg(long, value_name = "FILE")]
    pub vectors: PathBuf,
    /// Queries: a text file (one per line), or Parquet with a `query` column (texts) and/or a
    /// `vector` column (precomputed: the encoder is not loaded; `query` is then null in the
    /// results unless given), and optionally `query_id` (else the row number).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "top_terms",
        conflicts_with = "top_terms"
    )]
    pub queries: Option<PathBuf>,
    /// Use the day's N most searched terms from search_term_daily as the queries.
    #[arg(long, value_name = "N")]
    pub top_terms: Option<usize>,
    /// The day for --top-terms (default: yesterday).
    #[arg(long, value_parser = dates::parse_date, requires = "top_terms")]
    pub date: Option<NaiveDate>,
    #[arg(short = 'k', default_value_t = 10)]
    pub k: usize,
    #[arg(long, value_enum, default_value_t = Metric::Cosine)]
    pub metric: Metric,
    /// Model folder for query texts; default: ~/.local/share/stickerlake/models/all-MiniLM-L6-v2.
    #[arg(long, value_name = "DIR", env = "STICKERLAKE_MODEL")]
    pub model: Option<PathBuf>,
    /// Write results as Parquet (query_id, query, rank, sticker_id, score); default: a table.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The queries of a search: ids, texts (absent for precomputed vectors without text) and,
/// when precomputed, their vectors.
struct Queries {
    ids: Vec<i64>,
    texts: Vec<Option<String>>,
    vectors: Option<Array2<f32>>,
}

impl Queries {
    fn from_texts(texts: Vec<String>) -> Self {
        Self {
            ids: (0..texts.len() as i64).collect(),
            texts: texts.into_iter().map(Some).collect(),
            vectors: None,
        }
    }

    /// How query `i` is named in messages.
    fn describe(&self, i: usize) -> String {
        match &self.texts[i] {
            Some(text) => format!("query {text:?}"),
            None => format!("query_id {}", self.ids[i]),
        }
    }
}

pub async fn run(args: SearchArgs, warehouse: Warehouse) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut queries = match (&args.queries, args.top_terms) {
        (Some(path), _) => read_queries(path)?,
        (None, Some(n)) => Queries::from_texts(top_terms(&warehouse, n, args.date).await?),
        (None, None) => bail!("give --queries FILE or --top-terms N"),
    };
    if queries.ids.is_empty() {
        bail!("there are no queries");
    }
    // Precomputed vectors need no encoder: the model is not even loaded.
    let mut vectors = match queries.vectors.take() {
        Some(vectors) => vectors,
        None => {
            let texts: Vec<String> = queries.texts.iter().flatten().cloned().collect();
            encode(
                &args.model.clone().unwrap_or_else(super::default_model_dir),
                &texts,
            )?
        }
    };
    if args.metric == Metric::Cosine {
        if let Some(&i) = normalize_rows(&mut vectors).first() {
            bail!("{} has a zero or NaN vector", queries.describe(i));
        }
    }
    let (ids, lists) =
        tokio::task::block_in_place(|| top_k(&args.vectors, vectors, args.k, args.metric))?;

    let batch = results_batch(&queries, &ids, &lists)?;
    match &args.output {
        Some(path) => {
            let bytes =
                crate::warehouse::encode_parquet(batch.schema(), std::slice::from_ref(&batch))?;
            std::fs::write(path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "search: {} queries × {} stickers, top {} by {:?}, into {} in {:.2} s",
                queries.ids.len(),
                ids.len(),
                args.k,
                args.metric,
                path.display(),
                started.elapsed().as_secs_f64()
            );
        }
        None => write_results(
            &mut std::io::stdout().lock(),
            Format::Table,
            batch.schema(),
            &[batch],
        )?,
    }
    Ok(())
}

fn encode(model: &Path, texts: &[String]) -> anyhow::Result<Array2<f32>> {
    let mut encoder = Encoder::load(model)?;
    let batch = encoder.config.batch_size.max(1);
    let mut rows = Vec::new();
    let mut dim = 0;
    for chunk in texts.chunks(batch) {
        let vectors = encoder.encode(chunk)?;
        dim = vectors.ncols();
        rows.extend(vectors);
    }
    Ok(Array2::from_shape_vec((texts.len(), dim), rows)?)
}

/// Streams the vector file through the running top-k. Returns every sticker id (by row)
/// and each query's hits.
fn top_k(
    path: &Path,
    queries: Array2<f32>,
    k: usize,
    metric: Metric,
) -> anyhow::Result<(Vec<String>, Vec<Vec<super::topk::Hit>>)> {
    let reader = VectorReader::open(path)?;
    if reader.rows == 0 {
        bail!("{} has no vectors", path.display());
    }
    let dim = queries.ncols();
    let mut topk = TopK::new(queries, k);
    let mut ids: Vec<String> = Vec::with_capacity(reader.rows as usize);
    let bar = progress::count_bar(reader.rows, "search");
    for block in read_ahead(reader, 2) {
        let block = block?;
        if block.vectors.ncols() != dim {
            bail!(
                "the queries have {dim} dimensions but the vectors in {} have {}: embed the stickers and the queries with the same model",
                path.display(),
                block.vectors.ncols()
            );
        }
        let first_row = ids.len();
        let scale = match metric {
            Metric::Cosine => Some(inverse_norms(block.vectors.view())),
            Metric::Ip => None,
        };
        let scale = match scale {
            Some(Err(i)) => bail!("sticker {} (row {}) has a zero or NaN vector: it has no direction for cosine similarity", block.ids[i], first_row + i),
            Some(Ok(scale)) => Some(scale),
            None => {
                if let Some(i) = block.vectors.rows().into_iter().position(|r| r.iter().any(|x| !x.is_finite())) {
                    bail!("sticker {} (row {}) has a NaN or infinite value", block.ids[i], first_row + i);
                }
                None
            }
        };
        ids.extend(block.ids);
        topk.add_block(
            block.vectors.view(),
            first_row as u32,
            scale.as_deref(),
            &ids,
        );
        bar.inc(block.vectors.nrows() as u64);
    }
    bar.finish_and_clear();
    Ok((ids, topk.into_lists()))
}

/// Queries from a text file (one per line) or a Parquet file.
fn read_queries(path: &Path) -> anyhow::Result<Queries> {
    if path.extension().is_some_and(|e| e == "parquet") {
        return read_parquet_queries(path);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Queries::from_texts(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// A Parquet file of queries: `query` (texts to embed) and/or `vector` (precomputed, then
/// used as they are), and optionally `query_id` (else the row number).
fn read_parquet_queries(path: &Path) -> anyhow::Result<Queries> {
    let shown = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{shown} is not Parquet"))?
        .build()?;
    let mut queries = Queries::from_texts(Vec::new());
    let (mut values, mut dim) = (Vec::new(), None);
    for batch in reader {
        let batch = batch?;
        let first = queries.ids.len();
        let rows = batch.num_rows();
        let cast = |name: &str, kind: &DataType| -> anyhow::Result<Option<Arc<dyn Array>>> {
            batch
                .column_by_name(name)
                .map(|c| arrow::compute::cast(c, kind))
                .transpose()
                .with_context(|| format!("{shown}: column `{name}` must be {kind}"))
        };
        let (query, vector) = (
            cast("query", &DataType::Utf8)?,
            batch.column_by_name("vector"),
        );
        if query.is_none() && vector.is_none() {
            bail!("{shown}: needs a string column `query` (texts to embed) or a `vector` column (precomputed query vectors)");
        }
        match cast("query_id", &DataType::Int64)? {
            Some(ids) => {
                let ids = ids.as_primitive::<arrow::datatypes::Int64Type>();
                if ids.null_count() > 0 {
                    bail!("{shown}: `query_id` has nulls");
                }
                queries.ids.extend(ids.values().iter());
            }
            None => queries.ids.extend(first as i64..(first + rows) as i64),
        }
        match &query {
            Some(query) => {
                let query = query.as_string::<i32>();
                queries.texts.extend(
                    (0..rows).map(|i| query.is_valid(i).then(|| query.value(i).to_owned())),
                );
            }
            None => queries.texts.extend(std::iter::repeat_n(None, rows)),
        }
        let Some(vector) = vector else {
            if let Some(i) = queries.texts[first..].iter().position(Option::is_none) {
                bail!(
                    "{shown}: row {} has no query text and the file has no `vector` column",
                    first + i
                );
            }
            continue;
        };
        let list = arrow::compute::cast(
            vector,
            &DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
        )
        .with_context(|| format!("{shown}: `vector` must be a list of floats"))?;
        let list = list.as_list::<i32>();
        for i in 0..list.len() {
            if list.is_null(i) {
                bail!("{shown}: row {} has no vector", first + i);
            }
            let row = list.value(i);
            let row = row.as_primitive::<arrow::datatypes::Float32Type>();
            if *dim.get_or_insert(row.len()) != row.len() {
                bail!(
                    "{shown}: row {} has {} dimensions, the others {}",
                    first + i,
                    row.len(),
                    dim.unwrap_or(0)
                );
            }
            values.extend_from_slice(row.values());
        }
    }
    if let Some(d) = dim {
        queries.vectors = Some(Array2::from_shape_vec((queries.ids.len(), d), values)?);
    }
    Ok(queries)
}

async fn top_terms(
    warehouse: &Warehouse,
    n: usize,
    date: Option<NaiveDate>,
) -> anyhow::Result<Vec<String>> {
    let day = date.unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(1));
    let ctx = WarehouseTables::load(warehouse).await?.session()?;
    if !ctx.table_exist(SEARCH_TERM_DAILY)? {
        bail!("the warehouse has no search_term_daily table: run `stickerlake run search_term_daily --date {day}` first");
    }
    let batches = ctx
        .table(SEARCH_TERM_DAILY)
        .await?
        .filter(col(EVENT_DATE).eq(date_literal(day)))?
        .sort(vec![
            col("searches").sort(false, true),
            col("term").sort(true, true),
        ])?
        .limit(0, Some(n))?
        .select(vec![col("term")])?
        .collect()
        .await?;
    let mut terms = Vec::new();
    for batch in &batches {
        terms.extend(string_column(batch, 0)?.into_iter().flatten());
    }
    if terms.is_empty() {
        bail!("search_term_daily has no terms for {day}");
    }
    Ok(terms)
}

pub fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("query_id", DataType::Int64, false),
        // Null for precomputed query vectors given without text.
        Field::new("query", DataType::Utf8, true),
        Field::new("rank", DataType::Int32, false),
        Field::new("sticker_id", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ]))
}

fn results_batch(
    queries: &Queries,
    ids: &[String],
    lists: &[Vec<super::topk::Hit>],
) -> anyhow::Result<RecordBatch> {
    let rows = lists
        .iter()
        .enumerate()
        .flat_map(|(q, hits)| hits.iter().enumerate().map(move |(r, hit)| (q, r, hit)));
    let (mut query_id, mut query, mut rank, mut sticker, mut score) =
        (vec![], vec![], vec![], vec![], vec![]);
    for (q, r, hit) in rows {
        query_id.push(queries.ids[q]);
        query.push(queries.texts[q].as_deref());
        rank.push(r as i32 + 1);
        sticker.push(ids[hit.row as usize].as_str());
        score.push(hit.score);
    }
    Ok(RecordBatch::try_new(
        results_schema(),
        vec![
            Arc::new(Int64Array::from(query_id)),
            Arc::new(StringArray::from(query)),
            Arc::new(Int32Array::from(rank)),
            Arc::new(StringArray::from(sticker)),
            Arc::new(Float32Array::from(score)),
        ],
    )?)
}
