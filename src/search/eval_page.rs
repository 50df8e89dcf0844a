//! The evaluation page of `eval --html`: the models' metrics side by side, how per-query
//! nDCG is distributed, which terms each model wins or loses, and each model's worst
//! queries with their top results and labels. Pure.

use std::collections::BTreeMap;

use super::gate::Evaluation;
use super::metrics::{Judgement, QueryMetrics, Summary};
use crate::output::html::{self, Cell, HtmlTable, Page, Series};

/// One query's results as scored by `eval`.
pub struct ScoredQuery {
    pub query_id: i64,
    pub query: String,
    /// The normalized term, which the labels are keyed by.
    pub term: String,
    pub positives: usize,
    pub metrics: QueryMetrics,
    /// The top k sticker ids and what users said about each for this term.
    pub top: Vec<(String, Judgement)>,
}

pub struct ModelResults {
    pub name: String,
    pub summary: Summary,
    pub queries: Vec<ScoredQuery>,
}

/// How many worst queries per model, and differing terms, the page lists.
const WORST: usize = 10;
const DIFFERING_TERMS: usize = 50;
/// nDCG histogram bins: [0, 0.2), [0.2, 0.4), … [0.8, 1].
const BINS: usize = 5;

pub fn render(models: &[ModelResults], k: usize, feedback: &str, figures: &Evaluation) -> String {
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    let mut page = Page::new(
        "stickerlake search evaluation",
        &format!(
            "{} at k = {k}, labelled by {feedback}: a selected sticker is relevant to its term, a reported one is a negative.",
            names.join(" vs ")
        ),
    );
    summary_section(&mut page, models, k, figures);
    baseline_section(&mut page, figures);
    distribution_section(&mut page, models);
    wins_section(&mut page, models);
    worst_section(&mut page, models, k);
    page.finish()
}

fn summary_section(page: &mut Page, models: &[ModelResults], k: usize, figures: &Evaluation) {
    page.section(
        "Metrics per model",
        "Averages over the queries where each metric is defined (recall, MRR and nDCG need a relevant sticker).",
    );
    let metrics = [
        format!("recall@{k}"),
        "MRR".to_string(),
        format!("nDCG@{k}"),
        format!("report-rate@{k}"),
    ];
    let series: Vec<Series> = models
        .iter()
        .map(|m| Series {
            name: m.name.clone(),
            values: [
                m.summary.recall,
                m.summary.mrr,
                m.summary.ndcg,
                m.summary.reported,
            ]
            .iter()
            .map(|v| v.is_finite().then_some(*v))
            .collect(),
        })
        .collect();
    let mut table = HtmlTable::new(&[
        "model",
        "queries",
        "labelled",
        &metrics[0],
        &format!("precision@{k}"),
        &metrics[1],
        &metrics[2],
        &metrics[3],
    ]);
    for m in models {
        let s = &m.summary;
        table.row(vec![
            Cell::text(&m.name),
            Cell::Int(s.queries as i64),
            Cell::Int(s.labelled as i64),
            Cell::Ratio(Some(s.recall)),
            Cell::Ratio(Some(s.precision)),
            Cell::Ratio(Some(s.mrr)),
            Cell::Ratio(Some(s.ndcg)),
            Cell::Ratio(Some(s.reported)),
        ]);
    }
    page.chart(
        "metrics",
        "Recall, MRR, nDCG and report rate per model",
        &html::columns_with_intervals(&metrics, &series, &intervals(figures, k), 260.0),
        &table,
    );
}

/// The charted metrics' 95% intervals, per model, in the chart's order.
fn intervals(figures: &Evaluation, k: usize) -> Vec<Vec<Option<(f64, f64)>>> {
    let charted = [
        format!("recall@{k}"),
        "mrr".into(),
        format!("ndcg@{k}"),
        format!("reported@{k}"),
    ];
    figures
        .models
        .iter()
        .map(|model| {
            charted
                .iter()
                .map(|name| model.metrics.get(name).map(|i| (i.ci_low, i.ci_high)))
                .map(|i| i.filter(|(lo, hi)| lo.is_finite() && hi.is_finite()))
                .collect()
        })
        .collect()
}

fn baseline_section(page: &mut Page, figures: &Evaluation) {
    if figures.models.len() < 2 {
        return;
    }
    page.section(
        &format!("Against the baseline, {}", figures.baseline),
        "Mean difference over the queries labelled for both, a paired t-test and a paired randomization test (10,000 sign flips). Significant (*): the randomization p-value, Holm-corrected over the metrics, is below 0.05.",
    );
    let mut table = HtmlTable::new(&[
        "model",
        "metric",
        "delta",
        "p (t-test)",
        "p (randomization)",
        "significant",
    ]);
    for model in &figures.models {
        for (metric, d) in model.vs_baseline.iter().flatten() {
            table.row(vec![
                Cell::text(&model.name),
                Cell::text(metric),
                Cell::text(format!("{:+.4}", d.delta)),
                Cell::text(format!("{:.4}", d.p_t_test)),
                Cell::text(format!("{:.4}", d.p_randomization)),
                Cell::text(if d.significant { "* yes" } else { "no" }),
            ]);
        }
    }
    page.table("vs-baseline", &table);
}

