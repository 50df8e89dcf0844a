//! `eval` as a gate for the model pipeline: each metric's mean with its 95% bootstrap
//! interval, each model against the baseline (the first `--results`) with paired tests, and
//! the gates (`--gate METRIC:MIN`, `--max-regression METRIC:DELTA`) a failed one of which
//! exits 5. Pure: per-query metrics in, figures and verdicts out.
//!
//! Decisions: a metric's population is the table's (precision over every query, the others
//! over the queries labelled for it); a comparison pairs the queries (by `query_id`) that
//! both models have a value for; a difference is *significant* when its randomization
//! p-value, Holm-corrected over the five metrics of that model, is below 0.05.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics::QueryMetrics;
use super::stats::{
    bootstrap_interval, holm, mean, paired_t_test, randomization_test, ALPHA, RESAMPLES, SEED,
};

/// A metric of the table: its name without `@k`, whether it is cut at k, whether higher
/// is better, and its value for one query.
pub struct Metric {
    pub base: &'static str,
    pub at_k: bool,
    pub higher_is_better: bool,
    pub value: fn(&QueryMetrics) -> Option<f64>,
}

pub const METRICS: [Metric; 5] = [
    Metric {
        base: "recall",
        at_k: true,
        higher_is_better: true,
        value: |m| m.recall,
    },
    Metric {
        base: "precision",
        at_k: true,
        higher_is_better: true,
        value: |m| Some(m.precision),
    },
    Metric {
        base: "mrr",
        at_k: false,
        higher_is_better: true,
        value: |m| m.mrr,
    },
    Metric {
        base: "ndcg",
        at_k: true,
        higher_is_better: true,
        value: |m| m.ndcg,
    },
    Metric {
        base: "reported",
        at_k: true,
        higher_is_better: false,
        value: |m| m.reported,
    },
];

