#!/usr/bin/env python3
"""An independent check of `stickerlake eval --format json`: from the per-query table
(`eval -o`), scipy's paired t-test (`ttest_rel`) and numpy's own randomization test and
percentile bootstrap. Prints one line per figure compared; exits 1 on a difference beyond
the tolerance (1e-6 for the t-test; sampling error for the two resampling methods).

    python tests/reference/eval_stats.py per_query.csv eval.json
"""
import csv
import json
import sys

import numpy as np
from scipy.stats import ttest_rel

METRICS = ["recall", "precision", "mrr", "ndcg", "reported"]


def main(per_query, figures):
    rows = list(csv.DictReader(open(per_query)))
    evaluation = json.load(open(figures))
    k = evaluation["k"]
    name = lambda m: m if m == "mrr" else f"{m}@{k}"
    by_model = {}
    for row in rows:
        by_model.setdefault(row["model"], {})[int(row["query_id"])] = row
    baseline = by_model[evaluation["baseline"]]
    rng = np.random.default_rng(7)
    problems = []
    for model in evaluation["models"]:
        queries = by_model[model["name"]]
        for metric in METRICS:
            values = np.array([float(q[metric]) for q in queries.values() if q[metric] != ""])
            figure = model["metrics"][name(metric)]
            means = values[rng.integers(0, len(values), (20000, len(values)))].mean(axis=1)
            low, high = np.percentile(means, [2.5, 97.5])
            if abs(figure["mean"] - values.mean()) > 1e-9 or abs(figure["ci_low"] - low) > 0.01 or abs(figure["ci_high"] - high) > 0.01:
                problems.append(f"{model['name']} {metric}: {figure} vs mean {values.mean()}, interval {low}..{high}")
            vs = model["vs_baseline"]
            if vs is None:
                continue
            pairs = [(float(q[metric]), float(baseline[i][metric])) for i, q in queries.items()
                     if i in baseline and q[metric] != "" and baseline[i][metric] != ""]
            ours, theirs = np.array(pairs).T
            diffs = ours - theirs
            ours_p = vs[name(metric)]
            if np.all(diffs == 0):
                expected_t = 1.0
            else:
                expected_t = float(ttest_rel(ours, theirs).pvalue)
            flips = rng.choice([-1.0, 1.0], size=(20000, len(diffs)))
            observed = abs(diffs.mean())
            expected_r = (np.sum(np.abs((flips * diffs).mean(axis=1)) >= observed - 1e-12) + 1) / 20001
            # Sampling error of a proportion from 10,000 and 20,000 draws: 4 sigma of both.
            sigma = np.sqrt(expected_r * (1 - expected_r) * (1 / 10000 + 1 / 20000))
            print(f"{model['name']} {name(metric)}: delta {ours_p['delta']:+.4f} ({diffs.mean():+.4f}); "
                  f"t-test p {ours_p['p_t_test']:.8f} (scipy {expected_t:.8f}); "
                  f"randomization p {ours_p['p_randomization']:.4f} (numpy {expected_r:.4f})")
            if abs(ours_p["delta"] - diffs.mean()) > 1e-9 or abs(ours_p["p_t_test"] - expected_t) > 1e-6:
                problems.append(f"{model['name']} {metric}: t-test {ours_p} vs scipy {expected_t}")
            if abs(ours_p["p_randomization"] - expected_r) > 4 * sigma + 2e-4:
                problems.append(f"{model['name']} {metric}: randomization {ours_p['p_randomization']} vs {expected_r}")
    for problem in problems:
        print("DIFFERENT:", problem)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