fn distribution_section(page: &mut Page, models: &[ModelResults]) {
    page.section(
        "Distribution of per-query nDCG",
        "Labelled queries per nDCG band: a model can have a good mean and a long tail of failures.",
    );
    let bins: Vec<String> = (0..BINS)
        .map(|b| {
            let (low, high) = (b as f64 / BINS as f64, (b + 1) as f64 / BINS as f64);
            let close = if b + 1 == BINS { ']' } else { ')' };
            format!("[{low:.1}, {high:.1}{close}")
        })
        .collect();
    let counts: Vec<Vec<i64>> = models.iter().map(|m| histogram(&m.queries)).collect();
    let mut head = vec!["nDCG"];
    head.extend(models.iter().map(|m| m.name.as_str()));
    let mut table = HtmlTable::new(&head);
    for (b, bin) in bins.iter().enumerate() {
        let mut row = vec![Cell::text(bin)];
        row.extend(counts.iter().map(|c| Cell::Int(c[b])));
        table.row(row);
    }
    let series: Vec<Series> = models
        .iter()
        .zip(&counts)
        .map(|(m, c)| Series {
            name: m.name.clone(),
            values: c.iter().map(|&n| Some(n as f64)).collect(),
        })
        .collect();
    let svg = if counts.iter().flatten().all(|&n| n == 0) {
        html::empty("no query has a relevant sticker in the feedback")
    } else {
        html::columns(&bins, &series, 220.0)
    };
    page.chart(
        "ndcg_distribution",
        "Labelled queries per nDCG band",
        &svg,
        &table,
    );
}

/// Labelled queries per nDCG bin.
fn histogram(queries: &[ScoredQuery]) -> Vec<i64> {
    let mut counts = vec![0; BINS];
    for ndcg in queries.iter().filter_map(|q| q.metrics.ndcg) {
        let bin = ((ndcg * BINS as f64) as usize).min(BINS - 1);
        counts[bin] += 1;
    }
    counts
}

/// Per model: terms where it alone has the best nDCG, shares the best, or is beaten.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub wins: i64,
    pub ties: i64,
    pub losses: i64,
}

/// Per term labelled for every model, each model's nDCG (the first query of the term).
fn ndcg_by_term(models: &[ModelResults]) -> BTreeMap<String, Vec<f64>> {
    let mut terms: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (i, model) in models.iter().enumerate() {
        for query in &model.queries {
            let row = terms
                .entry(query.term.clone())
                .or_insert_with(|| vec![None; models.len()]);
            if row[i].is_none() {
                row[i] = query.metrics.ndcg;
            }
        }
    }
    terms
        .into_iter()
        .filter_map(|(term, row)| Some((term, row.into_iter().collect::<Option<Vec<f64>>>()?)))
        .collect()
}

pub fn tally(scores: &BTreeMap<String, Vec<f64>>, models: usize) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); models];
    for row in scores.values() {
        let best = row.iter().copied().fold(f64::MIN, f64::max);
        let at_best = row.iter().filter(|&&v| v == best).count();
        for (i, &v) in row.iter().enumerate() {
            match (v == best, at_best) {
                (true, 1) => tallies[i].wins += 1,
                (true, _) => tallies[i].ties += 1,
                (false, _) => tallies[i].losses += 1,
            }
        }
    }
    tallies
}