impl Metric {
    /// As the table prints it, with the run's k: `ndcg@10`, `mrr`.
    pub fn name(&self, k: usize) -> String {
        match self.at_k {
            true => format!("{}@{k}", self.base),
            false => self.base.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Interval {
    pub mean: f64,
    pub ci_low: f64,
    pub ci_high: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// Model minus baseline, over the queries both have a value for.
    pub delta: f64,
    pub p_t_test: f64,
    pub p_randomization: f64,
    pub significant: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelFigures {
    pub name: String,
    pub queries: usize,
    pub labelled: usize,
    pub metrics: BTreeMap<String, Interval>,
    pub vs_baseline: Option<BTreeMap<String, Difference>>,
}

/// The JSON of `eval --format json` (pinned by a test).
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub k: usize,
    pub baseline: String,
    pub models: Vec<ModelFigures>,
}

/// One model's per-query metrics, by query id.
pub struct ModelQueries<'a> {
    pub name: &'a str,
    pub queries: BTreeMap<i64, &'a QueryMetrics>,
}

pub fn evaluate(models: &[ModelQueries], k: usize) -> Evaluation {
    let baseline = &models[0];
    let figures = models
        .iter()
        .enumerate()
        .map(|(index, model)| {
            let metrics = METRICS
                .iter()
                .map(|metric| {
                    let values: Vec<f64> = model
                        .queries
                        .values()
                        .filter_map(|q| (metric.value)(q))
                        .collect();
                    let (ci_low, ci_high) = bootstrap_interval(&values, RESAMPLES, SEED);
                    (
                        metric.name(k),
                        Interval {
                            mean: mean(&values),
                            ci_low,
                            ci_high,
                        },
                    )
                })
                .collect();
            ModelFigures {
                name: model.name.to_owned(),
                queries: model.queries.len(),
                labelled: model
                    .queries
                    .values()
                    .filter(|q| q.recall.is_some())
                    .count(),
                metrics,
                vs_baseline: (index > 0).then(|| compare(baseline, model, k)),
            }
        })
        .collect();
    Evaluation {
        k,
        baseline: baseline.name.to_owned(),
        models: figures,
    }
}

fn compare(
    baseline: &ModelQueries,
    model: &ModelQueries,
    k: usize,
) -> BTreeMap<String, Difference> {
    let mut differences: Vec<(String, f64, f64, f64)> = METRICS
        .iter()
        .map(|metric| {
            let diffs: Vec<f64> = model
                .queries
                .iter()
                .filter_map(|(id, q)| {
                    Some((metric.value)(q)? - (metric.value)(baseline.queries.get(id)?)?)
                })
                .collect();
            let delta = if diffs.is_empty() { 0.0 } else { mean(&diffs) };
            (
                metric.name(k),
                delta,
                paired_t_test(&diffs),
                randomization_test(&diffs, RESAMPLES, SEED),
            )
        })
        .collect();
    let adjusted = holm(&differences.iter().map(|d| d.3).collect::<Vec<_>>());
    differences
        .drain(..)
        .zip(adjusted)
        .map(|((name, delta, p_t_test, p_randomization), adjusted)| {
            let difference = Difference {
                delta,
                p_t_test,
                p_randomization,
                significant: adjusted < ALPHA,
            };
            (name, difference)
        })
        .collect()
}

/// A gate of the command line: `METRIC:VALUE`.
#[derive(Debug, Clone, PartialEq)]
pub struct GateSpec {
    pub metric: String,
    pub bound: f64,
}

/// `ndcg@10:0.6`, `mrr:0.01`: a metric name as the table prints it, a number.
pub fn parse_gate(text: &str) -> Result<GateSpec, String> {
    let (metric, bound) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?}: write METRIC:NUMBER, e.g. ndcg@10:0.6"))?;
    let base = metric.split('@').next().unwrap_or_default();
    if !METRICS
        .iter()
        .any(|m| m.base == base && (m.at_k == metric.contains('@')))
    {
        let names: Vec<String> = METRICS.iter().map(|m| m.name(10)).collect();
        return Err(format!(
            "{metric:?} is not a metric: use one of {} (with the run's k)",
            names.join(", ")
        ));
    }
    let bound: f64 = bound
        .parse()
        .ok()
        .filter(|b: &f64| b.is_finite())
        .ok_or_else(|| format!("{bound:?} is not a number"))?;
    Ok(GateSpec {
        metric: metric.to_owned(),
        bound,
    })
}

/// The gates a run failed, one message each (pure). A `--gate` fails a model whose mean is
/// below its minimum (above it, for `reported@k`, where lower is better); a
/// `--max-regression` fails a model worse than the baseline by more than the delta *and*
/// significantly so.
pub fn failed_gates(
    evaluation: &Evaluation,
    minimums: &[GateSpec],
    regressions: &[GateSpec],
) -> Vec<String> {
    let higher_is_better = |name: &str| {
        let base = name.split('@').next().unwrap_or_default();
        METRICS
            .iter()
            .find(|m| m.base == base)
            .is_none_or(|m| m.higher_is_better)
    };
    let mut failed = Vec::new();
    for model in &evaluation.models {
        for gate in minimums {
            let Some(figure) = model.metrics.get(&gate.metric) else {
                continue;
            };
            let below = match higher_is_better(&gate.metric) {
                true => figure.mean < gate.bound,
                false => figure.mean > gate.bound,
            };
            if below || figure.mean.is_nan() {
                let side = if higher_is_better(&gate.metric) {
                    "below its minimum"
                } else {
                    "above its maximum"
                };
                failed.push(format!(
                    "{}: {} = {:.4} is {side} {} (95% interval {:.4} to {:.4})",
                    model.name, gate.metric, figure.mean, gate.bound, figure.ci_low, figure.ci_high
                ));
            }
        }
        let Some(differences) = &model.vs_baseline else {
            continue;
        };
        for gate in regressions {
            let Some(difference) = differences.get(&gate.metric) else {
                continue;
            };
            let worse_by = match higher_is_better(&gate.metric) {
                true => -difference.delta,
                false => difference.delta,
            };
            if worse_by > gate.bound && difference.significant {
                failed.push(format!(
                    "{}: {} is worse than the baseline {} by {:.4}, more than {} allowed, and significantly (p = {:.4} randomization, {:.4} t-test)",
                    model.name, gate.metric, evaluation.baseline, worse_by, gate.bound, difference.p_randomization, difference.p_t_test
                ));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(ndcg: f64) -> QueryMetrics {
        QueryMetrics {
            recall: Some(ndcg),
            precision: ndcg / 2.0,
            mrr: Some(ndcg),
            ndcg: Some(ndcg),
            reported: Some(0.0),
        }
    }

    fn model<'a>(name: &'a str, values: &'a [QueryMetrics]) -> ModelQueries<'a> {
        ModelQueries {
            name,
            queries: values
                .iter()
                .enumerate()
                .map(|(i, q)| (i as i64, q))
                .collect(),
        }
    }

    #[test]
    fn identical_models_differ_by_nothing() {
        let values: Vec<QueryMetrics> = (0..40).map(|i| query((i % 7) as f64 / 7.0)).collect();
        let evaluation = evaluate(&[model("a", &values), model("b", &values)], 10);
        let vs = evaluation.models[1].vs_baseline.as_ref().unwrap();
        for (name, d) in vs {
            assert_eq!(
                (d.delta, d.p_t_test, d.p_randomization, d.significant),
                (0.0, 1.0, 1.0, false),
                "{name}"
            );
        }
        assert!(evaluation.models[0].vs_baseline.is_none());
    }

    #[test]
    fn gates_fail_below_a_minimum_and_on_a_significant_regression() {
        let good: Vec<QueryMetrics> = (0..60)
            .map(|i| query(0.6 + (i % 5) as f64 / 20.0))
            .collect();
        let bad: Vec<QueryMetrics> = good.iter().map(|q| query(q.ndcg.unwrap() - 0.2)).collect();
        let evaluation = evaluate(&[model("base", &good), model("new", &bad)], 10);
        let minimum = [parse_gate("ndcg@10:0.6").unwrap()];
        let failed = failed_gates(&evaluation, &minimum, &[]);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0].starts_with("new: ndcg@10 = 0.5000 is below its minimum 0.6"),
            "{failed:?}"
        );
        let regression = [parse_gate("ndcg@10:0.05").unwrap()];
        let failed = failed_gates(&evaluation, &[], &regression);
        assert!(
            failed.len() == 1 && failed[0].contains("worse than the baseline base by 0.2000"),
            "{failed:?}"
        );
        // A regression within the allowed delta passes.
        assert!(failed_gates(&evaluation, &[], &[parse_gate("ndcg@10:0.3").unwrap()]).is_empty());
    }

    #[test]
    fn gate_specs_name_what_is_wrong() {
        assert_eq!(
            parse_gate("mrr:0.25").unwrap(),
            GateSpec {
                metric: "mrr".into(),
                bound: 0.25
            }
        );
        assert!(parse_gate("ndcg").unwrap_err().contains("METRIC:NUMBER"));
        assert!(parse_gate("ndgc@10:0.5")
            .unwrap_err()
            .contains("not a metric"));
        assert!(parse_gate("mrr@10:0.5")
            .unwrap_err()
            .contains("not a metric"));
        assert!(parse_gate("ndcg@10:high")
            .unwrap_err()
            .contains("not a number"));
    }
}
