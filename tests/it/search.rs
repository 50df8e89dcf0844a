//! `embed`, `search`, `eval` with the real ONNX Runtime and the default model (`make model`).

use std::path::Path;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float32Type;

use crate::util::*;

pub(crate) fn model() -> String {
    let dir = stickerlake::search::default_model_dir();
    assert!(
        dir.join("model.onnx").exists(),
        "the default model is missing: run `make model` (make test does)"
    );
    dir.display().to_string()
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    reader.collect::<Result<_, _>>().unwrap()
}

fn vectors_of(path: &Path) -> Vec<(String, Vec<f32>)> {
    read_parquet(path)
        .iter()
        .flat_map(|b| {
            let ids = b
                .column_by_name("sticker_id")
                .unwrap()
                .as_string::<i32>()
                .clone();
            let list = b
                .column_by_name("vector")
                .unwrap()
                .as_fixed_size_list()
                .clone();
            (0..b.num_rows())
                .map(|i| {
                    (
                        ids.value(i).to_owned(),
                        list.value(i)
                            .as_primitive::<Float32Type>()
                            .values()
                            .to_vec(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Writes a catalog of (sticker id, caption), embeds it with the default model, and reads
/// the vectors back.
fn embed(sandbox: &Sandbox, stickers: &[(&str, &str)]) -> Vec<(String, Vec<f32>)> {
    let catalog = sandbox.dir.path().join("catalog.jsonl");
    let lines: String = stickers
        .iter()
        .map(|(id, caption)| {
            serde_json::json!({"sticker_id": id, "caption": caption}).to_string() + "\n"
        })
        .collect();
    std::fs::write(&catalog, lines).unwrap();
    let out = sandbox.dir.path().join("v.parquet");
    embed_file(&catalog, &out);
    vectors_of(&out)
}

pub(crate) fn embed_file(catalog: &Path, out: &Path) {
    let (catalog, out) = (catalog.display().to_string(), out.display().to_string());
    run_ok(stickerlake().args([
        "embed",
        "--catalog",
        &catalog,
        "--model",
        &model(),
        "-o",
        &out,
    ]));
}

#[test]
fn encoder_matches_independent_python_onnxruntime_vectors() {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("tests/fixtures/minilm_reference.json")).unwrap(),
    )
    .unwrap();
    let texts: Vec<&str> = fixture["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let ids: Vec<String> = (0..texts.len()).map(|i| format!("t{i}")).collect();
    let stickers: Vec<(&str, &str)> = ids
        .iter()
        .map(String::as_str)
        .zip(texts.iter().copied())
        .collect();
    let vectors = embed(&Sandbox::local(), &stickers);
    assert_eq!(vectors.len(), 3);
    for (i, (id, vector)) in vectors.iter().enumerate() {
        assert_eq!(id, &ids[i]);
        let reference: Vec<f32> = fixture["vectors"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(vector.len(), 384);
        let worst = vector
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4,
            "{:?}: differs from the reference by {worst}",
            texts[i]
        );
    }
}

#[test]
fn related_texts_score_closer_than_unrelated_ones() {
    let v = embed(
        &Sandbox::local(),
        &[
            ("kitten", "a small kitten playing"),
            ("cat", "cute cat in a garden"),
            ("rocket", "rocket launching into space"),
        ],
    );
    assert!(dot(&v[0].1, &v[1].1) > dot(&v[0].1, &v[2].1) + 0.1);
    assert!(dot(&v[1].1, &v[1].1) > 0.999, "vectors are normalized");
}

#[test]
fn the_whole_loop_generate_tail_run_embed_search_eval() {
    let sandbox = Sandbox::local();
    let logs = sandbox.logs();
    generate_logs(&sandbox, 3000, 2);
    let glob = format!("{}/server-*.jsonl", logs.display());
    run_ok(&mut sandbox.cmd(&["tailer", "--source", &glob]));
    run_days(&sandbox, "all", "2026-11-20", "2026-11-21");
    let vectors = sandbox.dir.path().join("stickers.parquet");
    embed_file(&logs.join("catalog.jsonl"), &vectors);
    let results = sandbox.dir.path().join("results.parquet");
    let v = vectors.to_str().unwrap();
    run_ok(&mut sandbox.cmd(&[
        "search",
        "--vectors",
        v,
        "--top-terms",
        "20",
        "--date",
        "2026-11-21",
        "-k",
        "10",
        "--model",
        &model(),
        "-o",
        results.to_str().unwrap(),
    ]));

    let batches = read_parquet(&results);
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 20 * 10);
    let schema: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    assert_eq!(
        schema,
        [
            "query_id Int64",
            "query Utf8",
            "rank Int32",
            "sticker_id Utf8",
            "score Float32"
        ]
    );
    // The catalog's stickers for "cat in a park" are st_000001..3: they must rank first.
    let query = batches[0].column(1).as_string::<i32>();
    let sticker = batches[0].column(3).as_string::<i32>();
    let top: Vec<&str> = (0..3)
        .filter(|&i| query.value(i) == "cat in a park")
        .map(|i| sticker.value(i))
        .collect();
    let mut top_sorted = top.clone();
    top_sorted.sort();
    assert_eq!(top_sorted, ["st_000001", "st_000002", "st_000003"]);

    let per_query = sandbox.dir.path().join("per_query.csv");
    let out = stdout(&run_ok(&mut sandbox.cmd(&[
        "eval",
        "--results",
        results.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "-k",
        "10",
        "-o",
        per_query.to_str().unwrap(),
    ])));
    assert!(
        out.contains("recall@10") && out.contains("ndcg@10") && out.contains("reported@10"),
        "{out}"
    );
    // The generator makes users select stickers made for the term: a real encoder finds them.
    let mrr: f64 = out
        .lines()
        .nth(3)
        .unwrap()
        .split('|')
        .nth(6)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(mrr > 0.5, "MRR {mrr}\n{out}");
    let csv = std::fs::read_to_string(per_query).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 20,
        "a row per query and results file"
    );
}

#[test]
fn clear_errors_for_bad_inputs() {
    let sandbox = Sandbox::local();
    let dir = sandbox.dir.path();
    embed(&sandbox, &[("a", "cat")]);
    let (catalog, vectors) = (dir.join("catalog.jsonl"), dir.join("v.parquet"));
    let queries = dir.join("q.txt");
    std::fs::write(&queries, "cat\n").unwrap();
    let search = |extra: &[&str]| {
        let mut cmd = stickerlake();
        cmd.args([
            "search",
            "--queries",
            queries.to_str().unwrap(),
            "--model",
            &model(),
        ])
        .args(extra);
        cmd
    };

    // A model folder that is not there, and a missing ONNX Runtime.
    let err = run_err(stickerlake().args([
        "embed",
        "--catalog",
        catalog.to_str().unwrap(),
        "--model",
        "/nonexistent",
        "-o",
        "/tmp/x.parquet",
    ]));
    assert!(err.contains("make model"), "{err}");
    let err = run_err(
        search(&["--vectors", vectors.to_str().unwrap()])
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.32.0"),
    );
    assert!(
        err.contains("ONNX Runtime library") && err.contains("onnxruntime"),
        "{err}"
    );

    // Vectors of another dimension, zero vectors, an empty file, a file that is not vectors.
    let write_vectors = |name: &str, rows: &[(&str, Vec<f32>)]| {
        let path = dir.join(name);
        let mut writer = stickerlake::search::vectors::VectorWriter::create(
            &path,
            rows.first().map_or(2, |r| r.1.len()),
        )
        .unwrap();
        if !rows.is_empty() {
            let ids: Vec<String> = rows.iter().map(|r| r.0.to_owned()).collect();
            let values: Vec<f32> = rows.iter().flat_map(|r| r.1.clone()).collect();
            writer.write(&ids, &values).unwrap();
        }
        writer.finish().unwrap();
        path.display().to_string()
    };
    let err = run_err(&mut search(&[
        "--vectors",
        &write_vectors("d3.parquet", &[("a", vec![1.0, 0.0, 0.0])]),
    ]));
    assert!(
        err.contains("384 dimensions") && err.contains("have 3"),
        "{err}"
    );
    let zero = write_vectors(
        "zero.parquet",
        &[("a", vec![1.0; 384]), ("z", vec![0.0; 384])],
    );
    let err = run_err(&mut search(&["--vectors", &zero]));
    assert!(
        err.contains("sticker z (row 1) has a zero or NaN vector"),
        "{err}"
    );
    let out = stdout(&run_ok(&mut search(&[
        "--vectors",
        &zero,
        "--metric",
        "ip",
        "-k",
        "5",
    ])));
    assert!(
        out.contains("(2 rows)"),
        "inner product accepts zero vectors, and k > N returns N: {out}"
    );
    let err = run_err(&mut search(&[
        "--vectors",
        &write_vectors("empty.parquet", &[]),
    ]));
    assert!(err.contains("has no vectors"), "{err}");
    let err = run_err(&mut search(&["--vectors", catalog.to_str().unwrap()]));
    assert!(err.contains("is not a Parquet file"), "{err}");
}

/// Query vectors from another encoder: `query_id` and `vector`, no `query` column. The
/// encoder is never loaded (the model and ONNX Runtime paths point nowhere) and the results
/// are the brute-force top-k, under the file's query ids.
#[test]
fn precomputed_query_vectors_without_text_need_no_encoder() {
    use std::sync::Arc;

    use arrow::array::{FixedSizeListArray, Float32Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use rand::{Rng, SeedableRng};

    const DIM: usize = 8;
    let sandbox = Sandbox::local();
    let dir = sandbox.dir.path();
    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut random_vector =
        || -> Vec<f32> { (0..DIM).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let stickers: Vec<(String, Vec<f32>)> = (0..300)
        .map(|i| (format!("st_{i:04}"), random_vector()))
        .collect();
    let queries: Vec<(i64, Vec<f32>)> = (0..20).map(|i| (1000 + 7 * i, random_vector())).collect();

    let vectors = dir.join("stickers.parquet");
    let mut writer = stickerlake::search::vectors::VectorWriter::create(&vectors, DIM).unwrap();
    let ids: Vec<String> = stickers.iter().map(|s| s.0.clone()).collect();
    let values: Vec<f32> = stickers.iter().flat_map(|s| s.1.clone()).collect();
    writer.write(&ids, &values).unwrap();
    writer.finish().unwrap();

    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("query_id", DataType::Int64, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(item.clone(), DIM as i32),
            false,
        ),
    ]));
    let flat = Float32Array::from(queries.iter().flat_map(|q| q.1.clone()).collect::<Vec<_>>());
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(
                queries.iter().map(|q| q.0).collect::<Vec<_>>(),
            )),
            Arc::new(FixedSizeListArray::new(
                item,
                DIM as i32,
                Arc::new(flat),
                None,
            )),
        ],
    )
    .unwrap();
    let query_file = dir.join("queries.parquet");
    let mut out = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&query_file).unwrap(),
        schema,
        None,
    )
    .unwrap();
    out.write(&batch).unwrap();
    out.close().unwrap();

    for metric in ["ip", "cosine"] {
        let results = dir.join(format!("results-{metric}.parquet"));
        run_ok(
            stickerlake()
                .args(["search", "--vectors", vectors.to_str().unwrap()])
                .args(["--queries", query_file.to_str().unwrap(), "-k", "5"])
                .args(["--metric", metric, "--model", "/nonexistent"])
                .args(["-o", results.to_str().unwrap()])
                .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so"),
        );
        let norm = |v: &[f32]| dot(v, v).sqrt();
        let score = |q: &[f32], s: &[f32]| match metric {
            "ip" => dot(q, s),
            _ => dot(q, s) / (norm(q) * norm(s)),
        };
        let mut expected = Vec::new();
        for (id, q) in &queries {
            let mut ranked: Vec<(f32, &str)> = stickers
                .iter()
                .map(|(s, v)| (score(q, v), s.as_str()))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            for (rank, (_, sticker)) in ranked.iter().take(5).enumerate() {
                expected.push((*id, rank as i32 + 1, sticker.to_string()));
            }
        }
        let batches = read_parquet(&results);
        let mut actual = Vec::new();
        for b in &batches {
            let query = b.column_by_name("query").unwrap();
            assert_eq!(query.null_count(), b.num_rows(), "no text: query is null");
            let ids = b
                .column_by_name("query_id")
                .unwrap()
                .as_primitive::<arrow::datatypes::Int64Type>();
            let ranks = b
                .column_by_name("rank")
                .unwrap()
                .as_primitive::<arrow::datatypes::Int32Type>();
            let stickers = b.column_by_name("sticker_id").unwrap().as_string::<i32>();
            for i in 0..b.num_rows() {
                actual.push((ids.value(i), ranks.value(i), stickers.value(i).to_owned()));
            }
        }
        actual.sort();
        expected.sort();
        assert_eq!(actual, expected, "metric {metric}");
    }

    // eval labels queries by their term: results without text are refused, clearly.
    let results = dir.join("results-ip.parquet");
    let err = run_err(&mut sandbox.cmd(&["eval", "--results", results.to_str().unwrap()]));
    assert!(err.contains("has no query text"), "{err}");
}