fn wins_section(page: &mut Page, models: &[ModelResults]) {
    page.section(
        "Terms won and lost",
        "Per term labelled for every model, the model with the highest nDCG wins; equal best scores tie.",
    );
    if models.len() < 2 {
        page.table("wins_note", &{
            let mut t = HtmlTable::new(&["note"]);
            t.row(vec![Cell::text(
                "one model: give eval several --results files to compare them term by term",
            )]);
            t
        });
        return;
    }
    let scores = ndcg_by_term(models);
    let tallies = tally(&scores, models.len());
    let outcomes = ["wins".to_string(), "ties".into(), "losses".into()];
    let series: Vec<Series> = models
        .iter()
        .zip(&tallies)
        .map(|(m, t)| Series {
            name: m.name.clone(),
            values: vec![
                Some(t.wins as f64),
                Some(t.ties as f64),
                Some(t.losses as f64),
            ],
        })
        .collect();
    let mut table = HtmlTable::new(&["model", "wins", "ties", "losses"]);
    for (m, t) in models.iter().zip(&tallies) {
        table.row(vec![
            Cell::text(&m.name),
            Cell::Int(t.wins),
            Cell::Int(t.ties),
            Cell::Int(t.losses),
        ]);
    }
    let svg = if scores.is_empty() {
        html::empty("no term is labelled for every model")
    } else {
        html::columns(&outcomes, &series, 220.0)
    };
    page.chart(
        "wins",
        "Terms each model wins, ties and loses",
        &svg,
        &table,
    );

    let mut differing: Vec<(&String, &Vec<f64>, f64)> = scores
        .iter()
        .map(|(term, row)| {
            let spread = row.iter().copied().fold(f64::MIN, f64::max)
                - row.iter().copied().fold(f64::MAX, f64::min);
            (term, row, spread)
        })
        .filter(|(_, _, spread)| *spread > 0.0)
        .collect();
    differing.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    differing.truncate(DIFFERING_TERMS);
    let mut head = vec!["term".to_string()];
    head.extend(models.iter().map(|m| format!("nDCG {}", m.name)));
    head.push("best".into());
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let mut table = HtmlTable::new(&head);
    for (term, row, _) in differing {
        let best = row.iter().copied().fold(f64::MIN, f64::max);
        let mut cells = vec![Cell::text(term)];
        cells.extend(row.iter().map(|&v| Cell::Ratio(Some(v))));
        let winners: Vec<&str> = models
            .iter()
            .zip(row)
            .filter(|(_, &v)| v == best)
            .map(|(m, _)| m.name.as_str())
            .collect();
        cells.push(Cell::Text(winners.join(", ")));
        table.row(cells);
    }
    page.table("differing_terms", &table);
}

fn worst_section(page: &mut Page, models: &[ModelResults], k: usize) {
    page.section(
        "Worst queries",
        &format!("Per model, the {WORST} labelled queries with the lowest nDCG@{k}, with the top results: ✓ selected by users for the term, ✗ reported."),
    );
    for (i, model) in models.iter().enumerate() {
        let mut worst: Vec<&ScoredQuery> = model
            .queries
            .iter()
            .filter(|q| q.metrics.ndcg.is_some())
            .collect();
        worst.sort_by(|a, b| {
            a.metrics
                .ndcg
                .unwrap_or(0.0)
                .total_cmp(&b.metrics.ndcg.unwrap_or(0.0))
                .then_with(|| a.query_id.cmp(&b.query_id))
        });
        worst.truncate(WORST);
        let mut table = HtmlTable::new(&[
            "model",
            "query_id",
            "query",
            "relevant",
            &format!("nDCG@{k}"),
            &format!("recall@{k}"),
            "MRR",
            "top results",
        ]);
        for q in worst {
            let results: Vec<String> = q
                .top
                .iter()
                .map(|(id, judgement)| format!("{id}{}", judgement.mark()))
                .collect();
            table.row(vec![
                Cell::text(&model.name),
                Cell::Int(q.query_id),
                Cell::text(&q.query),
                Cell::Int(q.positives as i64),
                Cell::Ratio(q.metrics.ndcg),
                Cell::Ratio(q.metrics.recall),
                Cell::Ratio(q.metrics.mrr),
                Cell::Text(results.join(" ")),
            ]);
        }
        page.table(&format!("worst_{i}"), &table);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wins_ties_and_losses_add_up_per_term() {
        let scores: BTreeMap<String, Vec<f64>> = [
            ("cat".to_string(), vec![1.0, 0.5]),
            ("dog".to_string(), vec![0.2, 0.2]),
            ("owl".to_string(), vec![0.0, 0.3]),
        ]
        .into();
        let t = tally(&scores, 2);
        assert_eq!(
            t,
            vec![
                Tally {
                    wins: 1,
                    ties: 1,
                    losses: 1
                },
                Tally {
                    wins: 1,
                    ties: 1,
                    losses: 1
                }
            ]
        );
    }

    #[test]
    fn ndcg_of_one_falls_in_the_last_band() {
        let query = |ndcg| ScoredQuery {
            query_id: 1,
            query: "q".into(),
            term: "q".into(),
            positives: 1,
            metrics: QueryMetrics {
                recall: ndcg,
                precision: 0.0,
                mrr: ndcg,
                ndcg,
                reported: None,
            },
            top: Vec::new(),
        };
        let h = histogram(&[
            query(Some(1.0)),
            query(Some(0.0)),
            query(Some(0.39)),
            query(None),
        ]);
        assert_eq!(h, vec![1, 1, 0, 0, 1]);
    }
}
