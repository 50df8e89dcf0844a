//! Ranking metrics for one query, from its ranked sticker ids and its labels. Pure.
//!
//! Binary relevance: a sticker users selected after searching the term is relevant, one
//! they reported is a negative. Metrics that need a relevant sticker (recall, MRR, nDCG) are
//! `None` for a query without one, and averages skip them.

use std::collections::HashSet;

#[derive(Debug, Default, Clone)]
pub struct Labels {
    pub positives: HashSet<String>,
    pub negatives: HashSet<String>,
}

/// What users said about one returned sticker for a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Relevant,
    Reported,
    Unlabelled,
}

impl Judgement {
    pub fn of(sticker_id: &str, labels: &Labels) -> Self {
        if labels.positives.contains(sticker_id) {
            Judgement::Relevant
        } else if labels.negatives.contains(sticker_id) {
            Judgement::Reported
        } else {
            Judgement::Unlabelled
        }
    }

    /// The mark shown after a sticker id.
    pub fn mark(self) -> &'static str {
        match self {
            Judgement::Relevant => " ✓",
            Judgement::Reported => " ✗",
            Judgement::Unlabelled => "",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryMetrics {
    pub recall: Option<f64>,
    pub precision: f64,
    pub mrr: Option<f64>,
    pub ndcg: Option<f64>,
    /// Share of the returned stickers that users reported for this term.
    pub reported: Option<f64>,
}

pub fn score(ranked: &[String], labels: &Labels, k: usize) -> QueryMetrics {
    let returned = &ranked[..ranked.len().min(k)];
    let relevant: Vec<bool> = returned
        .iter()
        .map(|id| labels.positives.contains(id))
        .collect();
    let hits = relevant.iter().filter(|&&r| r).count();
    let has_positives = !labels.positives.is_empty();
    let dcg: f64 = relevant
        .iter()
        .enumerate()
        .filter(|(_, &r)| r)
        .map(|(i, _)| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let ideal: f64 = (0..labels.positives.len().min(k))
        .map(|i| 1.0 / (i as f64 + 2.0).log2())
        .sum();
    let reported = returned
        .iter()
        .filter(|id| labels.negatives.contains(*id))
        .count();
    QueryMetrics {
        recall: has_positives.then(|| hits as f64 / labels.positives.len() as f64),
        precision: if k == 0 { 0.0 } else { hits as f64 / k as f64 },
        mrr: has_positives.then(|| {
            relevant
                .iter()
                .position(|&r| r)
                .map_or(0.0, |i| 1.0 / (i as f64 + 1.0))
        }),
        ndcg: has_positives.then(|| dcg / ideal),
        reported: (!returned.is_empty()).then(|| reported as f64 / returned.len() as f64),
    }
}

/// Averages over the queries where each metric is defined.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub queries: usize,
    pub labelled: usize,
    pub recall: f64,
    pub precision: f64,
    pub mrr: f64,
    pub ndcg: f64,
    pub reported: f64,
}

pub fn summarize(all: &[QueryMetrics]) -> Summary {
    fn mean(values: impl Iterator<Item = f64>) -> f64 {
        let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
        if n == 0 {
            f64::NAN
        } else {
            sum / n as f64
        }
    }
    Summary {
        queries: all.len(),
        labelled: all.iter().filter(|m| m.recall.is_some()).count(),
        recall: mean(all.iter().filter_map(|m| m.recall)),
        precision: mean(all.iter().map(|m| m.precision)),
        mrr: mean(all.iter().filter_map(|m| m.mrr)),
        ndcg: mean(all.iter().filter_map(|m| m.ndcg)),
        reported: mean(all.iter().filter_map(|m| m.reported)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pos: &[&str], neg: &[&str]) -> Labels {
        Labels {
            positives: pos.iter().map(|s| s.to_string()).collect(),
            negatives: neg.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hand_computed_example() {
        // Ranked a b c d; relevant b and d (and e, never returned); c was reported. k = 3.
        let m = score(
            &ids(&["a", "b", "c", "d"]),
            &labels(&["b", "d", "e"], &["c"]),
            3,
        );
        assert_eq!(m.recall, Some(1.0 / 3.0)); // b of {b, d, e}
        assert_eq!(m.precision, 1.0 / 3.0); // b of a b c
        assert_eq!(m.mrr, Some(0.5)); // first relevant at rank 2
                                      // DCG = 1/log2(3); IDCG = 1/log2(2) + 1/log2(3) + 1/log2(4).
        let expected = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2() + 0.5);
        assert!((m.ndcg.unwrap() - expected).abs() < 1e-12);
        assert_eq!(m.reported, Some(1.0 / 3.0));
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let m = score(&ids(&["x", "y"]), &labels(&["x", "y"], &[]), 2);
        assert_eq!(
            (m.recall, m.precision, m.mrr, m.ndcg, m.reported),
            (Some(1.0), 1.0, Some(1.0), Some(1.0), Some(0.0))
        );
        let m = score(&ids(&["x"]), &labels(&[], &["x"]), 5);
        assert_eq!(
            (m.recall, m.mrr, m.ndcg, m.reported),
            (None, None, None, Some(1.0))
        );
        assert_eq!(m.precision, 0.0);
    }

    #[test]
    fn summaries_skip_undefined_metrics() {
        let a = score(&ids(&["x"]), &labels(&["x"], &[]), 1);
        let b = score(&ids(&["y"]), &labels(&[], &["y"]), 1);
        let s = summarize(&[a, b]);
        assert_eq!(
            (s.queries, s.labelled, s.recall, s.precision, s.reported),
            (2, 1, 1.0, 0.5, 0.5)
        );
    }
}
