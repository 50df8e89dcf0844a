//! `eval` as a gate: the stable JSON, intervals and paired tests checked against scipy and
//! numpy (`tests/reference/eval_stats.py`), and the exit codes of the gates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::util::*;

const TERMS: usize = 60;

/// Selections make stickers relevant to a term; a report makes one a negative.
fn label_events(sandbox: &Sandbox) {
    let mut lines = String::new();
    for t in 0..TERMS {
        for s in 0..3 {
            lines.push_str(&format!(
                "{{\"messageId\":\"s-{t}-{s}\",\"type\":\"select\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"userId\":\"u-{s}\",\"properties\":{{\"query\":\"term {t}\",\"sticker_id\":\"st_{t}_{s}\"}}}}\n"
            ));
        }
        lines.push_str(&format!(
            "{{\"messageId\":\"r-{t}\",\"type\":\"report\",\"timestamp\":\"2026-11-23T10:00:00Z\",\"userId\":\"u-9\",\"properties\":{{\"query\":\"term {t}\",\"sticker_ids\":[\"st_{t}_9\"]}}}}\n"
        ));
    }
    sandbox.append("labels.jsonl", lines.as_bytes());
    sandbox.tail(&[]);
}

/// Top-10 results per term; `skill` is how often a relevant sticker is placed high.
fn results(path: &Path, seed: u64, skill: f64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut ids, mut queries, mut ranks, mut stickers, mut scores) =
        (vec![], vec![], vec![], vec![], vec![]);
    for t in 0..TERMS {
        let mut ranked: Vec<String> = (0..10).map(|n| format!("st_filler_{n}")).collect();
        for s in 0..3 {
            let rank = if rng.random_bool(skill) {
                rng.random_range(0..3)
            } else {
                rng.random_range(3..10)
            };
            ranked[rank] = format!("st_{t}_{s}");
        }
        if rng.random_bool(0.2) {
            ranked[rng.random_range(0..10)] = format!("st_{t}_9");
        }
        for (rank, sticker) in ranked.into_iter().enumerate() {
            ids.push(t as i64);
            queries.push(format!("term {t}"));
            ranks.push(rank as i32 + 1);
            stickers.push(sticker);
            scores.push(1.0 - rank as f32 / 10.0);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("query_id", DataType::Int64, false),
        Field::new("query", DataType::Utf8, false),
        Field::new("rank", DataType::Int32, false),
        Field::new("sticker_id", DataType::Utf8, false),
        Field::new("score", DataType::Float32, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(queries)),
            Arc::new(Int32Array::from(ranks)),
            Arc::new(StringArray::from(stickers)),
            Arc::new(Float32Array::from(scores)),
        ],
    )
    .unwrap();
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The test venv's Python (scipy and numpy: `make test` installs them).
fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run `make test` (it installs scipy)",
        venv.display()
    );
    venv
}

#[test]
fn eval_gates_on_intervals_and_paired_tests_checked_against_scipy() {
    let sandbox = Sandbox::local();
    label_events(&sandbox);
    let dir = sandbox.dir.path();
    let (live, candidate, same) = (
        dir.join("live.parquet"),
        dir.join("candidate.parquet"),
        dir.join("same.parquet"),
    );
    results(&live, 1, 0.8);
    results(&candidate, 2, 0.3);
    std::fs::copy(&live, &same).unwrap();
    let files = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "eval",
            "--results",
            live.to_str().unwrap(),
            "--results",
            candidate.to_str().unwrap(),
            "--results",
            same.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let run = |extra: &[&str]| {
        let args = files(extra);
        sandbox
            .cmd(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .output()
            .unwrap()
    };

    // The JSON, field by field.
    let per_query = dir.join("per_query.csv");
    let out = run(&["--format", "json", "-o", per_query.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&json), ["baseline", "k", "models"]);
    assert_eq!(
        (json["k"].as_u64(), json["baseline"].as_str()),
        (Some(10), Some("live"))
    );
    let models = json["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    assert_eq!(
        keys(&models[0]),
        ["labelled", "metrics", "name", "queries", "vs_baseline"]
    );
    assert_eq!(
        keys(&models[0]["metrics"]),
        ["mrr", "ndcg@10", "precision@10", "recall@10", "reported@10"]
    );
    assert_eq!(
        keys(&models[0]["metrics"]["ndcg@10"]),
        ["ci_high", "ci_low", "mean"]
    );
    assert!(models[0]["vs_baseline"].is_null());
    assert_eq!(
        keys(&models[1]["vs_baseline"]["ndcg@10"]),
        ["delta", "p_randomization", "p_t_test", "significant"]
    );
    // Identical per-query values: p = 1, nothing significant.
    for (metric, d) in models[2]["vs_baseline"].as_object().unwrap() {
        assert_eq!(
            (
                d["delta"].as_f64(),
                d["p_t_test"].as_f64(),
                d["p_randomization"].as_f64(),
                d["significant"].as_bool()
            ),
            (Some(0.0), Some(1.0), Some(1.0), Some(false)),
            "{metric}"
        );
    }
    assert_eq!(
        models[1]["vs_baseline"]["ndcg@10"]["significant"], true,
        "{json}"
    );
    let figures = dir.join("eval.json");
    std::fs::write(&figures, &out.stdout).unwrap();
    let check = std::process::Command::new(python())
        .arg(repo_path("tests/reference/eval_stats.py"))
        .args([&per_query, &figures])
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&check.stdout));
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    // Gates: 0 when passed, 5 naming model, metric, value, bound (and p-value) when not.
    let code = |out: &std::process::Output| out.status.code();
    assert_eq!(code(&run(&["--gate", "ndcg@10:0.01"])), Some(0));
    // A minimum between the candidate's mean and the baseline's.
    let ndcg = |m: usize| models[m]["metrics"]["ndcg@10"]["mean"].as_f64().unwrap();
    assert!(ndcg(1) < ndcg(0), "{json}");
    let bound = format!("{:.3}", (ndcg(0) + ndcg(1)) / 2.0);
    let failed = run(&["--gate", &format!("ndcg@10:{bound}")]);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(code(&failed), Some(5), "{stderr}");
    let message = format!("below its minimum {}", bound.parse::<f64>().unwrap());
    assert!(
        stderr.contains("candidate: ndcg@10 = ") && stderr.contains(&message),
        "{stderr}"
    );
    assert!(!stderr.contains("live:"), "the baseline passes: {stderr}");
    let regressed = run(&["--max-regression", "ndcg@10:0.01"]);
    let stderr = String::from_utf8_lossy(&regressed.stderr);
    assert_eq!(code(&regressed), Some(5), "{stderr}");
    assert!(
        stderr.contains("candidate: ndcg@10 is worse than the baseline live by")
            && stderr.contains("p = "),
        "{stderr}"
    );
    assert!(!stderr.contains("same:"), "{stderr}");
    assert_eq!(
        code(&run(&["--max-regression", "ndcg@10:0.9"])),
        Some(0),
        "within the allowed delta"
    );
    // Bad gates: a usage error, or a metric of another k, before anything is read.
    assert_eq!(code(&run(&["--gate", "ndcg:x"])), Some(2));
    let other_k = run(&["--gate", "ndcg@5:0.5"]);
    assert_eq!(code(&other_k), Some(1));
    assert!(String::from_utf8_lossy(&other_k.stderr).contains("does not match this run's -k 10"));
}
