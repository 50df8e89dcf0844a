//! `stickerlake eval`: search results scored against what users did.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
use chrono::NaiveDate;
use clap::Args;
use datafusion::prelude::{col, lit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::eval_page::{self, ModelResults, ScoredQuery};
use super::gate::{evaluate, failed_gates, parse_gate, Evaluation, GateSpec, ModelQueries};
use super::metrics::{score, summarize, Judgement, Labels, QueryMetrics};
use crate::contract::{normalize_term, EVENT_DATE};
use crate::dates;
use crate::engine::{date_literal, string_column, WarehouseTables};
use crate::exit::Outcome;
use crate::output::html::write_page;
use crate::output::{write_results, Format, SmallTable};
use crate::warehouse::delta::{parse_as_of, AsOf};
use crate::warehouse::Warehouse;

/// Arguments of `stickerlake eval`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  stickerlake eval --results results.parquet -k 10
  stickerlake eval --results minilm.parquet --results clip.parquet --from 2026-11-01 --to 2026-11-23
  stickerlake eval --results results.parquet -o per_query.csv
  stickerlake eval --results minilm.parquet --results clip.parquet --html eval.html
  stickerlake eval --results live.parquet --results candidate.parquet --gate ndcg@10:0.6 --max-regression ndcg@10:0.01
The first --results is the baseline. Every mean has a 95% bootstrap interval (10,000 seeded
resamples); every other model is compared with the baseline by a paired t-test and a paired
randomization test (10,000 seeded sign flips), Holm-corrected over the metrics. A failed
--gate or --max-regression exits 5, naming the model, metric, value, bound and p-value.")]
pub struct EvalArgs {
    /// Results of `search` (repeat to compare models side by side).
    #[arg(long = "results", value_name = "FILE", required = true)]
    pub results: Vec<PathBuf>,
    /// First day of feedback to use (default: all).
    #[arg(long, value_parser = dates::parse_date)]
    pub from: Option<NaiveDate>,
    /// Last day of feedback to use, included (default: all).
    #[arg(long, value_parser = dates::parse_date)]
    pub to: Option<NaiveDate>,
    #[arg(short = 'k', default_value_t = 10)]
    pub k: usize,
    /// Write the per-query table here (CSV, or Parquet for a .parquet name).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write a self-contained HTML page: metrics side by side, per-term wins and
    /// losses, the worst queries with their results and labels.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Label from the warehouse as it was then, so an evaluation can be repeated exactly: a
    /// version of raw_events or an RFC 3339 timestamp (the versions read are printed).
    #[arg(long, value_name = "VERSION|TIMESTAMP", value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
    /// How to print the figures (`json`: the stable form a pipeline reads).
    #[arg(long, value_enum, default_value = "table")]
    pub format: EvalFormat,
    /// Fail (exit 5) a model whose mean of METRIC is below MIN (above it for reported@k),
    /// e.g. `ndcg@10:0.6`. Repeatable.
    #[arg(long = "gate", value_name = "METRIC:MIN", value_parser = parse_gate)]
    pub gates: Vec<GateSpec>,
    /// Fail (exit 5) a model worse than the baseline in METRIC by more than DELTA and
    /// significantly so, e.g. `ndcg@10:0.01`. Repeatable.
    #[arg(long = "max-regression", value_name = "METRIC:DELTA", value_parser = parse_gate)]
    pub max_regressions: Vec<GateSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    Table,
    Json,
}

pub async fn run(args: EvalArgs, warehouse: Warehouse) -> anyhow::Result<Outcome> {
    for gate in args.gates.iter().chain(&args.max_regressions) {
        if gate.metric.contains('@') && !gate.metric.ends_with(&format!("@{}", args.k)) {
            bail!(
                "the gate on {} does not match this run's -k {}: name it {}@{}",
                gate.metric,
                args.k,
                gate.metric.split('@').next().unwrap_or_default(),
                args.k
            );
        }
    }
    // Every results file is checked before the warehouse is read.
    let all_rankings = args
        .results
        .iter()
        .map(|path| read_results(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let labels = load_labels(&warehouse, args.as_of, args.from, args.to).await?;
    let mut models = Vec::new();
    for (path, rankings) in args.results.iter().zip(all_rankings) {
        let empty = Labels::default();
        let queries: Vec<ScoredQuery> = rankings
            .into_iter()
            .map(|(query_id, (query, ranked))| {
                let term = normalize_term(&query).into_owned();
                let term_labels = labels.get(&term).unwrap_or(&empty);
                ScoredQuery {
                    metrics: score(&ranked, term_labels, args.k),
                    top: ranked
                        .iter()
                        .take(args.k)
                        .map(|id| (id.clone(), Judgement::of(id, term_labels)))
                        .collect(),
                    positives: term_labels.positives.len(),
                    query_id,
                    query,
                    term,
                }
            })
            .collect();
        let metrics: Vec<QueryMetrics> = queries.iter().map(|q| q.metrics.clone()).collect();
        models.push(ModelResults {
            name: path
                .file_stem()
                .map_or("results".into(), |s| s.to_string_lossy().into_owned()),
            summary: summarize(&metrics),
            queries,
        });
    }
    let per_model: Vec<ModelQueries> = models
        .iter()
        .map(|m| ModelQueries {
            name: &m.name,
            queries: m.queries.iter().map(|q| (q.query_id, &q.metrics)).collect(),
        })
        .collect();
    let figures = evaluate(&per_model, args.k);
    match args.format {
        EvalFormat::Table => {
            print_summary(&models, args.k)?;
            print_figures(&figures)?;
        }
        EvalFormat::Json => {
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &figures)?;
            std::io::Write::write_all(&mut out, b"\n")?;
        }
    }
    if let Some(path) = &args.html {
        let feedback = match (args.from, args.to) {
            (None, None) => "all feedback in the warehouse".to_string(),
            (from, to) => format!(
                "feedback from {} to {}",
                from.map_or("the first day".into(), |d| d.to_string()),
                to.map_or("the last day".into(), |d| d.to_string())
            ),
        };
        write_page(
            path,
            &eval_page::render(&models, args.k, &feedback, &figures),
        )?;
    }
    if let Some(path) = &args.output {
        let batch = per_query_batch(&models)?;
        let format = if path.extension().is_some_and(|e| e == "parquet") {
            Format::Parquet
        } else {
            Format::Csv
        };
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        write_results(&mut file, format, batch.schema(), &[batch])?;
    }
    let failed = failed_gates(&figures, &args.gates, &args.max_regressions);
    for failure in &failed {
        eprintln!("eval: gate failed: {failure}");
    }
    Ok(match failed.is_empty() {
        true => Outcome::Done,
        false => Outcome::GateFailed,
    })
}

/// Per normalized term: stickers selected (positives) and reported (negatives).
async fn load_labels(
    warehouse: &Warehouse,
    as_of: Option<AsOf>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> anyhow::Result<HashMap<String, Labels>> {
    let tables = WarehouseTables::load_as_of(warehouse, as_of).await?;
    eprintln!(
        "eval: labels from {} ({})",
        as_of.map_or("the latest snapshot".to_owned(), |a| a.to_string()),
        tables.versions()
    );
    let ctx = tables.session()?;
    if !ctx.table_exist("raw_events")? {
        bail!(
            "the warehouse {} has no raw_events: labels come from users' selections and reports",
            warehouse.location()
        );
    }
    let mut filter = col("type")
        .in_list(vec![lit("select"), lit("report")], false)
        .and(col("term").is_not_null());
    if let Some(from) = from {
        filter = filter.and(col(EVENT_DATE).gt_eq(date_literal(from)));
    }
    if let Some(to) = to {
        filter = filter.and(col(EVENT_DATE).lt_eq(date_literal(to)));
    }
    let labelled = ctx
        .table("raw_events")
        .await?
        .filter(filter)?
        .select(vec![
            col("term"),
            col("type"),
            col("sticker_ids").alias("sticker_id"),
        ])?
        .unnest_columns(&["sticker_id"])?
        .distinct()?;
    let mut labels: HashMap<String, Labels> = HashMap::new();
    for batch in labelled.collect().await? {
        let (terms, kinds, ids) = (
            string_column(&batch, 0)?,
            string_column(&batch, 1)?,
            string_column(&batch, 2)?,
        );
        for ((term, kind), id) in terms.into_iter().zip(kinds).zip(ids) {
            let (Some(term), Some(kind), Some(id)) = (term, kind, id) else {
                continue;
            };
            let entry = labels.entry(term).or_default();
            let set = if kind == "select" {
                &mut entry.positives
            } else {
                &mut entry.negatives
            };
            set.insert(id);
        }
    }
    if labels.is_empty() {
        bail!("no select or report events in the warehouse for the chosen days: nothing to evaluate against");
    }
    Ok(labels)
}

/// Each query's (text, stickers by rank), by query id.
fn read_results(path: &Path) -> anyhow::Result<BTreeMap<i64, (String, Vec<String>)>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{} is not Parquet", path.display()))?
        .build()?;
    let mut rows: BTreeMap<i64, (String, Vec<(i32, String)>)> = BTreeMap::new();
    for batch in reader {
        let batch = batch?;
        let column = |name: &str, kind: DataType| {
            batch
                .column_by_name(name)
                .filter(|c| c.data_type() == &kind)
                .with_context(|| format!("{}: needs the results columns query_id Int64, query Utf8, rank Int32, sticker_id Utf8", path.display()))
        };
        let query_id = column("query_id", DataType::Int64)?
            .as_primitive::<Int64Type>()
            .clone();
        let query = column("query", DataType::Utf8)?.as_string::<i32>().clone();
        if let Some(i) = (0..query.len()).find(|&i| query.is_null(i)) {
            bail!(
                "{}: query_id {} has no query text (searched with precomputed vectors): eval labels \
                 queries by their search term, so give the vectors' file a `query` column",
                path.display(),
                query_id.value(i)
            );
        }
        let rank = column("rank", DataType::Int32)?
            .as_primitive::<Int32Type>()
            .clone();
        let sticker = column("sticker_id", DataType::Utf8)?
            .as_string::<i32>()
            .clone();
        for i in 0..batch.num_rows() {
            let entry = rows
                .entry(query_id.value(i))
                .or_insert_with(|| (query.value(i).to_owned(), Vec::new()));
            entry.1.push((rank.value(i), sticker.value(i).to_owned()));
        }
    }
    if rows.is_empty() {
        bail!("{} has no results", path.display());
    }
    Ok(rows
        .into_iter()
        .map(|(id, (query, mut ranked))| {
            ranked.sort();
            (id, (query, ranked.into_iter().map(|(_, s)| s).collect()))
        })
        .collect())
}

/// Each metric's interval, and each model against the baseline (`*`: significant).
fn print_figures(evaluation: &Evaluation) -> anyhow::Result<()> {
    let mut rows: Vec<[String; 9]> = Vec::new();
    let number = |v: f64| format!("{v:.4}");
    for model in &evaluation.models {
        for (metric, figure) in &model.metrics {
            let vs = model.vs_baseline.as_ref().and_then(|vs| vs.get(metric));
            rows.push([
                model.name.clone(),
                metric.clone(),
                number(figure.mean),
                number(figure.ci_low),
                number(figure.ci_high),
                vs.map_or(String::new(), |d| format!("{:+.4}", d.delta)),
                vs.map_or(String::new(), |d| number(d.p_t_test)),
                vs.map_or(String::new(), |d| number(d.p_randomization)),
                vs.map_or(String::new(), |d| {
                    if d.significant {
                        "*".into()
                    } else {
                        String::new()
                    }
                }),
            ]);
        }
    }
    let names = [
        "model",
        "metric",
        "mean",
        "ci_low",
        "ci_high",
        "delta",
        "p_t_test",
        "p_randomization",
        "significant",
    ];
    let table = names
        .iter()
        .enumerate()
        .fold(SmallTable::new(), |table, (c, name)| {
            table.text(name, rows.iter().map(|r| r[c].clone()))
        });
    println!(
        "vs the baseline {}: 95% bootstrap intervals; paired tests over the queries labelled for both; * = significant (randomization p, Holm over the metrics, < 0.05)",
        evaluation.baseline
    );
    table.print_to_stdout()
}

fn print_summary(models: &[ModelResults], k: usize) -> anyhow::Result<()> {
    let round = |v: f64| (v * 10_000.0).round() / 10_000.0;
    let at_k = |name: &str| format!("{name}@{k}");
    let figure = |table: SmallTable, name: &str, f: fn(&super::metrics::Summary) -> f64| {
        table.float(&at_k(name), models.iter().map(|m| round(f(&m.summary))))
    };
    let table = SmallTable::new()
        .text("model", models.iter().map(|m| m.name.clone()))
        .int("queries", models.iter().map(|m| m.summary.queries as i64))
        .int("labelled", models.iter().map(|m| m.summary.labelled as i64));
    let table = figure(table, "recall", |s| s.recall);
    let table = figure(table, "precision", |s| s.precision);
    let table = table.float("mrr", models.iter().map(|m| round(m.summary.mrr)));
    let table = figure(table, "ndcg", |s| s.ndcg);
    figure(table, "reported", |s| s.reported).print_to_stdout()
}

fn per_query_batch(models: &[ModelResults]) -> anyhow::Result<RecordBatch> {
    let rows: Vec<(&str, &ScoredQuery)> = models
        .iter()
        .flat_map(|m| m.queries.iter().map(move |q| (m.name.as_str(), q)))
        .collect();
    let opt = |f: fn(&QueryMetrics) -> Option<f64>| {
        Arc::new(Float64Array::from(
            rows.iter().map(|(_, q)| f(&q.metrics)).collect::<Vec<_>>(),
        ))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("model", DataType::Utf8, false),
        Field::new("query_id", DataType::Int64, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("positives", DataType::Int64, false),
        Field::new("recall", DataType::Float64, true),
        Field::new("precision", DataType::Float64, true),
        Field::new("mrr", DataType::Float64, true),
        Field::new("ndcg", DataType::Float64, true),
        Field::new("reported", DataType::Float64, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(
                rows.iter().map(|(m, _)| *m).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter().map(|(_, q)| q.query_id).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|(_, q)| q.query.as_str())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                rows.iter()
                    .map(|(_, q)| q.positives as i64)
                    .collect::<Vec<_>>(),
            )),
            opt(|m| m.recall),
            opt(|m| Some(m.precision)),
            opt(|m| m.mrr),
            opt(|m| m.ndcg),
            opt(|m| m.reported),
        ],
    )?)
}
